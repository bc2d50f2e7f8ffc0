"""migrate-data benchmark: a SQLite file of chat history copied into PostgreSQL. Prints one JSON object.

The SQLite file is filled through the chat repositories (each turn: the user's message, the reply, the memory);
PostgreSQL is a throwaway server of the tests' kind (``T2_TEST_POSTGRES_URL`` names an existing one instead).

Run: ``.venv/bin/python bench/transfer.py [--conversations 2000] [--turns 25] [--batch-size 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from db.chat import ConversationRepository, TurnRecord  # noqa: E402
from db.engine import create_engine, create_session_factory  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.transfer import transfer  # noqa: E402
from tests.postgres import ENV_URL, PostgresServer, create_database, drop_database, find_binaries  # noqa: E402

MEMORY = {"facts": [f"f-fact-{n}" for n in range(20)], "lines": ["a line the persona said"] * 20}


def turn_of(conversation_id: int, turn: int) -> TurnRecord:
    return TurnRecord(conversation_id, "john", "Who is Dyson?", "Dyson's an engineer, man.", ["f-dyson"], turn, MEMORY)


async def fill(url: str, conversations: int, turns: int) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        for first in range(0, conversations, 100):
            async with sessions.begin() as session:
                repository = ConversationRepository(session)
                keys = [(f"discord:{n}", f"channel:{n % 500}", "john") for n in range(first, first + 100)]
                states = await repository.load_or_create_many(keys)
                for turn in range(1, turns + 1):
                    await repository.write_turns([turn_of(state.conversation_id, turn) for state in states])
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace, folder: Path, server_url: str) -> dict[str, Any]:
    source = f"sqlite+aiosqlite:///{folder}/source.db"
    await fill(source, args.conversations, args.turns)
    target = await asyncio.to_thread(create_database, server_url)
    try:
        started = time.perf_counter()
        counts = await transfer(make_url(source), make_url(target), batch_size=args.batch_size)
        seconds = time.perf_counter() - started
    finally:
        await asyncio.to_thread(drop_database, server_url, target)
    rows = sum(count.target for count in counts)
    return {
        "rows": rows,
        "messages": next(count.target for count in counts if count.table == "messages"),
        "source_mb": round((folder / "source.db").stat().st_size / 1e6, 1),
        "batch_size": args.batch_size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "counts_match": all(count.matches for count in counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=25, help="turns per conversation (two messages each)")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    server: PostgresServer | None = None
    server_url = os.environ.get(ENV_URL, "").strip()
    if not server_url:
        binaries = find_binaries()
        if binaries is None:
            sys.exit("no PostgreSQL server programs found; set T2_TEST_POSTGRES_URL")
        server = PostgresServer(binaries)
        server_url = server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="t2-transfer-") as folder:
            print(json.dumps(asyncio.run(run(args, Path(folder), server_url))))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
