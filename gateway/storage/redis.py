"""The Redis backend: one outbox shared by any number of gateway replicas.

Keys, all under the namespace `ns`:

    ns:msg:<id>     hash      the message; `status` is the truth, `entry` names its stream entry
    ns:outbox       stream    work that is due, read by the consumer group `ns:workers`
    ns:retries      zset      queued messages not due yet, scored by due time
    ns:dead         zset      failed messages, scored by created_at (the admin listing)
    ns:counts       hash      messages per status, kept by the scripts (O(1) `counts`)
    ns:outbox:reclaim-cursor  where the next XAUTOCLAIM scan of the pending list starts
    ns:idem:<key>   hash      an idempotency key: state, fingerprint, the stored answer

A claim reads new entries with XREADGROUP and takes back, with XAUTOCLAIM, the
entries whose holder has kept them longer than `lease_s`: the lease is the
entry's idle time in the consumer group, so a crashed worker's messages come
back without anyone tracking it. Retries wait in `ns:retries` and join the stream
when due. Every step that touches more than one key is one Lua script, so
replicas never see a half-made move; a settled message's entry is acknowledged
and deleted, so the stream holds only the backlog and the messages in flight.
A stream entry whose message has since been settled (or re-queued under a newer
entry) is acknowledged and skipped by the claim that meets it.

Clocks: times the store decides (due times, timestamps) come from `clock`; times
Redis enforces (lease = idle time, expiry of idempotency keys) are the server's.
All workers should claim with one `lease_s`, since a reclaimer's lease is the
idle time it waits for.

Durability is the server's: `add` returns once Redis has the message, which
survives a crash only as far as its `appendonly`/`appendfsync` settings say.
The keys of a namespace are not hash-tagged to one cluster slot: use a single
Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from gateway.storage.base import KeyClaim, OutboxMessage, Status, StoredResponse, WallClock

STATUSES: tuple[Status, ...] = ("queued", "sending", "delivered", "failed")
MIN_SERVER = (6, 2)
"""XAUTOCLAIM came with Redis 6.2."""
PROMOTE_MIN = 256
"""Due retries moved into the stream per claim, at least: bounds one script's run time."""
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0
"""Defaults, so a hung server fails requests instead of holding them; the URL's
`socket_connect_timeout` / `socket_timeout` query parameters override them."""
IDLE_CONSUMER_MS = 3_600_000
"""Consumers (claim owners) with nothing pending and idle this long are removed on open."""

_LUA_HELPERS = """
local function drop_entry(stream, group, key)
    local entry = redis.call('HGET', key, 'entry')
    if entry then
        redis.call('XACK', stream, group, entry)
        redis.call('XDEL', stream, entry)
        redis.call('HDEL', key, 'entry')
    end
end
local function enqueue(stream, key, id)
    redis.call('HSET', key, 'entry', redis.call('XADD', stream, '*', 'id', id))
end
local function move(counts, from, to)
    redis.call('HINCRBY', counts, from, -1)
    redis.call('HINCRBY', counts, to, 1)
end
"""

# Outbox scripts share KEYS = msg, stream, retries, dead, counts; ARGV = group, id, ...
_ADD = (
    _LUA_HELPERS
    + """
-- ARGV: group, id, due now ('1'/'0'), next_attempt_at, field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[3] == '1' then
    enqueue(KEYS[2], KEYS[1], ARGV[2])
else
    redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
end
redis.call('HINCRBY', KEYS[5], 'queued', 1)
return 1
"""
)

_DELIVERED = (
    _LUA_HELPERS
    + """
-- ARGV: group, id, provider, attempts, now
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'delivered' then return 0 end
drop_entry(KEYS[2], ARGV[1], KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'delivered', 'provider', ARGV[3], 'attempts', ARGV[4],
    'delivered_at', ARGV[5], 'updated_at', ARGV[5])
redis.call('HDEL', KEYS[1], 'lease_owner')
move(KEYS[5], status, 'delivered')
return 1
"""
)

_RETRY_LATER = (
    _LUA_HELPERS
    + """
-- ARGV: group, id, attempts, next_attempt_at, due now ('1'/'0'), now, 'err:<provider>', error, ...
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'sending' then return 0 end
drop_entry(KEYS[2], ARGV[1], KEYS[1])
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', ARGV[3],
    'next_attempt_at', ARGV[4], 'updated_at', ARGV[6])
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
redis.call('HDEL', KEYS[1], 'lease_owner')
if ARGV[5] == '1' then
    redis.call('ZREM', KEYS[3], ARGV[2])
    enqueue(KEYS[2], KEYS[1], ARGV[2])
else
    redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
end
if status ~= 'queued' then move(KEYS[5], status, 'queued') end
return 1
"""
)

_DEAD_LETTER = (
    _LUA_HELPERS
    + """
-- ARGV: group, id, attempts, now, 'err:<provider>', error, ...
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'sending' then return 0 end
drop_entry(KEYS[2], ARGV[1], KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'failed', 'attempts', ARGV[3], 'updated_at', ARGV[4])
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
redis.call('HDEL', KEYS[1], 'lease_owner')
redis.call('ZADD', KEYS[4], redis.call('HGET', KEYS[1], 'created_at'), ARGV[2])
move(KEYS[5], status, 'failed')
return 1
"""
)

_REQUEUE = (
    _LUA_HELPERS
    + """
-- ARGV: group, id, now
if redis.call('HGET', KEYS[1], 'status') ~= 'failed' then return 0 end
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'queued', 'created_at', ARGV[3],
    'next_attempt_at', ARGV[3], 'updated_at', ARGV[3])
enqueue(KEYS[2], KEYS[1], ARGV[2])
move(KEYS[5], 'failed', 'queued')
return 1
"""
)

_CLAIM = (
    _LUA_HELPERS
    + """
-- KEYS: stream, retries, counts, reclaim cursor
-- ARGV: group, owner, limit, min idle ms, now, message key prefix, promote max
local stream, retries, counts, cursor = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, owner, limit, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[5]

-- Retries that are due join the stream.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', retries, '-inf', now, 'LIMIT', 0, ARGV[7])) do
    redis.call('ZREM', retries, id)
    local key = ARGV[6] .. id
    if redis.call('HGET', key, 'status') == 'queued' then enqueue(stream, key, id) end
end

-- Entries whose holder has let its lease run out, then new entries.
local taken = {}
local reclaimed = redis.call('XAUTOCLAIM', stream, group, owner, ARGV[4],
    redis.call('GET', cursor) or '0-0', 'COUNT', limit)
redis.call('SET', cursor, reclaimed[1])
for _, e in ipairs(reclaimed[2]) do table.insert(taken, e) end
if #taken < limit then
    local new = redis.call('XREADGROUP', 'GROUP', group, owner, 'COUNT', limit - #taken,
        'STREAMS', stream, '>')
    if new then
        for _, e in ipairs(new[1][2]) do table.insert(taken, e) end
    end
end

local claimed = {}
for _, e in ipairs(taken) do
    local entry, fields = e[1], e[2]
    local key = fields and ARGV[6] .. fields[2]
    local status = key and redis.call('HGET', key, 'status')
    if (status == 'queued' or status == 'sending')
            and redis.call('HGET', key, 'entry') == entry then
        if status == 'queued' then move(counts, 'queued', 'sending') end
        redis.call('HSET', key, 'status', 'sending', 'lease_owner', owner,
            'updated_at', now)
        table.insert(claimed, redis.call('HGETALL', key))
    else
        -- Stale: the message was settled or re-queued under a newer entry.
        redis.call('XACK', stream, group, entry)
        redis.call('XDEL', stream, entry)
    end
end
return claimed
"""
)

_FORGET_IDLE_CONSUMERS = """
-- KEYS: stream; ARGV: group, idle ms. Atomic, so no consumer is dropped while it claims.
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
    local info = {}
    for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
    if info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
        removed = removed + 1
    end
end
return removed
"""

_BEGIN = """
-- KEYS: key; ARGV: fingerprint, in-flight ms
local held = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'status', 'headers', 'body')
if not held[1] then
    redis.call('HSET', KEYS[1], 'state', 'in_flight', 'fingerprint', ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {'new'}
end
if held[2] ~= ARGV[1] then return {'mismatch'} end
if held[1] == 'in_flight' then return {'in_flight'} end
return {'replay', held[3], held[4], held[5]}
"""

_RELEASE = """
-- KEYS: key. Compare and delete: a recorded answer is kept.
if redis.call('HGET', KEYS[1], 'state') == 'in_flight' then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class _Scripts:
    """The Lua scripts, registered with the client (EVALSHA, loaded again if the server forgot)."""

    add: AsyncScript
    delivered: AsyncScript
    retry_later: AsyncScript
    dead_letter: AsyncScript
    requeue: AsyncScript
    claim: AsyncScript
    begin: AsyncScript
    release: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> _Scripts:
        return cls(
            *(
                client.register_script(source)
                for source in (
                    _ADD,
                    _DELIVERED,
                    _RETRY_LATER,
                    _DEAD_LETTER,
                    _REQUEUE,
                    _CLAIM,
                    _BEGIN,
                    _RELEASE,
                )
            )
        )


class RedisStore:
    """`Store` over a Redis server (6.2 or newer), keys under `namespace`.

    At most `max_connections` commands are in flight at once; more wait for a free
    connection (up to `COMMAND_TIMEOUT_S`) rather than fail.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "gateway",
        clock: WallClock = time.time,
        max_connections: int = 64,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        self.url = url
        self.max_connections = max_connections
        self.namespace = namespace
        self._clock = clock
        self._client: Redis | None = None
        self._scripts: _Scripts | None = None
        self._stream = f"{namespace}:outbox"
        self._group = f"{namespace}:workers"
        self._retries = f"{namespace}:retries"
        self._dead = f"{namespace}:dead"
        self._counts = f"{namespace}:counts"
        self._cursor = f"{namespace}:outbox:reclaim-cursor"
        self._msg_prefix = f"{namespace}:msg:"

    def __repr__(self) -> str:
        return f"RedisStore(namespace={self.namespace!r})"

    # Lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            raise RuntimeError(f"{self!r} is already open")
        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.max_connections,
            timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
        )
        client = Redis.from_pool(pool)
        try:
            info = await client.info("server")
            version = tuple(int(part) for part in str(info["redis_version"]).split(".")[:2])
            if version < MIN_SERVER:
                raise RuntimeError(
                    f"Redis {info['redis_version']} is too old for the outbox: it needs 6.2 "
                    "or newer (XAUTOCLAIM)"
                )
            try:
                await client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            await client.register_script(_FORGET_IDLE_CONSUMERS)(
                keys=[self._stream], args=[self._group, IDLE_CONSUMER_MS]
            )
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._scripts = _Scripts.register(client)

    async def close(self) -> None:
        client, self._client, self._scripts = self._client, None, None
        if client is not None:
            await client.aclose()

    @property
    def _redis(self) -> Redis:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._client

    @property
    def _lua(self) -> _Scripts:
        if self._scripts is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._scripts

    def _message_keys(self, message_id: str) -> list[str]:
        return [
            self._msg_prefix + message_id,
            self._stream,
            self._retries,
            self._dead,
            self._counts,
        ]

    async def _outbox_script(self, script: AsyncScript, message_id: str, *args: Any) -> int:
        return cast(
            int,
            await script(
                keys=self._message_keys(message_id), args=[self._group, message_id, *args]
            ),
        )

    # Outbox ------------------------------------------------------------------

    async def add(self, message: OutboxMessage) -> None:
        """Store `message` as `queued`; zero timestamps mean now, a zero
        `next_attempt_at` means due at once. Raises ValueError if its id exists."""
        now = self._clock()
        created_at = message.created_at or now
        next_attempt_at = message.next_attempt_at or created_at
        fields: list[str | bytes] = [
            "id", message.id,
            "type", message.type,
            "body", message.body,
            "headers", orjson.dumps(message.headers),
            "status", "queued",
            "attempts", str(message.attempts),
            "created_at", repr(created_at),
            "updated_at", repr(now),
            "next_attempt_at", repr(next_attempt_at),
        ]  # fmt: skip
        added = await self._outbox_script(
            self._lua.add,
            message.id,
            "1" if next_attempt_at <= now else "0",
            repr(next_attempt_at),
            *fields,
            *_error_fields(message.errors),
        )
        if not added:
            raise ValueError(f"message {message.id!r} already exists")

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        now = self._clock()
        claimed = await self._lua.claim(
            keys=[self._stream, self._retries, self._counts, self._cursor],
            args=[
                self._group,
                owner,
                limit,
                _ms(lease_s),
                repr(now),
                self._msg_prefix,
                max(limit, PROMOTE_MIN),
            ],
        )
        return [_message(_pairs(fields)) for fields in claimed]

    async def delivered(self, message_id: str, provider: str, attempts: int) -> None:
        """Mark delivered; a repeated report (two holders of one message) keeps the first."""
        await self._outbox_script(
            self._lua.delivered, message_id, provider, str(attempts), repr(self._clock())
        )

    async def retry_later(
        self, message_id: str, delay_s: float, attempts: int, errors: dict[str, str]
    ) -> None:
        """Back to `queued`, due in `delay_s`. A message already delivered or failed
        is left alone: the report comes from a holder whose lease ran out."""
        now = self._clock()
        await self._outbox_script(
            self._lua.retry_later,
            message_id,
            str(attempts),
            repr(now + delay_s),
            "1" if delay_s <= 0 else "0",
            repr(now),
            *_error_fields(errors),
        )

    async def dead_letter(self, message_id: str, attempts: int, errors: dict[str, str]) -> None:
        """Give up (errors merged); a message already delivered or failed is left alone."""
        await self._outbox_script(
            self._lua.dead_letter,
            message_id,
            str(attempts),
            repr(self._clock()),
            *_error_fields(errors),
        )

    async def requeue(self, message_id: str) -> bool:
        """A dead letter back to `queued`, due now; attempts and errors are kept."""
        return bool(await self._outbox_script(self._lua.requeue, message_id, repr(self._clock())))

    async def get(self, message_id: str) -> OutboxMessage | None:
        fields = await self._redis.hgetall(self._msg_prefix + message_id)
        return _message(cast(dict[bytes, bytes], fields)) if fields else None

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        ids = cast(list[bytes], await self._redis.zrange(self._dead, 0, limit - 1))
        async with self._redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hgetall(self._msg_prefix.encode() + message_id)
            found = await pipe.execute()
        # A message requeued between the two reads is no longer a dead letter.
        messages = [_message(fields) for fields in found if fields]
        return [message for message in messages if message.status == "failed"]

    async def counts(self) -> dict[Status, int]:
        found = cast(dict[bytes, bytes], await self._redis.hgetall(self._counts))
        return {status: int(found.get(status.encode(), 0)) for status in STATUSES}

    # Idempotency keys ----------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.namespace}:idem:{key}"

    async def begin(self, key: str, fingerprint: str, in_flight_s: float) -> KeyClaim:
        found = await self._lua.begin(keys=[self._key(key)], args=[fingerprint, _ms(in_flight_s)])
        state = found[0].decode()
        if state != "replay":
            return KeyClaim(state)
        status, headers, body = found[1:]
        return KeyClaim("replay", StoredResponse(int(status), orjson.loads(headers), body))

    async def finish(
        self, key: str, fingerprint: str, response: StoredResponse, ttl_s: float
    ) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(key))
            if ttl_s > 0:
                pipe.hset(
                    self._key(key),
                    mapping={
                        "state": "done",
                        "fingerprint": fingerprint,
                        "status": response.status,
                        "headers": orjson.dumps(response.headers),
                        "body": response.body,
                    },
                )
                pipe.pexpire(self._key(key), _ms(ttl_s))
            await pipe.execute()

    async def release(self, key: str) -> None:
        """Forget `key` if it is still in flight; a recorded answer is kept."""
        await self._lua.release(keys=[self._key(key)])


def _ms(seconds: float) -> int:
    """Whole milliseconds for Redis, at least 1 (PEXPIRE and min-idle refuse fractions)."""
    return max(1, math.ceil(seconds * 1000))


def _error_fields(errors: dict[str, str]) -> list[str]:
    # One hash field per provider, so merging errors is a plain HSET.
    return [part for provider, error in errors.items() for part in (f"err:{provider}", error)]


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _message(fields: dict[bytes, bytes]) -> OutboxMessage:
    def number(name: str) -> float | None:
        value = fields.get(name.encode())
        return None if value is None else float(value)

    provider = fields.get(b"provider")
    return OutboxMessage(
        id=fields[b"id"].decode(),
        type=fields[b"type"].decode(),
        body=fields[b"body"],
        headers=orjson.loads(fields[b"headers"]),
        status=cast(Status, fields[b"status"].decode()),
        attempts=int(fields[b"attempts"]),
        created_at=float(fields[b"created_at"]),
        updated_at=float(fields[b"updated_at"]),
        next_attempt_at=float(fields[b"next_attempt_at"]),
        delivered_at=number("delivered_at"),
        provider=None if provider is None else provider.decode(),
        errors={
            name[4:].decode(): error.decode()
            for name, error in fields.items()
            if name.startswith(b"err:")
        },
    )
