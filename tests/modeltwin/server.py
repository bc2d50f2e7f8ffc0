"""The model twin's HTTP server (aiohttp), speaking the OpenAI chat completions protocol on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.modeltwin.behaviours import Behaviour, grounded

__all__ = ["ModelTwin", "RecordedCompletion"]

CHUNK_CHARS = 12
"""How many characters of content each streamed event carries."""
SHUTDOWN_S = 0.2
"""How long stopping waits for requests still being answered (a ``hang`` the client gave up on)."""


@dataclass(slots=True)
class RecordedCompletion:
    """One request to ``/v1/chat/completions``: its body, headers, and what it was answered with."""

    json: dict[str, Any]
    headers: dict[str, str]
    time: float
    behaviour: Behaviour | None = None

    @property
    def stream(self) -> bool:
        return bool(self.json.get("stream"))

    @property
    def system(self) -> str:
        """The system prompt's text."""
        return "\n".join(m["content"] for m in self.json.get("messages", []) if m.get("role") == "system")

    @property
    def last_user(self) -> str:
        users = [m["content"] for m in self.json.get("messages", []) if m.get("role") == "user"]
        return users[-1] if users else ""


def _first_fact_id(record: RecordedCompletion) -> list[str]:
    for word in record.system.replace("[", " ").replace("]", " ").split():
        if word.startswith("f-"):
            return [word]
    return []


@dataclass
class ModelTwin:
    """The server; ``script`` queues behaviours, ``requests`` records what came."""

    model: str = "twin-model"
    api_key: str | None = None
    default: Callable[[RecordedCompletion], Behaviour] = field(
        default=lambda record: grounded("I can tell you that.", _first_fact_id(record))
    )
    requests: list[RecordedCompletion] = field(default_factory=list)
    _queue: deque[Behaviour] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    port: int = 0

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with ``behaviours``, in order."""
        self._queue.extend(behaviours)

    @property
    def base_url(self) -> str:
        """What ``LLM_BASE_URL`` should be."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._completions)
        # a request still waiting on a hang is not waited for when the server stops
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ModelTwin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ handlers
    def _authorised(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "invalid api key", "invalid_request_error")
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "twin"}]}
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = RecordedCompletion(body, dict(request.headers), time.time())
        self.requests.append(record)
        if not self._authorised(request):
            return _error(401, "invalid api key", "invalid_request_error")
        behaviour = self._queue.popleft() if self._queue else self.default(record)
        if behaviour.needs_plain:
            if "response_format" in body:
                assert behaviour.then is not None
                self._queue.appendleft(behaviour.then)
                record.behaviour = behaviour
                return _error(400, "response_format is not supported by this server", "invalid_request_error")
            behaviour = behaviour.then or behaviour
        record.behaviour = behaviour
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the client gave up waiting: nobody to answer
        if behaviour.status != 200:
            kind = "rate_limit_exceeded" if behaviour.status == 429 else "server_error"
            response = _error(behaviour.status, f"scripted {behaviour.status}", kind)
            if behaviour.status == 429:
                response.headers["Retry-After"] = "1"
            return response
        if record.stream:
            return await self._stream(request, record, behaviour)
        return await self._whole(request, record, behaviour)

    def _usage(self, behaviour: Behaviour) -> dict[str, int]:
        completion = behaviour.completion_tokens
        if completion is None:
            completion = max(1, len(behaviour.content) // 4)
        return {
            "prompt_tokens": behaviour.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": behaviour.prompt_tokens + completion,
        }

    async def _whole(
        self, request: web.Request, record: RecordedCompletion, behaviour: Behaviour
    ) -> web.StreamResponse:
        payload = {
            "id": f"chatcmpl-twin-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(record.time),
            "model": self.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": behaviour.content}, "finish_reason": "stop"}
            ],
            "usage": self._usage(behaviour),
        }
        if behaviour.cut_after is None:
            return web.json_response(payload)
        raw = json.dumps(payload).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(len(raw))})
        await response.prepare(request)
        await response.write(raw[: behaviour.cut_after])
        _drop(request)
        return response

    async def _stream(
        self, request: web.Request, record: RecordedCompletion, behaviour: Behaviour
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        content = behaviour.content
        limit = len(content) if behaviour.cut_after is None else min(behaviour.cut_after, len(content))
        base = {"id": f"chatcmpl-twin-{len(self.requests)}", "object": "chat.completion.chunk", "model": self.model}
        created = int(record.time)
        await _event(response, {**base, "created": created, "choices": [_delta({"role": "assistant", "content": ""})]})
        for start in range(0, limit, CHUNK_CHARS):
            piece = content[start : min(start + CHUNK_CHARS, limit)]
            await _event(response, {**base, "created": created, "choices": [_delta({"content": piece})]})
            await asyncio.sleep(behaviour.chunk_delay_s)
        if behaviour.cut_after is not None:
            _drop(request)
            return response
        await _event(response, {**base, "created": created, "choices": [_delta({}, finish="stop")]})
        if (record.json.get("stream_options") or {}).get("include_usage"):
            await _event(response, {**base, "created": created, "choices": [], "usage": self._usage(behaviour)})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish}


async def _event(response: web.StreamResponse, data: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(data)}\n\n".encode())


def _drop(request: web.Request) -> None:
    """Close the connection under the response, as a server that dies mid-answer does."""
    if request.transport is not None:
        request.transport.close()


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": kind}}, status=status)
