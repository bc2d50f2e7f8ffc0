"""The twin's rate limits, over plain HTTP on a fake clock: headers, shared buckets, reset timing, the global limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.clock import FakeClock
from tests.twin import DiscordTwin
from tests.twin.ratelimits import GLOBAL, MESSAGES, REACTIONS, WEBHOOK_TOKEN

pytest_plugins = ["tests.twin.fixtures"]


class Api:
    """Raw requests to the twin, as the bot (with its token) or anonymously."""

    def __init__(self, twin: DiscordTwin, session: aiohttp.ClientSession) -> None:
        self.twin = twin
        self.session = session

    async def __call__(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bot {self.twin.token}"} if auth else {}
        async with self.session.request(method, self.twin.api_url + path, json=body, headers=headers) as response:
            data = await response.json() if response.status != 204 else None
            return response.status, dict(response.headers), data


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[Api]:
    async with DiscordTwin(clock=clock) as twin, aiohttp.ClientSession() as session:
        yield Api(twin, session)


def channels(twin: DiscordTwin, count: int) -> list[int]:
    guild = twin.add_guild()
    return [twin.add_text_channel(guild.id, f"c{n}").id for n in range(count)]


@pytest.mark.allow_429
async def test_a_channel_takes_five_messages_per_five_seconds_with_discords_headers(api: Api, clock: FakeClock) -> None:
    [channel] = channels(api.twin, 1)
    seen = []
    for _ in range(5):
        status, headers, _ = await api("POST", f"/channels/{channel}/messages", {"content": "hi"})
        seen.append((status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset-After"]))
        assert headers["X-RateLimit-Limit"] == "5"
        assert headers["X-RateLimit-Bucket"] == MESSAGES.bucket_hash
        reset_at = clock.now + float(headers["X-RateLimit-Reset-After"])
        assert float(headers["X-RateLimit-Reset"]) == pytest.approx(reset_at)
        clock.advance(0.5)
    assert [remaining for _, remaining, _ in seen] == ["4", "3", "2", "1", "0"]
    assert [after for _, _, after in seen] == ["5.000", "4.500", "4.000", "3.500", "3.000"]
    assert {status for status, _, _ in seen} == {200}

    status, headers, body = await api("POST", f"/channels/{channel}/messages", {"content": "one too many"})
    assert status == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    assert headers["Retry-After"] == "3" and headers["X-RateLimit-Scope"] == "user"
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Reset-After"] == "2.500"
    assert "X-RateLimit-Global" not in headers and headers["Via"]
    assert [(r.path, r.rate_limit_scope) for r in api.twin.rate_limited] == [(f"/channels/{channel}/messages", "user")]
    assert len(api.twin.messages[channel]) == 5, "a refused request changes nothing"

    clock.advance(2.499)
    assert (await api("POST", f"/channels/{channel}/messages", {"content": "early"}))[0] == 429
    clock.advance(0.001)  # the window ends: a new one opens with this request
    status, headers, _ = await api("POST", f"/channels/{channel}/messages", {"content": "on time"})
    assert (status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset-After"]) == (200, "4", "5.000")


@pytest.mark.allow_429
async def test_buckets_are_counted_per_channel_and_shared_between_routes(api: Api) -> None:
    first, second = channels(api.twin, 2)
    for _ in range(5):
        await api("POST", f"/channels/{first}/messages", {"content": "hi"})
    assert (await api("POST", f"/channels/{first}/messages", {"content": "more"}))[0] == 429
    status, headers, message = await api("POST", f"/channels/{second}/messages", {"content": "elsewhere"})
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")
    assert headers["X-RateLimit-Bucket"] == MESSAGES.bucket_hash, "the bucket does not include the channel"

    # Adding and removing a reaction share one bucket of 1 per 0.25 s per channel.
    reaction = f"/channels/{second}/messages/{message['id']}/reactions/%F0%9F%91%8D/@me"
    status, headers, _ = await api("PUT", reaction)
    assert (status, headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == (204, "1", "0")
    status, headers, _ = await api("DELETE", reaction)
    assert (status, headers["X-RateLimit-Bucket"]) == (429, REACTIONS.bucket_hash)

    # Executing a webhook and editing its message share the webhook's bucket (5 per 2 s), counted per webhook.
    _, _, hook = await api("POST", f"/channels/{second}/webhooks", {"name": "Hook"})
    _, _, other = await api("POST", f"/channels/{second}/webhooks", {"name": "Other"})
    execute = f"/webhooks/{hook['id']}/{hook['token']}"
    _, headers, posted = await api("POST", execute + "?wait=true", {"content": "as a hook"}, auth=False)
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Bucket"]) == ("5", WEBHOOK_TOKEN.bucket_hash)
    for _ in range(4):
        status, headers, _ = await api("PATCH", f"{execute}/messages/{posted['id']}", {"content": "edited"}, auth=False)
        assert status == 200
    assert headers["X-RateLimit-Remaining"] == "0"
    assert (await api("POST", execute, {"content": "again"}, auth=False))[0] == 429
    assert (await api("POST", f"/webhooks/{other['id']}/{other['token']}", {"content": "x"}, auth=False))[0] == 204


@pytest.mark.allow_429
async def test_the_global_limit_is_fifty_requests_a_second_per_token(api: Api, clock: FakeClock) -> None:
    many = channels(api.twin, 2)
    _, _, hook = await api("POST", f"/channels/{many[0]}/webhooks", {"name": "Hook"})
    for n in range(GLOBAL.limit - 1):  # about 25 per channel: no route bucket is near its own limit
        assert (await api("GET", f"/channels/{many[n % 2]}"))[0] == 200
    status, headers, body = await api("GET", f"/channels/{many[0]}")
    assert status == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 1.0, "global": True}
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert headers["Retry-After"] == "1" and "X-RateLimit-Bucket" not in headers
    assert [r.rate_limit_scope for r in api.twin.rate_limited] == ["global"]

    # A webhook executed without the token counts against the caller's address, not the token; interaction
    # endpoints (here an unknown interaction's followup) are not bound to the global limit at all.
    assert (await api("POST", f"/webhooks/{hook['id']}/{hook['token']}", {"content": "hi"}, auth=False))[0] == 204
    assert (await api("POST", f"/webhooks/{api.twin.application_id}/no-such-token", {"content": "hi"}))[0] == 404

    clock.advance(1.0)
    assert (await api("GET", f"/channels/{many[0]}"))[0] == 200


async def test_limits_can_be_turned_off() -> None:
    async with DiscordTwin(rate_limits=False) as twin, aiohttp.ClientSession() as session:
        api = Api(twin, session)
        [channel] = channels(twin, 1)
        for _ in range(8):
            status, headers, _ = await api("POST", f"/channels/{channel}/messages", {"content": "hi"})
            assert status == 200 and "X-RateLimit-Bucket" not in headers
        assert twin.rate_limited == []
