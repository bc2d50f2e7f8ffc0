"""Grounding benchmark: how often the personas answer plot questions with a right fact, on blind question sets.

Run: ``.venv/bin/python bench/grounding.py [SET.jsonl ...] [--failures] [--sweep 0.5,0.6,0.7]``. With no set it
scores the frozen test half, ``tests/data/blind-test.jsonl``. Prints one JSON object per set. ``--failures`` also
lists every miss, and ``--sweep`` scores each decision threshold given: use both on the dev half only
(``tests/data/blind-dev.jsonl``), so the test half stays a fair measure.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personas.engine import GroundedEngine  # noqa: E402
from personas.factbase import load_fact_base  # noqa: E402
from personas.knowledge import Knowledge  # noqa: E402
from personas.roster import PERSONAS  # noqa: E402
from personas.understanding.evaluation import load_questions, score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=[ROOT / "tests/data/blind-test.jsonl"])
    parser.add_argument("--failures", action="store_true", help="list each miss (dev sets only)")
    parser.add_argument(
        "--sweep",
        help="decision thresholds to score (dev sets only): 0.7,0.8 for the confidence, or slotted=0.6,0.7 for "
        "another setting of personas.understanding.decide.Thresholds",
    )
    args = parser.parse_args()
    engine = GroundedEngine(Knowledge(load_fact_base()), PERSONAS)
    gc.collect()
    gc.freeze()  # as the bot does once connected (bot/discord/client.py on_ready): start-up objects are never rescanned
    if args.sweep:
        name, _, values = args.sweep.rpartition("=")
        name = name or "confidence"
        for value in (float(value) for value in values.split(",")):
            engine.thresholds = replace(engine.thresholds, **{name: value})
            for path in args.sets:
                figures = score(engine, load_questions(path)).figures()
                figures.pop("per_persona")
                print(json.dumps({"set": path.name, name: value, **figures}))
        return
    for path in args.sets:
        report = score(engine, load_questions(path))
        print(json.dumps({"set": path.name, **report.figures()}))
        if args.failures:
            for outcome in report.outcomes:
                if outcome.verdict in ("right", "refused_unanswerable", "refused_unknowable", "injection_refused"):
                    continue
                if outcome.verdict == "hostile_safe":
                    continue
                row = outcome.row
                print(
                    f"{outcome.verdict:20} {row['id']} [{outcome.persona}] {row['text'][:90]!r} -> "
                    f"{outcome.kind} {list(outcome.fact_ids)} want {row.get('facts')}",
                    file=sys.stderr,
                )


if __name__ == "__main__":
    main()
