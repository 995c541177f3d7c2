"""Locust scenarios for the notification gateway: the same traffic as jmeter/*.jmx.

SMS and email users send the rows of jmeter/messages/sms.csv and email.csv in turn
(10% of them invalid, which the gateway must refuse with 400), as fast as the
gateway answers, to the virtual route (`POST /api/<type>`) or to the transparent
ones (`POST /api/<type>/provider<n>`, n from the row).

    locust -f locustfile.py --headless -u 8 -r 4 --run-time 30s \
        --host http://127.0.0.1:8080 --route transparent --json-file results/locust

`make locust` starts the simulator and the gateway and runs this for you.

Outcomes. A valid row expects 200; on a transparent route a 500 is the
provider's failure passed on as it is, which is expected there. An invalid row
expects 400. Expected outcomes count as successes and are reported under names
ending in `[expected 400]` or `[provider 500]`, so every failure locust counts is
unexpected (jmeter/summarize.py --locust reads that from the --json output).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events, task
from locust.argument_parser import LocustArgumentParser

DATA = Path(__file__).resolve().parent / "jmeter" / "messages"
ROUTES = ("virtual", "transparent", "provider1", "provider2", "provider3")


@events.init_command_line_parser.add_listener
def _add_arguments(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--route",
        choices=ROUTES,
        default=os.environ.get("ROUTE", "virtual"),
        help="virtual: /api/<type>; transparent: /api/<type>/provider<n> from the row; "
        "providerN: all traffic to that provider (env ROUTE)",
    )


def read_rows(name: str) -> list[dict[str, str]]:
    """The rows of jmeter/messages/<name>.csv (`|`-separated, header first)."""
    with (DATA / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="|", quoting=csv.QUOTE_NONE))


def sms_body(row: dict[str, str]) -> dict[str, Any]:
    return {"phone": row["phone"], "text": row["text"]}


def email_body(row: dict[str, str]) -> dict[str, Any]:
    # recipients is JSON in the file (an array, or a deliberately wrong value)
    return {
        "subject": row["subject"],
        "body": row["body"],
        "recipients": json.loads(row["recipients"]),
    }


class _Rows:
    """Rows shared by every user of a type, handed out in turn, forever (like CSVDataSet)."""

    def __init__(self, name: str) -> None:
        self._cycle: Iterator[dict[str, str]] = itertools.cycle(read_rows(name))
        self._lock = threading.Lock()

    def next(self) -> dict[str, str]:
        with self._lock:
            return next(self._cycle)


def path_for(message_type: str, route: str, row: dict[str, str]) -> str:
    if route == "virtual":
        return f"/api/{message_type}"
    if route == "transparent":
        return f"/api/{message_type}/provider{row['provider']}"
    return f"/api/{message_type}/{route}"


def judge(route: str, expected: int, status: int) -> str | None:
    """None when `status` is unexpected, else the suffix naming the expected outcome."""
    if expected == 400:
        return " [expected 400]" if status == 400 else None
    if 200 <= status < 300:
        return ""
    if status == 500 and route != "virtual":
        return " [provider 500]"
    return None


class _Sender(FastHttpUser):
    abstract = True
    host = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
    message_type = ""
    rows: _Rows
    connection_timeout = 2.0
    network_timeout = 10.0

    def body(self, row: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    @task
    def send(self) -> None:
        route = (
            self.environment.parsed_options.route if self.environment.parsed_options else "virtual"
        )
        row = self.rows.next()
        expected = int(row["expected_status"])
        name = f"{self.message_type} {route} expect {expected}"
        with self.client.post(
            path_for(self.message_type, route, row),
            data=json.dumps(self.body(row), ensure_ascii=False).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            name=name,
            catch_response=True,
        ) as response:
            suffix = judge(route, expected, response.status_code)
            if suffix is None:
                response.failure(f"status {response.status_code}, expected {expected} on {route}")
            else:
                response.request_meta["name"] = name + suffix
                response.success()


class SmsUser(_Sender):
    message_type = "sms"
    rows = _Rows("sms")

    def body(self, row: dict[str, str]) -> dict[str, Any]:
        return sms_body(row)


class EmailUser(_Sender):
    message_type = "email"
    rows = _Rows("email")

    def body(self, row: dict[str, str]) -> dict[str, Any]:
        return email_body(row)
