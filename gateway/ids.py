"""Identifiers for requests and messages.

128 random bits as 32 hex digits, like `uuid4().hex` but without building a
UUID object, which cost a measurable share of a request (see docs/benchmarks.md).
"""

from __future__ import annotations

import os


def new_id() -> str:
    return os.urandom(16).hex()
