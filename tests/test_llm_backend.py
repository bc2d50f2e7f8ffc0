"""The model backend against an OpenAI-compatible server on loopback: the prompt it sends, and what it does with
each kind of answer (grounded, invented, malformed, refused, failed, slow, cut off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.llm.backend import FACTS_IN_PROMPT, ModelBackend, ModelReply, Rejection
from bot.llm.client import ModelClient
from personas.engine import GroundedEngine
from personas.memory import MemoryState
from personas.roster import PERSONAS
from tests.modeltwin import ModelTwin, cut, grounded, hang, malformed, plain, refuse_structured, status

DATE = "f-judgment-day-date"
QUESTION = "when is judgment day"


@pytest_asyncio.fixture
async def model() -> AsyncIterator[ModelTwin]:
    async with ModelTwin(api_key="secret") as twin:
        yield twin


def _backend(model: ModelTwin, engine: GroundedEngine, *, stream: bool = True, timeout_s: float = 5.0) -> ModelBackend:
    client = ModelClient(
        model.base_url, model.model, api_key="secret", timeout_s=timeout_s, max_tokens=200, stream=stream
    )
    return ModelBackend(client, engine, PERSONAS)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_grounded_answer_is_used_and_the_prompt_holds_the_persona_and_known_facts(
    model: ModelTwin, grounded_engine: GroundedEngine, stream: bool
) -> None:
    model.script(grounded("My mom says August 29, 1997. Judgment Day.", [DATE]))
    backend = _backend(model, grounded_engine, stream=stream)
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    reply = await backend.reply("john", QUESTION, MemoryState(), on_text=on_text)
    assert reply == ModelReply("My mom says August 29, 1997. Judgment Day.", (DATE,), reply.tokens)
    assert reply.tokens > 0
    [request] = model.requests
    assert request.headers["Authorization"] == "Bearer secret"
    assert request.json["model"] == "twin-model" and request.stream is stream
    assert request.json["response_format"]["type"] == "json_schema"
    assert "You are John Connor" in request.system and f"[{DATE}]" in request.system
    assert request.last_user == QUESTION
    listed = [word.strip("[]") for word in request.system.split() if word.startswith("[f-")]
    assert 0 < len(listed) <= FACTS_IN_PROMPT
    assert all(grounded_engine.knowledge.base.fact(fact_id).known_by("john") for fact_id in listed)
    assert (len(seen) > 1) is stream  # a streamed answer is reported as it grows


async def test_facts_beyond_the_scene_are_never_sent(model: ModelTwin, grounded_engine: GroundedEngine) -> None:
    backend = _backend(model, grounded_engine)
    await backend.reply("john", "what happened to dyson", MemoryState(), at_scene=2)
    listed = [word.strip("[]") for word in model.requests[0].system.split() if word.startswith("[f-")]
    assert all(grounded_engine.knowledge.base.fact(fact_id).known_by("john", 2) for fact_id in listed)
    assert not any("dyson" in fact_id for fact_id in listed)


@pytest.mark.parametrize(
    ("behaviour", "kind", "detail"),
    [
        (grounded("August 29, 1997. Kyle Reese told us.", [DATE]), "guard", "'Kyle'"),
        (grounded("August 29, 1997, and the war lasts until 2029.", [DATE]), "guard", "'2029'"),
        (grounded("August 29, 1997.", ["f-dyson-shot"]), "guard", "'f-dyson-shot', which the prompt did not hold"),
        (grounded("@everyone August 29, 1997.", [DATE]), "guard", "mention"),
        (malformed(), "unreadable", ""),
        (plain("Judgment Day is August 29, 1997."), "unreadable", ""),  # JSON was asked for and accepted
        (status(429), "error", "RateLimitError"),
        (status(500), "error", "InternalServerError"),
        (cut(grounded("August 29, 1997 is Judgment Day, and nobody believes it.", [DATE]), 20), "error", ""),
    ],
)
async def test_any_answer_that_is_not_a_guarded_reply_is_rejected_with_its_reason(
    model: ModelTwin, grounded_engine: GroundedEngine, behaviour: object, kind: str, detail: str
) -> None:
    model.script(behaviour)  # type: ignore[arg-type]
    result = await _backend(model, grounded_engine).reply("john", QUESTION, MemoryState())
    assert isinstance(result, Rejection) and result.kind == kind, result
    assert detail in result.detail


async def test_a_hang_past_the_timeout_is_an_error_in_time(model: ModelTwin, grounded_engine: GroundedEngine) -> None:
    model.script(hang(30))
    loop_time = __import__("asyncio").get_running_loop().time
    started = loop_time()
    result = await _backend(model, grounded_engine, timeout_s=0.5).reply("john", QUESTION, MemoryState())
    assert isinstance(result, Rejection) and result.kind == "error"
    assert loop_time() - started < 5


async def test_a_server_without_structured_output_is_asked_again_in_plain_text(
    model: ModelTwin, grounded_engine: GroundedEngine
) -> None:
    model.script(
        refuse_structured(plain("Judgment Day? August 29, 1997.")),
        plain(json.dumps({"fact_ids": [DATE], "reply": "August 29, 1997."}) + " hope that helps"),
    )
    backend = _backend(model, grounded_engine)
    first = await backend.reply("john", QUESTION, MemoryState())
    assert isinstance(first, ModelReply) and first.text == "Judgment Day? August 29, 1997."
    assert DATE in first.fact_ids  # plain text cites what the prompt held; the guard checked it against them
    assert "response_format" in model.requests[0].json and "response_format" not in model.requests[1].json
    second = await backend.reply("john", QUESTION, MemoryState())
    assert second == ModelReply("August 29, 1997.", (DATE,), second.tokens)  # JSON found inside plain text
    assert "response_format" not in model.requests[2].json  # not asked again


LONG = (
    "Listen. My mom drilled it into me since I was a kid: August 29, 1997 is Judgment Day. "
    "She says the machines start the war that day. Nobody believes her."
)


async def test_while_it_streams_only_guarded_whole_sentences_are_shown(
    model: ModelTwin, grounded_engine: GroundedEngine
) -> None:
    model.script(grounded(LONG, [DATE]), cut(grounded(LONG + " Kyle Reese told her in 1984. Really.", [DATE]), 250))
    backend = _backend(model, grounded_engine)
    shown: list[str] = []

    async def on_shown(text: str) -> None:
        shown.append(text)

    reply = await backend.reply("john", QUESTION, MemoryState(), on_shown=on_shown)
    assert isinstance(reply, ModelReply) and reply.text == LONG
    assert shown[0] == "Listen." and shown[-1] == LONG.rsplit(" Nobody", 1)[0]
    assert all(LONG.startswith(text) for text in shown)
    shown.clear()
    cut_short = await backend.reply("john", QUESTION, MemoryState(), on_shown=on_shown)
    assert isinstance(cut_short, Rejection) and cut_short.kind == "error"
    assert shown and all(LONG.startswith(text) for text in shown)  # the invented sentence was never shown
    assert not any("Kyle" in text for text in shown)
