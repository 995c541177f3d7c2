"""Mask personal data (phone numbers, e-mail addresses) before anything is logged.

Logs travel further than the messages themselves (aggregators, tickets, chat),
so every string that reaches a log line goes through `mask_text`. A phone keeps
its first and last two digits (`01*******78`), an address its first letter and
its domain (`a***@example.com`): enough to tell two apart while debugging,
not enough to contact anyone.
"""

from __future__ import annotations

import re
from typing import Any, Final

# Any run of 8 to 15 digits, optionally with a leading + (E.164 allows 15).
_PHONE: Final = re.compile(r"(?<![\w+])\+?[0-9]{8,15}(?![0-9])")
_EMAIL: Final = re.compile(r"[^\s@\"'<>(),;:]+@([^\s@\"'<>(),;:]+\.[^\s@\"'<>(),;:]+)")


def mask_phone(phone: str) -> str:
    """`01712345678` -> `01*******78`; the `+` of an international number is kept."""
    plus = "+" if phone.startswith("+") else ""
    digits = phone.removeprefix("+")
    return f"{plus}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def mask_email(address: str) -> str:
    """`alice@example.com` -> `a***@example.com`."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_text(text: str) -> str:
    """`text` with every phone number and e-mail address in it masked."""
    if "@" in text:
        text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_value(value: Any) -> Any:
    """Mask the strings anywhere inside a log value (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(item) for item in value]
    return value
