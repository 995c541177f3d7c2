"""The send ledger: what each provider delivered, keyed so duplicates can be counted.

A gateway that retries or hedges may deliver one notification twice; the
ledger lets a test or a benchmark count that exactly, per provider and across
all six. It costs one dict update and two counter bumps per request and grows
by one entry per distinct key, never per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

KeyFilter = Literal["all", "duplicates", "none"]
KEY_FILTERS: Final[tuple[KeyFilter, ...]] = ("all", "duplicates", "none")
# Attempt outcomes counted per provider. A refused connection never reaches the
# process, so it cannot be counted here.
ATTEMPT_LABELS: Final = ("200", "400", "429", "500", "hang", "reset")

_IDEMPOTENCY_KEY: Final = b"idempotency-key"
_NOTIFICATION_ID: Final = b"x-notification-id"


def ledger_key(headers: Iterable[tuple[bytes, bytes]], raw_body: bytes) -> str:
    """The key a send is recorded under: `Idempotency-Key`, else `X-Notification-Id`,
    else the sha256 hex digest of the raw body (so identical retries still match)."""
    notification_id = b""
    for name, value in headers:
        if name == _IDEMPOTENCY_KEY and value:
            return value.decode("latin-1")
        if name == _NOTIFICATION_ID and value:
            notification_id = value
    if notification_id:
        return notification_id.decode("latin-1")
    return hashlib.sha256(raw_body).hexdigest()


class Ledger:
    """One provider's deliveries by key, and its attempts by outcome."""

    __slots__ = ("accepted", "attempts", "counts")

    def __init__(self) -> None:
        self.accepted = 0
        self.counts: dict[str, int] = {}
        self.attempts: dict[str, int] = dict.fromkeys(ATTEMPT_LABELS, 0)

    def clear(self) -> None:
        self.accepted = 0
        self.counts = {}
        self.attempts = dict.fromkeys(ATTEMPT_LABELS, 0)

    def record(self, key: str) -> None:
        """Count one delivery under `key`."""
        self.accepted += 1
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        unique = len(self.counts)
        return {
            "accepted": self.accepted,
            "unique": unique,
            "duplicates": self.accepted - unique,
            "attempts": dict(self.attempts),
        }

    def view(self, provider: str, keys: KeyFilter = "all") -> dict[str, Any]:
        """This provider's ledger as JSON: totals, attempts and the per-key counts."""
        view: dict[str, Any] = {"scope": "provider", "provider": provider, **self.summary()}
        if keys == "all":
            view["keys"] = dict(self.counts)
        elif keys == "duplicates":
            view["keys"] = {key: count for key, count in self.counts.items() if count > 1}
        return view


def combined_view(ledgers: Mapping[str, Ledger], keys: KeyFilter = "all") -> dict[str, Any]:
    """All providers' ledgers merged by key, so cross-provider duplicates show.

    `duplicates` here is every delivery beyond the first of a key, wherever it
    happened; `keys` says, for each key, how many times each provider delivered it.
    """
    merged: dict[str, dict[str, Any]] = {}
    attempts = dict.fromkeys(ATTEMPT_LABELS, 0)
    accepted = 0
    for provider, ledger in ledgers.items():
        accepted += ledger.accepted
        for label, count in ledger.attempts.items():
            attempts[label] += count
        for key, count in ledger.counts.items():
            entry = merged.get(key)
            if entry is None:
                merged[key] = {"count": count, "providers": {provider: count}}
            else:
                entry["count"] += count
                entry["providers"][provider] = count
    view: dict[str, Any] = {
        "scope": "all",
        "accepted": accepted,
        "unique": len(merged),
        "duplicates": accepted - len(merged),
        "attempts": attempts,
        "providers": {provider: ledger.summary() for provider, ledger in ledgers.items()},
    }
    if keys == "all":
        view["keys"] = merged
    elif keys == "duplicates":
        view["keys"] = {key: entry for key, entry in merged.items() if entry["count"] > 1}
    return view
