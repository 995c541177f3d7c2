"""What an attempt's outcome means for the request, the breaker and the budget.

One table, so that retrying, tripping a breaker and spending budget can never
disagree about what "failed" means.
"""

from __future__ import annotations

from typing import Final, Literal

Verdict = Literal["success", "final", "failure"]

_FAILURES: Final = frozenset({"connect_error", "reset", "timeout", "5xx", "429", "408"})
_RETRY_KEY: Final = {"408": "429"}  # 408: the provider gave up waiting; like 429, not processed


def outcome_of_status(status: int) -> str:
    """Outcome name of an HTTP answer: `2xx`, `4xx`, `5xx`; 408 and 429 on their own."""
    if status in (408, 429):
        return str(status)
    return f"{status // 100}xx"


def verdict(outcome: str) -> Verdict:
    """success: the provider took the message; final: it refused this message for good
    (a 4xx other than 408/429), so it goes back to the caller as is; failure: the
    provider failed, which counts against its breaker and may be retried."""
    if outcome in _FAILURES:
        return "failure"
    if outcome == "4xx":
        return "final"
    return "success"


def retryable(outcome: str, retry_on: frozenset[str]) -> bool:
    """Whether the policy retries after `outcome` (`retry_on` names outcomes)."""
    return verdict(outcome) == "failure" and _RETRY_KEY.get(outcome, outcome) in retry_on


def ambiguous(outcome: str) -> bool:
    """The request left but no whole answer came back: the provider may have sent it."""
    return outcome in ("reset", "timeout")
