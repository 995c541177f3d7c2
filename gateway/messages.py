"""The message contract shared by every provider, and its validation.

The rules, their order and their error texts are copied from the provider server
named in the specification (an Express app), down to JavaScript's truthiness and
string coercion, so that the gateway refuses exactly what a provider would
refuse, with the same words, *before* a provider call is spent on it.

`validate` returns every field error, first the one the provider would report;
callers that must answer like a provider use the first, callers that want to
help a user fix a request show them all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

MessageType = Literal["sms", "email"]
MESSAGE_TYPES: Final[tuple[MessageType, ...]] = ("sms", "email")

# JavaScript regexes; `fullmatch` because Python's `$` also matches before a final newline.
PHONE_PATTERN: Final = re.compile(r"(?:\+88|88)?(01[3-9][0-9]{8})")
EMAIL_PATTERN: Final = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")

# What String.prototype.trim() removes: WhiteSpace and LineTerminator of ECMA-262.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a message is refused: the field at fault and the provider's words."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def js_truthy(value: Any) -> bool:
    """JavaScript's `!!value` for a value decoded from JSON."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True  # true, arrays and objects, even empty ones


def js_string(value: Any) -> str:
    """JavaScript's `String(value)` for a value decoded from JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def _is_blank_string(value: Any) -> bool:
    """The providers' `!v || typeof v !== "string" || v.trim().length === 0`."""
    return not isinstance(value, str) or value.strip(_JS_WHITESPACE) == ""


def _sms_errors(body: dict[str, Any]) -> list[FieldError]:
    errors = []
    phone = body.get("phone")
    if not js_truthy(phone) or not PHONE_PATTERN.fullmatch(js_string(phone)):
        errors.append(FieldError("phone", "Invalid or missing phone number"))
    if _is_blank_string(body.get("text")):
        errors.append(FieldError("text", "Invalid or missing text"))
    return errors


def _email_errors(body: dict[str, Any]) -> list[FieldError]:
    errors = []
    if _is_blank_string(body.get("subject")):
        errors.append(FieldError("subject", "Invalid or missing subject"))
    if _is_blank_string(body.get("body")):
        errors.append(FieldError("body", "Invalid or missing body"))
    recipients = body.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        errors.append(FieldError("recipients", "Invalid or missing recipients list"))
    else:
        for position, recipient in enumerate(recipients):
            text = js_string(recipient)
            if not EMAIL_PATTERN.fullmatch(text):
                errors.append(
                    FieldError(f"recipients[{position}]", f"Invalid email in recipients: {text}")
                )
    return errors


def validate(message_type: MessageType, body: Any) -> list[FieldError]:
    """Every reason `body` would be refused by a provider of `message_type`, in the
    provider's order; an empty list means a provider would accept it.

    A JSON array or scalar is treated as Express treats it after `express.json()`:
    it has no fields, so every required field is missing.
    """
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    if message_type == "sms":
        return _sms_errors(fields)
    return _email_errors(fields)
