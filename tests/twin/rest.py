"""REST side of the twin: a small router over ``/api/v10`` plus recording and fault injection.

Responses carry ``Content-Type: application/json`` *exactly*: discord.py's
``http.json_or_text`` compares the header with ``==``, so aiohttp's
``json_response`` (which appends ``; charset=utf-8``) would turn every body into a str.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, hdrs, web

from . import payloads as p
from .gateway import GUILD_WEBHOOKS
from .ratelimits import Decision
from .state import Channel, InteractionRecord, Webhook, permission_value

if TYPE_CHECKING:
    from .server import DiscordTwin

API_PREFIX = "/api/v10"


@dataclass
class RecordedFile:
    """A file part of a multipart request (``files[n]``)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the client made to the twin.

    ``path`` is relative to ``/api/v10`` (e.g. ``/channels/1/messages``); ``json`` is the JSON
    body, or the parsed ``payload_json`` part of a multipart body; ``route`` is the matched
    route template (``None`` for the 404 catch-all); ``injected`` marks a ``fail_next`` answer.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    headers: dict[str, str]
    time: float
    status: int = 0
    response: Any = None
    route: str | None = None
    injected: bool = False
    #: ``"user"`` or ``"global"`` when the twin's own rate limits answered 429 (``injected`` ones are not counted)
    rate_limit_scope: str | None = None
    #: the headers of the answer (rate-limit headers included)
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def unhandled(self) -> bool:
        return self.route is None and not self.injected and self.rate_limit_scope is None


@dataclass
class Fault:
    count: int
    status: int
    retry_after: float
    path_contains: str | None
    method: str | None
    is_global: bool
    code: int | None
    message: str | None
    hang: float = 0.0
    """Seconds the twin holds the request before answering: a Discord that does not answer."""

    def matches(self, req: RecordedRequest) -> bool:
        if self.count <= 0:
            return False
        if self.method is not None and req.method != self.method.upper():
            return False
        return self.path_contains is None or self.path_contains in req.path


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def form_error(path: str, code: str, message: str) -> ApiError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def unknown(what: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
MISSING_ACCESS = (403, 50001, "Missing Access")


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if body is None and status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={hdrs.CONTENT_TYPE: "application/json", **(headers or {})},
    )


Handler = Callable[..., Awaitable[Any]]


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool


def _compile(template: str) -> re.Pattern[str]:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("_id"):
            return rf"(?P<{name}>\d+)"
        return rf"(?P<{name}>[^/]+)"

    return re.compile(
        "^" + re.sub(r"\{(\w+)\}", repl, re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
    )


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


EMBED_LIMITS = {"title": 256, "description": 4096}


def validate_message(data: dict[str, Any], files: list[RecordedFile], *, allow_empty: bool = False) -> None:
    content = data.get("content") or ""
    if len(content) > 2000:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = data.get("embeds") or []
    if len(embeds) > 10:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in EMBED_LIMITS.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                raise form_error(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            total += len(fld.get("name") or "") + len(fld.get("value") or "")
            if len(fld.get("name") or "") > 256:
                raise form_error(f"embeds.{i}.fields.{j}.name", "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer.")
            if len(fld.get("value") or "") > 1024:
                raise form_error(f"embeds.{i}.fields.{j}.value", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer.")
        for key, part, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = (embed.get(key) or {}).get(part) or ""
            total += len(text)
            if len(text) > limit:
                raise form_error(f"embeds.{i}.{key}.{part}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer.")
    if total > 6000:
        raise form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    empty = not (content or embeds or files or data.get("sticker_ids") or data.get("components") or data.get("poll"))
    if empty and not allow_empty:
        raise ApiError(400, 50006, "Cannot send an empty message")


def validate_webhook_name(name: str | None, field_name: str) -> None:
    if name is None:
        return
    if not 1 <= len(name) <= 80:
        raise form_error(field_name, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
    for banned in ("clyde", "discord"):
        if banned in name.lower():
            raise form_error(field_name, "USERNAME_INVALID_CONTAINS", f'Username cannot contain "{banned}"')


COMMAND_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


def validate_commands(commands: Any) -> None:
    if not isinstance(commands, list):
        raise form_error("_root", "LIST_TYPE_CONVERT", "Must be an array.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name") or ""
        if (ctype, name) in seen:
            raise form_error(
                f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Application command names must be unique: {name}"
            )
        seen.add((ctype, name))
        if ctype == 1:
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                raise form_error(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
            if not 1 <= len(cmd.get("description") or "") <= 100:
                raise form_error(f"{i}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            _validate_options(cmd.get("options") or [], f"{i}.options")


def _validate_options(options: list[dict[str, Any]], path: str) -> None:
    if len(options) > 25:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    optional_seen = False
    for j, opt in enumerate(options):
        name = opt.get("name") or ""
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            raise form_error(
                f"{path}.{j}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Option name is invalid: {name!r}"
            )
        if not 1 <= len(opt.get("description") or "") <= 100:
            raise form_error(f"{path}.{j}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(opt.get("choices") or []) > 25:
            raise form_error(f"{path}.{j}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if opt.get("type") in (1, 2):
            _validate_options(opt.get("options") or [], f"{path}.{j}.options")
        elif opt.get("required"):
            if optional_seen:
                raise form_error(
                    f"{path}.{j}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True


class RestApi:
    def __init__(self, twin: DiscordTwin) -> None:
        self.twin = twin
        self.world = twin.world
        self.routes: list[_Route] = []
        r = self._add
        r("GET", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", self.get_gateway_bot)
        r("GET", "/users/@me", self.get_me)
        r("GET", "/users/{user_id}", self.get_user)
        r("POST", "/users/@me/channels", self.create_dm)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/@me", self.get_application)
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("POST", "/channels/{channel_id}/messages", self.create_message)
        r("GET", "/channels/{channel_id}/messages", self.list_messages)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r("POST", "/channels/{channel_id}/typing", self.typing)
        r("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.add_reaction)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.remove_own_reaction)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}", self.remove_reaction)
        r("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}", self.reaction_users)
        r("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message)
        r("POST", "/channels/{channel_id}/threads", self.thread_without_message)
        r("POST", "/channels/{channel_id}/webhooks", self.create_webhook)
        r("GET", "/channels/{channel_id}/webhooks", self.channel_webhooks)
        r("GET", "/guilds/{guild_id}/webhooks", self.guild_webhooks)
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self.guild_roles)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r("GET", "/webhooks/{webhook_id}", self.get_webhook)
        r("PATCH", "/webhooks/{webhook_id}", self.edit_webhook)
        r("DELETE", "/webhooks/{webhook_id}", self.delete_webhook)
        r("GET", "/webhooks/{webhook_id}/{token}", self.get_webhook_with_token, auth=False)
        r("PATCH", "/webhooks/{webhook_id}/{token}", self.edit_webhook_with_token, auth=False)
        r("DELETE", "/webhooks/{webhook_id}/{token}", self.delete_webhook_with_token, auth=False)
        r("POST", "/webhooks/{webhook_id}/{token}", self.execute_webhook, auth=False)
        r("GET", "/webhooks/{webhook_id}/{token}/messages/{message}", self.get_webhook_message, auth=False)
        r("PATCH", "/webhooks/{webhook_id}/{token}/messages/{message}", self.edit_webhook_message, auth=False)
        r("DELETE", "/webhooks/{webhook_id}/{token}/messages/{message}", self.delete_webhook_message, auth=False)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback, auth=False)
        r("GET", "/applications/{application_id}/commands", self.get_commands)
        r("PUT", "/applications/{application_id}/commands", self.put_commands)
        r("POST", "/applications/{application_id}/commands", self.upsert_command)
        r("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands)
        r("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands)
        r("POST", "/applications/{application_id}/guilds/{guild_id}/commands", self.upsert_command)

    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append(_Route(method, template, _compile(template), handler, auth))

    # ------------------------------------------------------------------ plumbing
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/cdn/attachments/"):
            return self._serve_attachment(request)
        req = await self._record(request)
        limits: dict[str, str] = {}
        try:
            fault = next((f for f in self.twin._faults if f.matches(req)), None)
            if fault is not None:
                fault.count -= 1
                req.injected = True
                if fault.hang:
                    await asyncio.sleep(fault.hang)
                return self._respond(req, self._fault_reply(fault, req))
            matched = self._match(req)
            if not isinstance(matched, list):
                req.route = f"{matched[0].method} {matched[0].template}"
            if self.twin.rate_limits:
                decision = self._limit(request, req, matched)
                limits = decision.headers
                if decision.limited:
                    req.rate_limit_scope = decision.scope
                    return self._respond(req, Reply(429, decision.body(), limits))
            return self._respond(req, await self._dispatch(req, matched), limits)
        except ApiError as exc:
            return self._respond(req, Reply(exc.status, exc.body()), limits)
        except Exception as exc:  # a twin bug: answer 400 (discord.py retries 5xx for up to ~25s)
            self.twin.server_errors.append(exc)
            return self._respond(req, Reply(400, {"message": f"twin internal error: {exc!r}", "code": -1}))
        finally:
            self.twin.requests.append(req)
            self.twin.notify()

    async def _record(self, request: web.Request) -> RecordedRequest:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        body: Any = None
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: not something Discord clients send
                raw = bytes(await part.read(decode=False))
                if part.name == "payload_json":
                    body = json.loads(raw.decode())
                else:
                    files.append(
                        RecordedFile(
                            field=part.name or "",
                            filename=part.filename,
                            content_type=part.headers.get(hdrs.CONTENT_TYPE),
                            data=raw,
                        )
                    )
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
        return RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
        )

    def _respond(self, req: RecordedRequest, reply: Reply, limits: dict[str, str] | None = None) -> web.Response:
        req.status = reply.status
        req.response = reply.body
        headers = {**(limits or {}), **reply.headers}
        req.response_headers = headers
        return json_response(reply.body, reply.status, headers)

    def _match(self, req: RecordedRequest) -> tuple[_Route, dict[str, str]] | list[str]:
        """The route and path parameters of a request, or the methods the path allows (none: unknown path)."""
        allowed: list[str] = []
        if not req.path.startswith("/"):
            return allowed
        for route in self.routes:
            m = route.regex.match(req.path)
            if m is None:
                continue
            if route.method != req.method:
                allowed.append(route.method)
                continue
            return route, m.groupdict()
        return allowed

    def _limit(
        self, request: web.Request, req: RecordedRequest, matched: tuple[_Route, dict[str, str]] | list[str]
    ) -> Decision:
        auth = req.headers.get("Authorization")
        caller = auth if auth else f"address:{request.remote}"
        if isinstance(matched, list):
            return self.twin.rate_limiter.check(None, {}, caller=caller)
        route, params = matched
        interaction = route.template.startswith("/interactions/") or (
            route.template.startswith("/webhooks/{webhook_id}/{token}")
            and int(params["webhook_id"]) == self.world.application_id
        )
        return self.twin.rate_limiter.check(
            f"{route.method} {route.template}", params, caller=caller, interaction=interaction
        )

    async def _dispatch(self, req: RecordedRequest, matched: tuple[_Route, dict[str, str]] | list[str]) -> Reply:
        if isinstance(matched, list):
            if matched:
                raise ApiError(405, 0, "405: Method Not Allowed")
            raise ApiError(404, 0, "404: Not Found")
        route, params = matched
        if route.auth and req.headers.get("Authorization") != f"Bot {self.twin.token}":
            raise ApiError(401, 0, "401: Unauthorized")
        result = await route.handler(req, **params)
        if isinstance(result, Reply):
            return result
        if result is None:
            return Reply(204)
        return Reply(200, result)

    def _fault_reply(self, fault: Fault, req: RecordedRequest) -> Reply:
        if fault.status == 429:
            reset = time.time() + fault.retry_after
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, int(fault.retry_after + 0.999))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset:.3f}",
                "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                "X-RateLimit-Bucket": hashlib.md5(req.path.encode()).hexdigest(),
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            body: dict[str, Any] = {
                "message": fault.message or "You are being rate limited.",
                "retry_after": fault.retry_after,
                "global": fault.is_global,
            }
            if fault.code is not None:
                body["code"] = fault.code
            return Reply(429, body, headers)
        default = {400: "400: Bad Request", 403: "Missing Permissions", 404: "404: Not Found"}
        message = fault.message or default.get(fault.status, f"{fault.status}: Twin injected failure")
        code = fault.code if fault.code is not None else (50013 if fault.status == 403 else 0)
        return Reply(fault.status, {"message": message, "code": code})

    def _serve_attachment(self, request: web.Request) -> web.Response:
        m = re.match(r"^/cdn/attachments/\d+/(\d+)/", request.path)
        stored = self.world.attachments.get(int(m.group(1))) if m else None
        if stored is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored[1], headers={hdrs.CONTENT_TYPE: "application/octet-stream"})

    # ------------------------------------------------------------------- helpers
    def _channel(self, channel_id: str | int) -> Channel:
        channel = self.world.channels.get(int(channel_id))
        if channel is None:
            raise unknown("Channel", 10003)
        return channel

    def _require(self, channel: Channel, *names: str) -> None:
        bot = self.world.bot_user.id
        if not self.world.has(channel.id, bot, "view_channel"):
            raise ApiError(*MISSING_ACCESS)
        if names and not self.world.has(channel.id, bot, *names):
            raise ApiError(*MISSING_PERMISSIONS)

    def _message(self, channel: Channel, message_id: str | int) -> dict[str, Any]:
        msg = self.world.messages.get(int(message_id))
        if msg is None or msg.get("deleted") or int(msg["channel_id"]) != channel.id:
            raise unknown("Message", 10008)
        return msg

    def _body(self, req: RecordedRequest) -> dict[str, Any]:
        return req.json if isinstance(req.json, dict) else {}

    # ------------------------------------------------------------ users & misc
    async def get_gateway(self, req: RecordedRequest) -> Any:
        return {"url": self.twin.gateway_url}

    async def get_gateway_bot(self, req: RecordedRequest) -> Any:
        twin = self.twin
        total = twin.session_start_total
        return {
            "url": twin.gateway_url,
            "shards": twin.shards,
            "session_start_limit": {
                "total": total,
                "remaining": max(0, total - twin.gateway.identifies),
                "reset_after": 14400000,
                "max_concurrency": twin.max_concurrency,
            },
        }

    async def get_me(self, req: RecordedRequest) -> Any:
        return p.client_user_payload(self.world.bot_user)

    async def get_user(self, req: RecordedRequest, user_id: str) -> Any:
        user = self.world.users.get(int(user_id))
        if user is None:
            raise unknown("User", 10013)
        return p.user_payload(user)

    async def create_dm(self, req: RecordedRequest) -> Any:
        recipient = int(self._body(req).get("recipient_id", 0))
        if recipient not in self.world.users:
            raise form_error("recipient_id", "NUMBER_TYPE_COERCE", "Unknown user")
        channel = self.twin.add_dm_channel(recipient)
        return p.channel_payload(self.world, channel)

    async def get_application(self, req: RecordedRequest) -> Any:
        return self.twin.application_payload()

    # ------------------------------------------------------------------ channels
    async def get_channel(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel)
        return p.channel_payload(self.world, channel)

    async def create_message(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        data = self._body(req)
        self._require(channel, "send_messages_in_threads" if channel.is_thread else "send_messages")
        if req.files:
            self._require(channel, "attach_files")
        validate_message(data, req.files)
        if data.get("enforce_nonce") and data.get("nonce") is not None:
            # Discord answers a repeated nonce (e.g. a client retry) with the message it already created.
            for earlier in reversed(self.world.channel_history(channel.id)):
                if earlier.get("nonce") == data["nonce"] and earlier["author"]["id"] == str(self.world.bot_user.id):
                    return p.public_message(earlier)
        msg = self.twin.message_ops.create(
            channel,
            author=p.user_payload(self.world.bot_user),
            member_id=self.world.bot_user.id,
            data=data,
            files=req.files,
            raw=data,
        )
        return p.public_message(msg)

    async def list_messages(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "read_message_history")
        limit = min(int(req.query.get("limit", 50)), 100)
        history = self.world.channel_history(channel.id)
        if "before" in req.query:
            history = [m for m in history if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            history = [m for m in history if int(m["id"]) > int(req.query["after"])]
            history = history[:limit]
        if "around" in req.query:
            ids = [int(m["id"]) for m in history]
            target = int(req.query["around"])
            pos = next((i for i, mid in enumerate(ids) if mid >= target), len(ids))
            start = max(0, pos - limit // 2)
            history = history[start : start + limit]
        history = history[-limit:]
        return [p.public_message(m) for m in reversed(history)]

    async def get_message(self, req: RecordedRequest, channel_id: str, message_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "read_message_history")
        return p.public_message(self._message(channel, message_id))

    async def edit_message(self, req: RecordedRequest, channel_id: str, message_id: str) -> Any:
        channel = self._channel(channel_id)
        msg = self._message(channel, message_id)
        if msg["author"]["id"] != str(self.world.bot_user.id) or "webhook_id" in msg:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        data = self._body(req)
        validate_message(data, req.files, allow_empty=True)
        self.twin.message_ops.edit(msg, data, req.files)
        return p.public_message(msg)

    async def delete_message(self, req: RecordedRequest, channel_id: str, message_id: str) -> Any:
        channel = self._channel(channel_id)
        msg = self._message(channel, message_id)
        if msg["author"]["id"] != str(self.world.bot_user.id):
            self._require(channel, "manage_messages")
        self.twin.message_ops.delete(msg)
        return None

    async def typing(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "send_messages_in_threads" if channel.is_thread else "send_messages")
        return None

    # ------------------------------------------------------------------ reactions
    async def add_reaction(self, req: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "read_message_history")
        msg = self._message(channel, message_id)
        exists = any(self._same_emoji(r["emoji"], p.parse_emoji(emoji)) for r in msg.get("reactions", []))
        if not exists:
            self._require(channel, "add_reactions")
        self.twin.message_ops.react(msg, self.world.bot_user.id, p.parse_emoji(emoji), add=True)
        return None

    async def remove_own_reaction(self, req: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> Any:
        channel = self._channel(channel_id)
        msg = self._message(channel, message_id)
        self.twin.message_ops.react(msg, self.world.bot_user.id, p.parse_emoji(emoji), add=False)
        return None

    async def remove_reaction(
        self, req: RecordedRequest, channel_id: str, message_id: str, emoji: str, user_id: str
    ) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "manage_messages")
        msg = self._message(channel, message_id)
        self.twin.message_ops.react(msg, int(user_id), p.parse_emoji(emoji), add=False)
        return None

    async def reaction_users(self, req: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> Any:
        channel = self._channel(channel_id)
        msg = self._message(channel, message_id)
        wanted = p.parse_emoji(emoji)
        users = self.world.reaction_users.get((int(msg["id"]), wanted.get("id") or wanted["name"]), [])
        return [p.user_payload(self.world.users[u]) for u in users]

    @staticmethod
    def _same_emoji(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return (a.get("id") or a.get("name")) == (b.get("id") or b.get("name"))

    # -------------------------------------------------------------------- threads
    async def thread_from_message(self, req: RecordedRequest, channel_id: str, message_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "create_public_threads")
        msg = self._message(channel, message_id)
        data = self._body(req)
        thread = self.twin.add_thread(
            channel.id,
            data.get("name") or "thread",
            owner_id=self.world.bot_user.id,
            thread_id=int(msg["id"]),
            auto_archive_duration=data.get("auto_archive_duration") or 1440,
        )
        return p.channel_payload(self.world, thread)

    async def thread_without_message(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        data = self._body(req)
        private = data.get("type", p.PRIVATE_THREAD) == p.PRIVATE_THREAD
        self._require(channel, "create_private_threads" if private else "create_public_threads")
        thread = self.twin.add_thread(
            channel.id,
            data.get("name") or "thread",
            owner_id=self.world.bot_user.id,
            private=private,
            auto_archive_duration=data.get("auto_archive_duration") or 1440,
        )
        return p.channel_payload(self.world, thread)

    # --------------------------------------------------------------------- guilds
    def _guild(self, guild_id: str | int) -> Any:
        guild = self.world.guilds.get(int(guild_id))
        if guild is None:
            raise unknown("Guild", 10004)
        return guild

    async def get_guild(self, req: RecordedRequest, guild_id: str) -> Any:
        return p.guild_payload(self.world, self._guild(guild_id), full=False)

    async def guild_channels(self, req: RecordedRequest, guild_id: str) -> Any:
        guild = self._guild(guild_id)
        channels = [self.world.channels[c] for c in guild.channel_ids]
        return [p.channel_payload(self.world, c) for c in channels if not c.is_thread]

    async def guild_roles(self, req: RecordedRequest, guild_id: str) -> Any:
        return [p.role_payload(self.world.roles[r]) for r in self._guild(guild_id).role_ids]

    async def get_member(self, req: RecordedRequest, guild_id: str, user_id: str) -> Any:
        guild = self._guild(guild_id)
        member = guild.members.get(int(user_id))
        if member is None:
            raise unknown("Member", 10007)
        return p.member_payload(member, self.world.users[member.user_id])

    # ------------------------------------------------------------------- webhooks
    def _webhook(self, webhook_id: str | int, token: str | None = None) -> Webhook:
        webhook = self.world.webhooks.get(int(webhook_id))
        if webhook is None or webhook.deleted:
            raise unknown("Webhook", 10015)
        if token is not None and token != webhook.token:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return webhook

    async def create_webhook(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        if channel.is_thread or channel.guild_id is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self._require(channel, "manage_webhooks")
        data = self._body(req)
        validate_webhook_name(data.get("name"), "name")
        existing = [w for w in self.world.webhooks.values() if w.channel_id == channel.id and not w.deleted]
        if len(existing) >= channel.webhook_limit:
            raise ApiError(400, 30007, f"Maximum number of webhooks reached ({channel.webhook_limit})")
        avatar = data.get("avatar")
        webhook = Webhook(
            id=self.world.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            name=data.get("name") or "Captain Hook",
            creator_id=self.world.bot_user.id,
            avatar=hashlib.md5(avatar.encode()).hexdigest() if avatar else None,
        )
        self.world.webhooks[webhook.id] = webhook
        self.twin.gateway.enqueue(
            "WEBHOOKS_UPDATE", {"guild_id": str(channel.guild_id), "channel_id": str(channel.id)}, intent=GUILD_WEBHOOKS
        )
        return p.webhook_payload(self.world, webhook)

    async def channel_webhooks(self, req: RecordedRequest, channel_id: str) -> Any:
        channel = self._channel(channel_id)
        self._require(channel, "manage_webhooks")
        return [
            p.webhook_payload(self.world, w)
            for w in self.world.webhooks.values()
            if w.channel_id == channel.id and not w.deleted
        ]

    async def guild_webhooks(self, req: RecordedRequest, guild_id: str) -> Any:
        guild = self._guild(guild_id)
        if not self.world.permissions_for(None, self.world.bot_user.id, guild.id) & permission_value(
            ["manage_webhooks"]
        ):
            raise ApiError(*MISSING_PERMISSIONS)
        return [
            p.webhook_payload(self.world, w)
            for w in self.world.webhooks.values()
            if w.guild_id == guild.id and not w.deleted
        ]

    async def get_webhook(self, req: RecordedRequest, webhook_id: str) -> Any:
        webhook = self._webhook(webhook_id)
        self._require(self._channel(webhook.channel_id), "manage_webhooks")
        return p.webhook_payload(self.world, webhook)

    async def get_webhook_with_token(self, req: RecordedRequest, webhook_id: str, token: str) -> Any:
        return p.webhook_payload(self.world, self._webhook(webhook_id, token), with_user=False)

    async def edit_webhook(self, req: RecordedRequest, webhook_id: str) -> Any:
        webhook = self._webhook(webhook_id)
        self._require(self._channel(webhook.channel_id), "manage_webhooks")
        return self._apply_webhook_edit(webhook, self._body(req), allow_move=True)

    async def edit_webhook_with_token(self, req: RecordedRequest, webhook_id: str, token: str) -> Any:
        return self._apply_webhook_edit(self._webhook(webhook_id, token), self._body(req), allow_move=False)

    def _apply_webhook_edit(self, webhook: Webhook, data: dict[str, Any], *, allow_move: bool) -> Any:
        if "name" in data:
            validate_webhook_name(data["name"], "name")
            webhook.name = data["name"]
        if "avatar" in data:
            avatar = data["avatar"]
            webhook.avatar = hashlib.md5(avatar.encode()).hexdigest() if avatar else None
        if allow_move and data.get("channel_id"):
            webhook.channel_id = self._channel(data["channel_id"]).id
        return p.webhook_payload(self.world, webhook, with_user=allow_move)

    async def delete_webhook(self, req: RecordedRequest, webhook_id: str) -> Any:
        webhook = self._webhook(webhook_id)
        self._require(self._channel(webhook.channel_id), "manage_webhooks")
        self.twin.delete_webhook(webhook.id)
        return None

    async def delete_webhook_with_token(self, req: RecordedRequest, webhook_id: str, token: str) -> Any:
        self.twin.delete_webhook(self._webhook(webhook_id, token).id)
        return None

    def _interaction_for(self, webhook_id: str, token: str) -> InteractionRecord | None:
        if int(webhook_id) != self.world.application_id:
            return None
        record = self.world.find_interaction_by_token(token)
        if record is None:
            raise unknown("Webhook", 10015)
        return record

    async def execute_webhook(self, req: RecordedRequest, webhook_id: str, token: str) -> Any:
        data = self._body(req)
        wait = _truthy(req.query.get("wait"))
        record = self._interaction_for(webhook_id, token)
        if record is not None:
            if record.response_type is None:
                raise unknown("Webhook", 10015)
            validate_message(data, req.files)
            msg = self.twin.interaction_ops.followup(record, data, req.files)
            return p.public_message(msg) if wait else None
        webhook = self._webhook(webhook_id, token)
        channel = self._channel(webhook.channel_id)
        if "thread_id" in req.query:
            thread = self.world.channels.get(int(req.query["thread_id"]))
            if thread is None or not thread.is_thread or thread.parent_id != channel.id:
                raise ApiError(400, 10003, "Unknown Channel")
            channel = thread
        validate_webhook_name(data.get("username"), "username")
        validate_message(data, req.files)
        msg = self.twin.message_ops.create(
            channel,
            author=p.webhook_author_payload(webhook, data.get("username")),
            member_id=None,
            data=data,
            files=req.files,
            raw=data,
            webhook_id=webhook.id,
        )
        return p.public_message(msg) if wait else None

    def _webhook_message(self, webhook_id: str, token: str, message: str) -> tuple[dict[str, Any], Any]:
        record = self._interaction_for(webhook_id, token)
        if record is not None:
            if message == "@original":
                if record.original_message_id is None:
                    raise unknown("Message", 10008)
                msg = self.world.messages[record.original_message_id]
            else:
                mid = int(message)
                if mid not in record.followup_ids and mid != record.original_message_id:
                    raise unknown("Message", 10008)
                msg = self.world.messages[mid]
            if msg.get("deleted"):
                raise unknown("Message", 10008)
            return msg, record
        webhook = self._webhook(webhook_id, token)
        if message == "@original":
            raise unknown("Message", 10008)
        found = self.world.messages.get(int(message))
        if found is None or found.get("deleted") or found.get("webhook_id") != str(webhook.id):
            raise unknown("Message", 10008)
        return found, webhook

    async def get_webhook_message(self, req: RecordedRequest, webhook_id: str, token: str, message: str) -> Any:
        msg, _ = self._webhook_message(webhook_id, token, message)
        return p.public_message(msg)

    async def edit_webhook_message(self, req: RecordedRequest, webhook_id: str, token: str, message: str) -> Any:
        msg, owner = self._webhook_message(webhook_id, token, message)
        data = self._body(req)
        validate_message(data, req.files, allow_empty=True)
        self.twin.message_ops.edit(msg, data, req.files)
        if isinstance(owner, InteractionRecord):
            kind = "edit_original" if message == "@original" else "edit_followup"
            self.twin.interaction_ops.record_response(owner, kind, data, msg)
        return p.public_message(msg)

    async def delete_webhook_message(self, req: RecordedRequest, webhook_id: str, token: str, message: str) -> Any:
        msg, owner = self._webhook_message(webhook_id, token, message)
        self.twin.message_ops.delete(msg)
        if isinstance(owner, InteractionRecord):
            kind = "delete_original" if message == "@original" else "delete_followup"
            self.twin.interaction_ops.record_response(owner, kind, {}, msg)
        return None

    # --------------------------------------------------------------- interactions
    async def interaction_callback(self, req: RecordedRequest, interaction_id: str, token: str) -> Any:
        record = self.world.interactions.get(int(interaction_id))
        if record is None or record.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        if time.monotonic() - record.created > self.twin.callback_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        if record.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = self._body(req)
        rtype = body.get("type")
        data = body.get("data") or {}
        allowed = {
            1: {1},  # PING -> PONG
            2: {4, 5, 9},  # application command
            3: {4, 5, 6, 7, 9},  # component
            4: {8},  # autocomplete
            5: {4, 5, 6, 7},  # modal submit
        }[record.type]
        if rtype not in allowed:
            raise form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid interaction response type {rtype}")
        if rtype in (4, 7):
            validate_message(data, req.files, allow_empty=rtype == 7)
        if rtype == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise form_error("data", "MODAL_INVALID", "Modals need custom_id, title and components")
        return self.twin.interaction_ops.callback(
            record, rtype, data, req.files, with_response=_truthy(req.query.get("with_response"))
        )

    # ------------------------------------------------------------------- commands
    def _command_list(self, application_id: str, guild_id: str | None) -> list[dict[str, Any]]:
        if int(application_id) != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        if guild_id is None:
            return self.world.global_commands
        if int(guild_id) not in self.world.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return self.world.guild_commands.setdefault(int(guild_id), [])

    async def get_commands(self, req: RecordedRequest, application_id: str, guild_id: str | None = None) -> Any:
        return list(self._command_list(application_id, guild_id))

    async def put_commands(self, req: RecordedRequest, application_id: str, guild_id: str | None = None) -> Any:
        current = self._command_list(application_id, guild_id)
        validate_commands(req.json)
        result = [self._materialise_command(cmd, current, guild_id) for cmd in req.json]
        current[:] = result
        return result

    async def upsert_command(self, req: RecordedRequest, application_id: str, guild_id: str | None = None) -> Any:
        current = self._command_list(application_id, guild_id)
        validate_commands([req.json])
        cmd = self._materialise_command(self._body(req), current, guild_id)
        current[:] = [c for c in current if c["id"] != cmd["id"]] + [cmd]
        return Reply(201, cmd)

    def _materialise_command(
        self, cmd: dict[str, Any], current: list[dict[str, Any]], guild_id: str | None
    ) -> dict[str, Any]:
        previous = next(
            (c for c in current if c["name"] == cmd.get("name") and c.get("type", 1) == cmd.get("type", 1)), None
        )
        out: dict[str, Any] = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "contexts": None,
            "integration_types": [0],
            "name_localizations": None,
            "description_localizations": None,
        }
        out.update(cmd)
        out["id"] = previous["id"] if previous else str(self.world.ids.next())
        out["application_id"] = str(self.world.application_id)
        out["version"] = str(self.world.ids.next())
        if guild_id is not None:
            out["guild_id"] = str(guild_id)
        return out
