"""Gateway (websocket) side of the twin.

Protocol as discord.py 2.x speaks it (discord/gateway.py):

* on connect the twin sends HELLO (op 10); discord.py answers with a HEARTBEAT (op 1,
  answered with HEARTBEAT_ACK op 11) and then IDENTIFY (op 2) or RESUME (op 6);
* IDENTIFY -> READY (guilds listed as unavailable) followed by one GUILD_CREATE per guild;
* RESUME -> every dispatch the session produced after the client's ``seq`` is replayed,
  then RESUMED; an unknown session gets INVALID_SESSION (op 9, ``d: false``);
* REQUEST_GUILD_MEMBERS (op 8) -> one GUILD_MEMBERS_CHUNK.
* sharding: an IDENTIFY may carry ``shard: [shard_id, num_shards]``. That session gets only the guilds of its shard
  (``(guild_id >> 22) % num_shards == shard_id``) in READY and GUILD_CREATE, and only their dispatches; dispatches
  without a guild (DMs) go to shard 0. A bad ``shard`` is closed with 4010 (Invalid shard), and one missing while
  the host requires sharding with 4011 (Sharding required). A session without ``shard`` gets every guild. Identifies
  are paced per bucket (``shard_id % max_concurrency``): one per ``IDENTIFY_INTERVAL_S``; the twin does not refuse a
  faster one but records it in ``Gateway.identify_violations``.
* with ``replay_on_identify_s`` set on the host (a bot that was killed comes back in a new process, which cannot
  RESUME), an IDENTIFY takes over every session of its shard whose socket died: after its GUILD_CREATEs it gets the
  dispatches the dead session had queued but not written, and those written in its last ``replay_on_identify_s``
  seconds (a process that checkpoints where it is in the stream that often would ask for them again).
* a *zombied* connection (``stop_heartbeat_acks``) answers no HEARTBEAT and writes nothing; discord.py closes it
  after ``heartbeat_timeout`` seconds without a frame and RESUMEs, and the frames it missed are replayed.

Frames are plain JSON text frames. discord.py asks for ``compress=zlib-stream`` (or
``zstd-stream``) in the query string, but ``DiscordWebSocket.received_message`` only
decompresses ``bytes`` and parses ``str`` frames as they are, so text frames just work.

Dispatches are *enqueued* synchronously: each live session gets the next sequence
number and keeps the frame in its history (for RESUME replay), and a per-connection
writer task sends frames in order. Sessions whose socket is gone keep buffering until
the client resumes; a client close with 1000/1001 ends the session like Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

# opcodes
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# intents
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_WEBHOOKS = 1 << 5
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

IDENTIFY_INTERVAL_S = 5.0
"""Discord lets each identify bucket (``shard_id % max_concurrency``) start one session every 5 seconds."""
GUILD_OBJECT_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})
"""Dispatches whose ``id`` is the guild's (the others name it in ``guild_id``)."""

NOT_REPLAYED_ON_IDENTIFY = frozenset({"READY", "RESUMED", "GUILD_CREATE", "GUILD_MEMBERS_CHUNK"})
"""What a new session gets from its own IDENTIFY, so a dead session's copies are not carried over."""


@dataclass
class GatewayFrame:
    """One gateway frame, as received from (``direction='in'``) or sent to (``'out'``) the client."""

    direction: str
    op: int
    t: str | None
    s: int | None
    d: Any
    session_id: str | None
    time: float = field(default_factory=time.monotonic)


def shard_of(guild_id: int | None, num_shards: int) -> int:
    """The shard Discord sends a guild's events on; events without a guild (DMs) go to shard 0."""
    if guild_id is None or num_shards <= 1:
        return 0
    return (guild_id >> 22) % num_shards


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild a dispatch belongs to, or None (a DM, or an event of no guild)."""
    raw = data.get("id") if event in GUILD_OBJECT_EVENTS else data.get("guild_id")
    return int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None


@dataclass(frozen=True)
class IdentifyViolation:
    """An IDENTIFY that came sooner than its bucket allows."""

    shard: tuple[int, int] | None
    bucket: int
    seconds_since_last: float


class GatewayHost(Protocol):
    token: str
    privileged_intents: bool
    heartbeat_interval: int
    replay_on_identify_s: float | None
    max_concurrency: int
    sharding_required: bool

    def ready_payload(self, session: Session, shard: list[int] | None) -> dict[str, Any]: ...
    def guild_create_payloads(self, session: Session) -> list[dict[str, Any]]: ...
    def member_chunk_payloads(self, session: Session, request: dict[str, Any]) -> list[dict[str, Any]]: ...
    def notify(self) -> None: ...


Transform = Callable[["Session", dict[str, Any]], dict[str, Any] | None]


class Session:
    def __init__(
        self, intents: int, shard: tuple[int, int] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.id = secrets.token_hex(16)
        self.seq = 0
        self.intents = intents
        #: (shard_id, num_shards) from IDENTIFY, None for an unsharded session (it gets every guild)
        self.shard = shard
        #: the HTTP headers of the websocket upgrade that identified this session
        self.headers = headers or {}
        self.history: list[dict[str, Any]] = []
        self.conn: Connection | None = None
        self.resumes = 0
        self.replay_duplicates = 0
        #: seq -> when the frame was written to a socket (monotonic)
        self.written_at: dict[int, float] = {}
        #: when the socket went away without a clean close (monotonic), None while connected
        self.lost_at: float | None = None

    def wants(self, intent: int | None) -> bool:
        return intent is None or bool(self.intents & intent)

    def receives(self, guild_id: int | None) -> bool:
        """Whether this session's shard carries the events of ``guild_id`` (None: a DM, which shard 0 carries)."""
        if self.shard is None:
            return True
        shard_id, num_shards = self.shard
        return shard_of(guild_id, num_shards) == shard_id


class Connection:
    def __init__(self, ws: web.WebSocketResponse, gateway: Gateway, headers: dict[str, str] | None = None) -> None:
        self.ws = ws
        self.gateway = gateway
        #: the HTTP headers of the websocket upgrade request
        self.headers = headers or {}
        self.session: Session | None = None
        # (frame, future) pairs; a ``None`` frame is a barrier (see Gateway.flush), a bare None stops the writer.
        self.outbox: asyncio.Queue[tuple[dict[str, Any] | None, asyncio.Future[None] | None] | None] = asyncio.Queue()
        self.server_closed = False
        #: A zombied connection: heartbeats are not acknowledged and nothing is written (frames stay in the
        #: session history for RESUME). Set by ``Gateway.stop_heartbeat_acks``.
        self.zombie = False
        #: HEARTBEATs this connection received and left unanswered
        self.missed_acks = 0
        self.writer = asyncio.create_task(self._write_loop())

    def send(self, frame: dict[str, Any] | None, future: asyncio.Future[None] | None = None) -> None:
        self.outbox.put_nowait((frame, future))

    async def _write_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            if item is None:
                break
            frame, future = item
            try:
                if frame is not None and not self.ws.closed and not self.zombie:
                    await self.ws.send_str(json.dumps(frame))
                    if self.session is not None and frame.get("s") is not None:
                        self.session.written_at[frame["s"]] = time.monotonic()
                    self.gateway._log("out", frame, self.session)
            except Exception:  # connection went away; the session history keeps the frame
                pass
            finally:
                if future is not None and not future.done():
                    future.set_result(None)

    async def close(self, code: int) -> None:
        self.server_closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=b"twin closed the connection")

    def finish(self) -> None:
        # Release anyone waiting on frames that will never be written on this socket
        # (they stay in the session history and are replayed on RESUME).
        while True:
            try:
                item = self.outbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is not None and item[1] is not None and not item[1].done():
                item[1].set_result(None)
        self.outbox.put_nowait(None)


class Gateway:
    def __init__(self, host: GatewayHost) -> None:
        self.host = host
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.frames: list[GatewayFrame] = []
        self.hold = asyncio.Event()
        self.hold.set()
        #: IDENTIFYs in all (the session start limit counts them)
        self.identifies = 0
        #: identify bucket -> when it last identified (monotonic)
        self._last_identify: dict[int, float] = {}
        #: the HTTP headers of every websocket upgrade, in order
        self.upgrades: list[dict[str, str]] = []
        #: IDENTIFYs that came sooner than ``IDENTIFY_INTERVAL_S`` after the last one of their bucket
        self.identify_violations: list[IdentifyViolation] = []

    # ----------------------------------------------------------------- helpers
    def _log(self, direction: str, frame: dict[str, Any], session: Session | None) -> None:
        self.frames.append(
            GatewayFrame(
                direction=direction,
                op=frame.get("op", -1),
                t=frame.get("t"),
                s=frame.get("s"),
                d=frame.get("d"),
                session_id=session.id if session else None,
            )
        )
        self.host.notify()

    @property
    def live_sessions(self) -> list[Session]:
        return list(self.sessions.values())

    @property
    def connected(self) -> bool:
        return any(s.conn is not None for s in self.sessions.values())

    def sessions_of(self, guild_id: int | None) -> list[Session]:
        """The live sessions whose shard carries ``guild_id`` (None: DMs)."""
        return [s for s in self.sessions.values() if s.receives(guild_id)]

    def enqueue(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None = None,
        transform: Transform | None = None,
        only: Session | None = None,
    ) -> int:
        """Queue a dispatch for every live session whose shard carries its guild (or for ``only`` one). Returns
        how many sessions got it."""
        targets = [only] if only is not None else self.sessions_of(guild_of(event, data))
        delivered = 0
        for session in targets:
            if not session.wants(intent):
                continue
            payload = transform(session, data) if transform is not None else data
            if payload is None:
                continue
            session.seq += 1
            frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": payload}
            session.history.append(frame)
            delivered += 1
            if session.conn is not None:
                session.conn.send(frame)
        return delivered

    async def flush(self) -> None:
        """Wait until every frame queued so far has been written to the connected sockets."""
        futures = []
        for session in list(self.sessions.values()):
            if session.conn is not None:
                future = asyncio.get_running_loop().create_future()
                session.conn.send(None, future)
                futures.append(future)
        if futures:
            await asyncio.gather(*futures)

    async def dispatch(self, event: str, data: dict[str, Any], **kwargs: Any) -> int:
        count = self.enqueue(event, data, **kwargs)
        await self.flush()
        return count

    async def drop(self, code: int) -> list[Session]:
        """Close every connected socket with ``code``; returns the affected sessions."""
        dropped = []
        for session in list(self.sessions.values()):
            conn = session.conn
            if conn is None:
                continue
            session.conn = None
            dropped.append(session)
            await conn.close(code)
        return dropped

    def stop_heartbeat_acks(self) -> list[Session]:
        """Turn every connected socket into a zombie (no HEARTBEAT_ACK, nothing written); returns their sessions.

        The client notices the silence, closes the socket and RESUMEs on a new one, which is served normally.
        """
        zombies = []
        for session in self.sessions.values():
            if session.conn is not None:
                session.conn.zombie = True
                zombies.append(session)
        return zombies

    async def send_op(self, op: int, d: Any) -> None:
        for session in list(self.sessions.values()):
            if session.conn is not None:
                session.conn.send({"op": op, "d": d})
        await self.flush()

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001)

    # ----------------------------------------------------------------- handler
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, self, dict(request.headers))
        self.upgrades.append(conn.headers)
        self.connections.add(conn)
        try:
            await self.hold.wait()
            conn.send({"op": HELLO, "d": {"heartbeat_interval": self.host.heartbeat_interval, "_trace": ["twin"]}})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    self._log("in", frame, conn.session)
                    await self._on_frame(conn, frame)
                elif msg.type is WSMsgType.BINARY:
                    frame = json.loads(msg.data.decode())
                    self._log("in", frame, conn.session)
                    await self._on_frame(conn, frame)
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if not conn.server_closed and ws.close_code in (1000, 1001):
                    # A clean client close invalidates the session, as on Discord.
                    self.sessions.pop(session.id, None)
                else:
                    session.lost_at = time.monotonic()
            conn.finish()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(conn.writer, 1.0)
            self.host.notify()
        return ws

    async def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        d = frame.get("d")
        if op == HEARTBEAT:
            if conn.zombie:
                conn.missed_acks += 1
            else:
                conn.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(conn, d or {})
        elif op == RESUME:
            await self._resume(conn, d or {})
        elif op == REQUEST_GUILD_MEMBERS:
            if conn.session is not None:
                for chunk in self.host.member_chunk_payloads(conn.session, d or {}):
                    self.enqueue("GUILD_MEMBERS_CHUNK", chunk, only=conn.session)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            pass  # recorded in frames, nothing to answer
        else:
            await conn.close(4001)  # Unknown opcode

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.host.token:
            await conn.close(4004)  # Authentication failed
            return
        if conn.session is not None:
            await conn.close(4005)  # Already authenticated
            return
        intents = d.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013)  # Invalid intent(s)
            return
        if intents & PRIVILEGED_INTENTS and not self.host.privileged_intents:
            await conn.close(4014)  # Disallowed intent(s)
            return
        shard = d.get("shard")
        if shard is None and self.host.sharding_required:
            await conn.close(4011)  # Sharding required
            return
        if shard is not None and not _valid_shard(shard):
            await conn.close(4010)  # Invalid shard
            return
        session = Session(intents, (shard[0], shard[1]) if shard is not None else None, conn.headers)
        self._count_identify(session)
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        carried = self._take_over_dead_sessions(session)
        self.enqueue("READY", self.host.ready_payload(session, shard), only=session)
        for guild in self.host.guild_create_payloads(session):
            self.enqueue("GUILD_CREATE", guild, only=session)
        for frame in carried:
            self.enqueue(frame["t"], frame["d"], only=session)

    def _count_identify(self, session: Session) -> None:
        """Count the identify against its bucket, recording it when it came too soon."""
        self.identifies += 1
        bucket = session.shard[0] % max(self.host.max_concurrency, 1) if session.shard is not None else 0
        now = time.monotonic()
        last = self._last_identify.get(bucket)
        if last is not None and now - last < IDENTIFY_INTERVAL_S:
            self.identify_violations.append(IdentifyViolation(session.shard, bucket, now - last))
        self._last_identify[bucket] = now

    def _take_over_dead_sessions(self, new: Session) -> list[dict[str, Any]]:
        """With ``replay_on_identify_s``: end the sessions of ``new``'s shard whose socket died and return what of
        theirs to replay."""
        window = self.host.replay_on_identify_s
        if window is None:
            return []
        carried: list[dict[str, Any]] = []
        for old in list(self.sessions.values()):
            if old is new or old.conn is not None or old.lost_at is None or old.shard != new.shard:
                continue
            del self.sessions[old.id]
            since = old.lost_at - window
            for frame in old.history:
                if frame["t"] in NOT_REPLAYED_ON_IDENTIFY:
                    continue
                written = old.written_at.get(frame["s"])
                if written is None or written >= since:
                    carried.append(frame)
        return carried

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.host.token:
            await conn.close(4004)
            return
        session = self.sessions.get(str(d.get("session_id")))
        if session is None:
            conn.send({"op": INVALID_SESSION, "d": False})
            return
        old = session.conn
        if old is not None and old is not conn:
            session.conn = None
            await old.close(4000)
        seq = d.get("seq") or 0
        session.conn = conn
        conn.session = session
        session.resumes += 1
        replay = [f for f in session.history if f["s"] > seq and f["t"] not in ("READY", "RESUMED")]
        if session.replay_duplicates:
            seen = [f for f in session.history if f["s"] <= seq and f["t"] not in ("READY", "RESUMED")]
            replay = seen[-session.replay_duplicates :] + replay
            session.replay_duplicates = 0
        for frame in replay:
            conn.send(frame)
        self.enqueue("RESUMED", {"_trace": ["twin"]}, only=session)


def _valid_shard(shard: Any) -> bool:
    """``[shard_id, num_shards]`` with ``0 <= shard_id < num_shards``."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )
