"""What of a streaming model reply may be shown before it is complete: the reply read from partial JSON (or plain
text), cut to whole sentences, and only while every sentence so far passes the guard's partial check."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from bot.llm.guard import FactGuard
from bot.llm.prompt import card_text
from bot.llm.streaming import PartialReply, StreamPreview, read_partial, whole_sentences
from personas.factbase import FactBase
from personas.roster import PERSONAS

DATE = "f-judgment-day-date"
DYSON = "f-dyson-cyberdyne-engineer"
LONG = (
    "Listen. My mom drilled it into me since I was a kid: August 29, 1997 is Judgment Day. "
    "She says the machines start the war that day. Nobody believes her, and they locked her up for saying it. "
    "I used to think she was crazy too. Now I'm not so sure, man."
)


@pytest.fixture(scope="module")
def john(fact_base: FactBase) -> FactGuard:
    others = [persona for key, persona in PERSONAS.items() if key != "john"]
    return FactGuard(PERSONAS["john"], fact_base, others, card_texts=[card_text(PERSONAS["john"])])


def _prefixes(raw: str, step: int = 7) -> list[str]:
    return [raw[:end] for end in range(step, len(raw), step)] + [raw]


def test_the_reply_is_read_from_json_as_it_grows() -> None:
    raw = json.dumps({"fact_ids": [DATE], "reply": 'She said "August".\nMore \\ here.'})
    assert read_partial(raw[:10]) is None  # no reply yet
    assert read_partial('{"fact_ids": ["f-a"], "reply": "Hel') == PartialReply("Hel", ("f-a",))
    assert read_partial('{"fact_ids": ["f-a", "f-b') is None
    assert read_partial('{"reply": "Hi there", "fact_') == PartialReply("Hi there", None)  # ids not named yet
    assert read_partial('{"reply": "a\\u00') == PartialReply("a", None)  # a cut escape is left for later
    assert read_partial(raw) == PartialReply('She said "August".\nMore \\ here.', (DATE,))
    texts = [partial.text for prefix in _prefixes(raw, 3) if (partial := read_partial(prefix)) is not None]
    assert all(later.startswith(earlier) for earlier, later in pairwise(texts))
    assert read_partial("Sure thing. ") == PartialReply("Sure thing.", None)  # plain text, no JSON
    assert read_partial('{"fact_ids": 3, "reply": 4}') is None


def test_only_whole_sentences_are_shown() -> None:
    assert whole_sentences("August 29, 1997") == ""
    assert whole_sentences("It's August 29, 1997.") == ""  # the sentence may not be over ("1997.5")
    assert whole_sentences("It's August 29, 1997. Judg") == "It's August 29, 1997."
    assert whole_sentences('He said "Run!" Then we r') == 'He said "Run!"'
    assert whole_sentences("Wait... what? No") == "Wait... what?"


def test_a_grounded_reply_is_shown_sentence_by_sentence(john: FactGuard) -> None:
    preview = StreamPreview(john, {DATE, DYSON})
    raw = json.dumps({"fact_ids": [DATE], "reply": LONG})
    shown = [text for prefix in _prefixes(raw) if (text := preview.update(prefix)) is not None]
    assert shown[0] == "Listen." and len(shown) >= 4
    assert all(later.startswith(earlier) and len(later) > len(earlier) for earlier, later in pairwise(shown))
    assert all(john.check(text, [DATE], {DATE}).ok for text in shown)
    assert shown[-1] == LONG.rsplit(" Now", 1)[0]  # the last sentence waits for the end of the answer


@pytest.mark.parametrize(
    ("reply", "cited"),
    [
        (LONG.replace("She says the machines", "Kyle Reese says the machines"), [DATE]),  # an invented name
        (LONG.replace("since I was a kid", "since 1984"), [DATE]),  # an invented date
        (LONG.replace("I used to think", "Three billion people die. I used to think"), [DATE]),  # a number
        (LONG.replace("Nobody believes her", "Check https://example.com"), [DATE]),  # a link
    ],
)
def test_nothing_is_shown_from_the_first_sentence_the_guard_refuses(
    john: FactGuard, reply: str, cited: list[str]
) -> None:
    preview = StreamPreview(john, {DATE})
    raw = json.dumps({"fact_ids": cited, "reply": reply})
    shown = [text for prefix in _prefixes(raw) if (text := preview.update(prefix)) is not None]
    bad_start = next(i for i, (a, b) in enumerate(zip(reply, LONG, strict=False)) if a != b)
    assert all(len(text) <= bad_start for text in shown), shown
    assert preview.refused
    assert not john.check(reply, cited, {DATE}).ok  # and the full guard refuses it too


def test_a_fact_the_prompt_did_not_hold_shows_nothing(john: FactGuard) -> None:
    preview = StreamPreview(john, {DATE})
    raw = json.dumps({"fact_ids": [DATE, "f-invented"], "reply": LONG})
    assert [text for prefix in _prefixes(raw) if (text := preview.update(prefix)) is not None] == []


def test_before_the_cited_ids_are_known_any_fact_of_the_prompt_backs_a_sentence(john: FactGuard) -> None:
    line = "Dyson is an engineer at Cyberdyne Systems. He builds the chip."
    preview = StreamPreview(john, {DATE, DYSON})
    raw = '{"reply": ' + json.dumps(line)
    assert preview.update(raw[:-5]) == "Dyson is an engineer at Cyberdyne Systems."
    named = StreamPreview(john, {DATE, DYSON})  # the ids came first and do not hold Dyson
    assert named.update(json.dumps({"fact_ids": [DATE], "reply": line})[:-5]) is None


def test_a_plain_text_answer_is_shown_against_the_prompt_facts(john: FactGuard) -> None:
    preview = StreamPreview(john, {DATE})
    assert preview.update("August 29, 1997 is Judgment Day. My mom") == "August 29, 1997 is Judgment Day."
    assert preview.update("August 29, 1997 is Judgment Day. My mom told me in 1984. And") is None
    assert preview.update("August 29, 1997 is Judgment Day. My mom told me in 1984. And then. More") is None
