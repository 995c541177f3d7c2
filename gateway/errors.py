"""The gateway's one exception tree, and how each error is answered over HTTP.

    GatewayError                 every error the gateway answers itself (JSON body)
    ├── RequestError             the caller's request is refused, nothing is forwarded
    │   ├── NotFound             404: unknown type or provider, unknown route
    │   ├── InvalidMessage       400: not JSON, or a field breaks the provider contract
    │   └── PayloadTooLarge      413: body over `server.max_body_bytes`
    └── UpstreamError            a provider call did not produce an HTTP answer
        ├── UpstreamConnectError 502: refused, unreachable, DNS
        ├── UpstreamReset        502: connection dropped before the whole answer arrived
        └── UpstreamTimeout      504: no whole answer within the per-try timeout

Errors raised by an HTTP library are mapped to `UpstreamError` at the client
edge (`gateway.upstream`) and chained with `from`, so nothing above that layer
knows which library is in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from gateway.messages import FieldError


class GatewayError(Exception):
    """Base of every error the gateway answers with its own JSON body."""

    status_code: ClassVar[int] = 500
    outcome: ClassVar[str] = "error"
    """Short machine name of the failure, used in metrics, logs and attempt lists."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message}

    def headers(self) -> dict[str, str]:
        return {}


class RequestError(GatewayError):
    """The request itself is at fault; it is never forwarded."""

    status_code = 400


class NotFound(RequestError):
    status_code = 404
    outcome = "not_found"


class InvalidMessage(RequestError):
    """The body is not JSON or breaks the provider contract.

    `error` carries the very text a provider would answer (so a client that
    swapped its base URL sees the same 400), `field` and `errors` say more.
    """

    status_code = 400
    outcome = "invalid"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(errors[0].message)
        self.errors = list(errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "field": self.errors[0].field,
            "errors": [error.as_dict() for error in self.errors],
        }


class PayloadTooLarge(RequestError):
    status_code = 413
    outcome = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body exceeds {limit} bytes")
        self.limit = limit

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "field": "body", "limit_bytes": self.limit}


class UpstreamError(GatewayError):
    """A provider call ended without a complete HTTP answer."""

    status_code = 502

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"Provider {provider} {detail}")
        self.provider = provider

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "provider": self.provider, "outcome": self.outcome}


class UpstreamConnectError(UpstreamError):
    outcome = "connect_error"

    def __init__(self, provider: str) -> None:
        super().__init__(provider, "could not be reached (connection failed)")


class UpstreamReset(UpstreamError):
    outcome = "reset"

    def __init__(self, provider: str) -> None:
        super().__init__(provider, "dropped the connection before answering in full")


class UpstreamTimeout(UpstreamError):
    status_code = 504
    outcome = "timeout"

    def __init__(self, provider: str, timeout_s: float) -> None:
        super().__init__(provider, f"did not answer within {timeout_s * 1000:g} ms")
