"""The six providers the seed server plays, and the fixed texts each one answers.

Names (`sms1` .. `email3`) are how the CLI, the control endpoint and the ledger
refer to a provider; the texts are the seed's, byte for byte, so they are
encoded once here rather than formatted per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson

from gateway.messages import MESSAGE_TYPES, MessageType

PROVIDER_INDEXES: Final = (1, 2, 3)
_DEFAULT_PORT_BASE: Final[dict[MessageType, int]] = {"sms": 8070, "email": 8090}


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider of the seed server: a message type and an index in 1..3."""

    kind: MessageType
    index: int

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"

    @property
    def path(self) -> str:
        """The only route this provider serves."""
        return f"/api/{self.kind}/provider{self.index}"

    @property
    def port_env(self) -> str:
        """The environment variable the seed reads this provider's port from."""
        return f"PORT_{self.kind.upper()}_{self.index}"

    @property
    def default_port(self) -> int:
        return _DEFAULT_PORT_BASE[self.kind] + self.index

    @property
    def sent_body(self) -> bytes:
        return orjson.dumps({"message": f"{self.kind.upper()} sent via Provider {self.index}"})

    @property
    def failed_body(self) -> bytes:
        return orjson.dumps({"error": f"Failed to send {self.kind} via Provider {self.index}"})

    @property
    def throttled_body(self) -> bytes:
        # Not in the seed (it never throttles); worded like its other errors.
        return orjson.dumps({"error": f"Too many requests to {self.kind} Provider {self.index}"})


PROVIDERS: Final = tuple(
    Provider(kind, index) for kind in MESSAGE_TYPES for index in PROVIDER_INDEXES
)
PROVIDERS_BY_NAME: Final = {provider.name: provider for provider in PROVIDERS}
# Names that select several providers at once, for the CLI and the control endpoint.
GROUPS: Final[dict[str, tuple[Provider, ...]]] = {
    "all": PROVIDERS,
    **{kind: tuple(p for p in PROVIDERS if p.kind == kind) for kind in MESSAGE_TYPES},
}


def select(target: str) -> tuple[Provider, ...]:
    """The providers a name stands for: one (`sms2`), a type (`email`) or `all`.

    Raises `LookupError` with the known names, for an error message.
    """
    name = target.strip().lower()
    if name in PROVIDERS_BY_NAME:
        return (PROVIDERS_BY_NAME[name],)
    if name in GROUPS:
        return GROUPS[name]
    known = ", ".join([*PROVIDERS_BY_NAME, *GROUPS])
    raise LookupError(f"unknown provider {target!r} (known: {known})")
