"""Fuzzing the services directly: the persona engine and the chat service with anything people type."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import build_app
from bot.chat import MAX_STORED_CHARS
from bot.config import Settings
from db.chat.models import Message
from db.common import storable
from personas.engine import GroundedEngine
from personas.factbase import FactBase
from personas.memory import MemoryState
from personas.roster import PERSONAS
from personas.understanding.address import split_addressee
from tests.fuzz.conftest import CaseCounter, scaled
from tests.fuzz.harness import LoopThread
from tests.fuzz.strategies import Ids, messages

IDS = Ids(users=(80351110224678912, 1), roles=(1234567890,), channels=(42,), bot=999)
PINGS = re.compile(r"@everyone|@here|<@[!&]?\d+>|<#\d+>")
SCENES = st.none() | st.integers(1, 8)


def _check_reply(text: str, fact_ids: tuple[str, ...] | list[str], known: set[str]) -> None:
    assert text.strip(), "an empty reply"
    assert not PINGS.search(text), f"the reply repeats mention syntax: {text!r}"
    assert set(fact_ids) <= known, f"unknown facts cited: {set(fact_ids) - known}"


def test_the_engine_answers_anything_in_voice(
    grounded_engine: GroundedEngine, fact_base: FactBase, cases: CaseCounter
) -> None:
    known = {fact.id for fact in fact_base.facts}

    @settings(max_examples=scaled(2000))
    @given(
        persona=st.sampled_from(sorted(PERSONAS)),
        texts=st.lists(messages(IDS), min_size=1, max_size=4),
        at_scene=SCENES,
    )
    def check(persona: str, texts: list[str], at_scene: int | None) -> None:
        memory = MemoryState()
        for text in texts:
            reply = grounded_engine.respond(persona, text, memory, seed_key="fuzz", at_scene=at_scene)
            _check_reply(reply.text, reply.fact_ids, known)
            again = grounded_engine.respond(persona, text, memory, seed_key="fuzz", at_scene=at_scene)
            assert again == reply, "the same state gave another reply"
            memory = reply.memory
            cases.add()

    check()


def test_the_chat_service_answers_and_stores_anything(
    database_url: str, fact_base: FactBase, cases: CaseCounter
) -> None:
    known = {fact.id for fact in fact_base.facts}
    turns = st.tuples(
        st.sampled_from(["discord:1", "discord:80351110224678912", "local", "ünï'; --"]),
        st.sampled_from(["dm:1", "channel:42", "channel:'; DROP TABLE users; --"]),
        st.none() | st.sampled_from(sorted(PERSONAS)),
        messages(IDS),
    )
    with LoopThread() as loop:
        app = loop.call(lambda: build_app(Settings(database_url=database_url)), timeout=120)
        try:

            @settings(max_examples=scaled(300))
            @given(conversation=st.lists(turns, min_size=1, max_size=4))
            def check(conversation: list[tuple[str, str, str | None, str]]) -> None:
                async def run() -> None:
                    for user, scope, persona, text in conversation:
                        reply = await app.chat.reply(user, scope, text, persona=persona)
                        _check_reply(reply.text, reply.fact_ids, known)
                        async with app.sessions() as session:
                            stored = await session.scalars(
                                select(Message.text).where(Message.role == "user").order_by(Message.id.desc()).limit(1)
                            )
                            assert stored.one() == storable(split_addressee(text)[1][:MAX_STORED_CHARS])
                        cases.add()

                loop.call(run)

            check()
        finally:
            loop.call(app.close)
