"""The answer judge: a table of judged guesses, right and wrong, covering every rule of the issue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.trivia.judge import damerau_levenshtein, judge, prepare, reveal, typo_allowance
from bot.trivia.normalise import normalise
from personas.factbase import load_fact_base

DYSON = ["Miles Bennett Dyson", "Miles Dyson", "Dyson"]
DATE = ["August 29, 1997"]
LA = ["Los Angeles", "LA", "L.A."]

# (guess, accepted answers, correct?)
TABLE: list[tuple[str, list[str], bool]] = [
    # equal after normalising: case, accents, punctuation, "&", articles, NFKC
    ("Dyson", DYSON, True),
    ("dyson", DYSON, True),
    ("DYSON!!!", DYSON, True),
    ("miles bennett dyson", DYSON, True),
    ("Miles Bennett Dyson.", DYSON, True),
    ("Dr Wily", ["Dr. Wily"], True),
    ("dr. wily", ["Dr Wily"], True),
    ("Tom and Jerry", ["Tom & Jerry"], True),
    ("tom & jerry", ["Tom and Jerry"], True),
    ("Café", ["cafe"], True),
    ("Ｓｋｙｎｅｔ", ["Skynet"], True),
    ("Pokémon", ["Pokemon"], True),
    ("the Resistance", ["Resistance"], True),
    ("resistance", ["the Human Resistance", "the Resistance"], True),
    ("a motorcycle", ["motorcycle"], True),
    ("An AI", ["AI"], True),
    ("the mall", ["a shopping mall", "the mall"], True),
    ("T-1000", ["T-1000"], True),
    ("t1000", ["T-1000"], True),
    ("T 1000", ["T-1000"], True),
    ("Sarah's", ["Sarah"], True),
    ("L.A.", LA, True),
    ("la", LA, True),
    # contains an answer as a whole-word phrase, with at most a couple of other words
    ("dr. dyson", DYSON, True),
    ("Doctor Miles Dyson", DYSON, True),
    ("it was skynet", ["Skynet"], True),
    ("I think it is Sarah", ["Sarah"], True),
    ("skynet obviously", ["Skynet"], True),
    ("in los angeles", LA, True),
    ("los angeles, california", LA, True),
    ("his foster parents", ["foster parents"], True),
    ("on a motorbike", ["a motorcycle", "motorbike"], True),
    ("cyberdyne systems building", ["Cyberdyne Systems", "Cyberdyne"], True),
    ("the police car", ["a police car"], True),
    ("a red motorcycle", ["motorcycle"], True),
    # lists of candidates are not answers
    ("red blue green", ["blue"], False),
    ("red, blue", ["blue"], False),
    ("red, blue, green", ["blue"], False),
    ("blue or red", ["blue"], False),
    ("sarah or john", ["Sarah"], False),
    ("sarah and john", ["Sarah"], False),
    ("sarah/john", ["Sarah"], False),
    ("skynet; cyberdyne", ["Skynet"], False),
    ("dyson miles sarah connor", DYSON, False),
    ("mexico canada brazil", ["Mexico"], False),
    # whole words only: "chair" is not "air"
    ("chair", ["air"], False),
    ("airport", ["air"], False),
    ("skynetwork", ["Skynet"], False),
    ("bluegrass", ["blue"], False),
    ("dysonsphere", ["Dyson"], False),
    # negations
    ("not skynet", ["Skynet"], False),
    ("it wasn't skynet", ["Skynet"], False),
    ("never dyson", DYSON, False),
    # too many other words
    ("the answer is definitely a big red shiny blue thing", ["blue"], False),
    ("dyson built the chip in his lab", DYSON, False),
    # typos: a threshold that grows with the answer's length
    ("skynett", ["Skynet"], True),
    ("sky net", ["Skynet"], True),
    ("Miles Benett Dyson", DYSON, True),
    ("miles bennet dysen", DYSON, True),
    ("mexcio", ["Mexico"], True),
    ("polyaloy", ["mimetic polyalloy", "polyalloy"], True),
    ("mimetic polyaloy", ["mimetic polyalloy"], True),
    ("judgement day", ["Judgment Day"], True),
    ("jugment day", ["Judgment Day"], True),
    ("cyberdine", ["Cyberdyne"], True),
    ("motorcylce", ["motorcycle"], True),
    ("skymet", ["Skynet"], True),
    ("skyfall", ["Skynet"], False),
    ("xkynet", ["Skynet"], False),
    ("maxico", ["Mexico"], True),
    ("texaco", ["Mexico"], False),
    # short answers must be exact
    ("jon", ["John"], False),
    ("johm", ["John"], False),
    ("al", ["AI"], False),
    ("cpo", ["CPU"], False),
    ("cop", ["cop"], True),
    ("cops", ["cop"], True),
    # numbers: words read as digits, and exact
    ("1995", ["1995"], True),
    ("nineteen ninety-five", ["1995"], True),
    ("nineteen ninety five", ["1995"], True),
    ("twenty-nine", ["29"], True),
    ("twenty nine", ["29"], True),
    ("29", ["twenty-nine"], True),
    ("one hundred and one", ["101"], True),
    ("model one oh one", ["Model 101"], True),
    ("1995 1996", ["1995"], False),
    ("Model 101", ["Model 101"], True),
    ("two thousand and one", ["2001"], True),
    ("1996", ["1995"], False),
    ("1995.5", ["1995"], False),
    ("195", ["1995"], False),
    ("t-1001", ["T-1000"], False),
    ("three", ["3"], True),
    ("third", ["3rd"], True),
    ("4", ["3"], False),
    # dates in any common form
    ("August 29, 1997", DATE, True),
    ("Aug 29th 1997", DATE, True),
    ("29 August 1997", DATE, True),
    ("29th of August, 1997", DATE, True),
    ("8/29/97", DATE, True),
    ("8/29/1997", DATE, True),
    ("29/08/1997", DATE, True),
    ("1997-08-29", DATE, True),
    ("29.08.1997", DATE, True),
    ("august twenty-ninth 1997", DATE, True),
    ("it was aug 29 1997", DATE, True),
    ("August 28, 1997", DATE, False),
    ("August 29, 1998", DATE, False),
    ("1997", DATE, False),
    ("8/29/98", DATE, False),
    # empty and noise
    ("", ["Skynet"], False),
    ("???", ["Skynet"], False),
    ("the", ["Skynet"], False),
]


@pytest.mark.parametrize(("guess", "answers", "expected"), TABLE, ids=[f"{g!r}->{a[0]!r}" for g, a, _ in TABLE])
def test_the_judgement_table(guess: str, answers: list[str], expected: bool) -> None:
    verdict = judge(guess, answers)
    assert verdict.correct is expected, verdict


def test_the_table_is_large_and_covers_both_ways() -> None:
    assert len(TABLE) >= 80
    assert sum(1 for *_, ok in TABLE if ok) >= 40 and sum(1 for *_, ok in TABLE if not ok) >= 40


def test_verdicts_say_why() -> None:
    assert judge("red, blue", ["blue"]).how == "list"
    assert judge("not skynet", ["Skynet"]).how == "negated"
    assert judge("dyson built the chip in his lab", DYSON).how == "extra words"
    assert judge("chair", ["air"]).how == "no match"
    assert judge("skynett", ["Skynet"]).how == "fuzzy"
    assert judge("dr dyson", DYSON).matched == "Dyson"
    assert judge("   ", ["x"]).how == "empty"


def test_normalising() -> None:
    assert normalise("The T-1000 & Dr. Dyson") == "t1000 and dr dyson"
    assert normalise("Aug 29th 1997") == normalise("8/29/97") == normalise("1997-08-29") == "d19970829"
    assert normalise("twenty-nine") == "29"
    assert typo_allowance("sky") == 0 and typo_allowance("skynet") == 1 and typo_allowance("cyberdyne") == 2


def test_damerau_levenshtein() -> None:
    assert damerau_levenshtein("skynet", "skynet") == 0
    assert damerau_levenshtein("skynte", "skynet") == 1
    assert damerau_levenshtein("kitten", "sitting") == 3
    assert damerau_levenshtein("kitten", "sitting", 1) == 2


def test_reveal_shows_more_with_each_hint() -> None:
    assert reveal("Miles Dyson", 0) == "_____ _____"
    assert reveal("Miles Dyson", 0.2) == "M____ D____"
    third = reveal("Miles Dyson", 2 / 3)
    assert third.count("_") < 5 and third[0] == "M"
    assert reveal("Miles Dyson", 1) == "Miles Dyson"


def test_every_plot_answer_is_accepted_by_itself_and_a_canonical_typo() -> None:
    base = load_fact_base()
    for fact in base.facts:
        for item in fact.trivia:
            accepted = prepare(item.answers)
            for answer in item.answers:
                assert judge(answer, accepted).correct, (item.question, answer)


def test_the_judge_command_prints_json(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bot", "trivia", "judge", "--answers", "Miles Bennett Dyson|Dyson", "dr. dyson"],
        capture_output=True,
        text=True,
        cwd=root,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/t2.db"},
    )
    data = json.loads(result.stdout)
    assert data["correct"] is True and data["matched"] == "Dyson"
