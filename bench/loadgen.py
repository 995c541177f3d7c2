"""Load generators on aiohttp: closed loop (N in flight) and open loop (fixed arrival rate).

A sender sends one message, under its own unique id, and says how it ended; the
loops only decide *when* to send and record when each answer came:

- `GatewaySender` POSTs to a gateway route and reads the gateway's headers
  (`X-Gateway-Attempts`, `-Hedges`, `-Possible-Duplicates`, `-Provider`).
- `NaiveSender` is what most public implementations of the specification do:
  call provider 1, 2, 3 directly in turn, up to `rounds` rounds with a fixed pause
  between rounds, until one answers 200.

The open loop schedules message i at start + i / rate whatever happened before
(no coordinated omission) and measures latency from that scheduled moment, so a
saturated server shows as growing latency rather than as a politely slower client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import aiohttp

SMS_BODY = b'{"phone":"01712345678","text":"benchmark"}'
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one message ended, as the client saw it."""

    status: int | str
    """The HTTP status of the final answer, or `connect_error`, `timeout`, `error`."""
    calls: int
    """Provider calls made for it: counted by the naive client, `X-Gateway-Attempts`
    for the gateway (0 when the gateway did not say)."""
    hedges: int = 0
    possible_duplicates: int = 0
    provider: str = ""
    reason: str = ""
    """Why it failed: the gateway's `reason`, or the naive client's last answer."""


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    scheduled: float
    """When the message was due to be sent (perf_counter seconds)."""
    started: float
    ended: float
    outcome: Outcome

    @property
    def latency_s(self) -> float:
        """From the moment it was due to its answer (queueing in the client included)."""
        return self.ended - self.scheduled

    @property
    def ok(self) -> bool:
        return self.outcome.status == 200


Sender = Callable[[str], Awaitable[Outcome]]


def _client_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    return "error"


def _reason(body: bytes) -> str:
    """The `reason` (else `error`) of a gateway's JSON error answer."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:80].decode(errors="replace")
    if not isinstance(answer, dict):
        return ""
    return str(answer.get("reason") or answer.get("error") or "")


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


class GatewaySender:
    def __init__(self, session: aiohttp.ClientSession, url: str, timeout_s: float = 10) -> None:
        self.session = session
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, message_id: str) -> Outcome:
        headers = {**JSON_HEADERS, "X-Notification-Id": message_id}
        try:
            async with self.session.post(
                self.url, data=SMS_BODY, headers=headers, timeout=self.timeout
            ) as response:
                body = await response.read()
                h = response.headers
                return Outcome(
                    status=response.status,
                    calls=_int(h.get("X-Gateway-Attempts")),
                    hedges=_int(h.get("X-Gateway-Hedges")),
                    possible_duplicates=_int(h.get("X-Gateway-Possible-Duplicates")),
                    provider=h.get("X-Gateway-Provider", ""),
                    reason="" if response.status == 200 else _reason(body),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(status=_client_error(exc), calls=0)


class NaiveSender:
    """Providers 1..3 in order, `rounds` times, `pause_s` between rounds; stops at a 200."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: Sequence[str],
        *,
        rounds: int = 3,
        pause_s: float = 0.1,
        timeout_s: float = 2.0,
    ) -> None:
        self.session = session
        self.urls = list(urls)
        self.rounds = rounds
        self.pause_s = pause_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, message_id: str) -> Outcome:
        headers = {**JSON_HEADERS, "X-Notification-Id": message_id}
        calls = 0
        status: int | str = "error"
        for round_no in range(self.rounds):
            if round_no:
                await asyncio.sleep(self.pause_s)
            for index, url in enumerate(self.urls, 1):
                calls += 1
                try:
                    async with self.session.post(
                        url, data=SMS_BODY, headers=headers, timeout=self.timeout
                    ) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = _client_error(exc)
                if status == 200:
                    return Outcome(status=200, calls=calls, provider=f"sms/provider{index}")
        return Outcome(status=status, calls=calls, reason=f"{self.rounds} rounds failed")


def message_ids(prefix: str) -> Iterator[str]:
    """`prefix-1`, `prefix-2`, ...: unique per run, so the ledger counts each run apart."""
    return (f"{prefix}-{n}" for n in itertools.count(1))


def session(connections: int) -> aiohttp.ClientSession:
    """A pooled client session; `connections` caps the connections per host."""
    # Idle pooled connections are dropped before the simulator's 5 s keep-alive ends
    # (Express's default), or the naive client would count stale connections as failures.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=connections, keepalive_timeout=4)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
    )


async def closed_loop(send: Sender, ids: Iterable[str], concurrency: int) -> list[Record]:
    """Send every id, `concurrency` messages in flight at any time."""
    records: list[Record] = []
    pending = iter(ids)

    async def worker() -> None:
        for message_id in pending:
            started = time.perf_counter()
            outcome = await send(message_id)
            records.append(Record(message_id, started, started, time.perf_counter(), outcome))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


async def open_loop(
    send: Sender,
    ids: Iterable[str],
    rate: float,
    duration_s: float,
    *,
    max_in_flight: int = 2000,
    start: float | None = None,
) -> list[Record]:
    """Send at `rate` messages/s for `duration_s`, message i due at start + i / rate.

    A message due while `max_in_flight` are outstanding is not sent: it is recorded
    with status `dropped`, so an overloaded target cannot make the client unbounded.
    """
    records: list[Record] = []
    tasks: set[asyncio.Task[None]] = set()
    begin = start if start is not None else time.perf_counter()
    total = int(rate * duration_s)

    async def one(message_id: str, due: float) -> None:
        started = time.perf_counter()
        outcome = await send(message_id)
        records.append(Record(message_id, due, started, time.perf_counter(), outcome))

    for index, message_id in zip(range(total), ids, strict=False):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif index % 16 == 0:
            await asyncio.sleep(0)  # behind schedule: still let answers in now and then
        if len(tasks) >= max_in_flight:
            now = time.perf_counter()
            records.append(Record(message_id, due, now, now, Outcome("dropped", 0)))
            continue
        task = asyncio.create_task(one(message_id, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return records
