"""Talking to any OpenAI-compatible server (Ollama, llama.cpp server, vLLM, LM Studio, hosted APIs) through the
official ``openai`` client: one completion, streamed when the server streams, structured when it can be."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.llm.prompt import REPLY_SCHEMA

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["Completion", "ModelClient", "ModelError"]

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The server failed, timed out, refused or cut the answer short; the offline reply is used instead."""


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's text and the tokens the request cost (prompt and completion)."""

    text: str
    tokens: int
    structured: bool


OnText = Callable[[str], Awaitable[None]]
"""Called with the text so far, each time a streamed answer grows."""


class ModelClient:
    """One server and model. ``structured`` starts True and turns False for good once the server refuses
    ``response_format`` (the prompt still asks for JSON, and plain text is parsed as well as it can be)."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None, timeout_s: float, max_tokens: int, stream: bool = True
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.stream = stream
        self.structured = True
        self._api_key = api_key or "not-needed"
        self._client: AsyncOpenAI | None = None

    def prepare(self) -> None:
        """Import the client library and build the client now (at start-up), not in the first reply's handler."""
        self._openai()
        import openai  # noqa: F401 - complete() imports it again, from the module cache

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI  # imported on first use: the bot starts without paying for it

            self._client = AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s, max_retries=0
            )
        return self._client

    async def complete(self, messages: list[dict[str, str]], on_text: OnText | None = None) -> Completion:
        """One answer; raises ModelError for anything but a whole answer."""
        import openai

        structured = self.structured
        try:
            try:
                return await self._request(messages, structured, on_text)
            except openai.BadRequestError:
                if not structured:
                    raise
                log.info("the model server refused structured output; asking for plain text from now on")
                self.structured = False
                return await self._request(messages, False, on_text)
        except openai.APIError as exc:
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc

    async def _request(self, messages: list[dict[str, str]], structured: bool, on_text: OnText | None) -> Completion:
        options: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens}
        if structured:
            options["response_format"] = {"type": "json_schema", "json_schema": REPLY_SCHEMA}
        client = self._openai()
        if not self.stream:
            answer = await client.chat.completions.create(**options)
            text = answer.choices[0].message.content or "" if answer.choices else ""
            if not answer.choices or answer.choices[0].finish_reason not in ("stop", None):
                raise ModelError(
                    f"the answer stopped early ({answer.choices[0].finish_reason if answer.choices else 'no choice'})"
                )
            tokens = answer.usage.total_tokens if answer.usage else _estimate(messages, text)
            return Completion(text, tokens, structured)
        parts: list[str] = []
        tokens = 0
        finished = None
        stream = await client.chat.completions.create(**options, stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.total_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
                    if on_text is not None:
                        await on_text("".join(parts))
                if choice.finish_reason:
                    finished = choice.finish_reason
        text = "".join(parts)
        if finished != "stop":
            raise ModelError(f"the answer stopped early ({finished or 'the stream ended'})")
        return Completion(text, tokens or _estimate(messages, text), structured)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _estimate(messages: list[dict[str, str]], text: str) -> int:
    """About four characters a token, for servers that do not report usage."""
    return (sum(len(m["content"]) for m in messages) + len(text)) // 4 + 1
