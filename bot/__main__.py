"""Command line: ``python -m bot [run|console|ask|migrate|migrate-data|export|cards]`` (or ``t2-companion``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from bot.cards import cli as cards_cli
from bot.config import ConfigError, Settings, load_settings, normalise_database_url
from bot.console import cli as trivia_cli
from bot.console.input import run_interactive
from bot.ops.logs import configure_handler
from db.common import StorageError

__all__ = ["main"]

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t2-companion", description="Chat, trivia and stories with T2's characters.")
    # --user may come before or after the command ("./run --user ann", "./run console --user ann"); a command's own
    # default must not hide one given before it, so the default is set here only.
    parser.add_argument("--user", default="local", help="your name in the console (default: local)")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser(
        "run", help="connect to Discord when DISCORD_TOKEN is set, else open the console (default)"
    )
    console = commands.add_parser("console", help="chat with the personas in this terminal")
    for parser_ in (run, console):
        parser_.add_argument("--user", default=argparse.SUPPRESS, help="your name in the console (default: local)")
    ask = commands.add_parser("ask", help="answer one message, or one message per line of standard input")
    ask.add_argument("--persona", default="john", help="john, sarah or t800 (default: john)")
    ask.add_argument(
        "--user", default=argparse.SUPPRESS, help="who is asking; the same user continues the same conversation"
    )
    ask.add_argument(
        "--at-scene",
        type=int,
        metavar="N",
        help="answer as the persona knows the story by scene N (1-8), as in a story session at that scene",
    )
    ask.add_argument(
        "--json", action="store_true", help='print one JSON line per reply: {"persona", "reply", "fact_ids"}'
    )
    ask.add_argument("message", nargs="*", help="the message; without it, read messages from standard input")
    migrate = commands.add_parser("migrate", help="bring the database schema to the newest revision")
    migrate.add_argument("--revision", default="head", help="upgrade to this revision (default: head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION instead (base drops all)")
    _add_migrate_data(commands)
    export = commands.add_parser("export", help="print everything stored about a user as JSON")
    export.add_argument("--user", default=argparse.SUPPRESS, help="a console user name, or discord:<id>")
    story = commands.add_parser("story", help="group stories: play one in this terminal").add_subparsers(dest="story")
    play = story.add_parser("play", help="a solo or hot-seat story in this terminal (continues an unfinished one)")
    play.add_argument("--order", choices=("list", "vote", "natural"), default="list", help="turn order (default: list)")
    trivia_cli.add_arguments(commands)
    cards_cli.add_arguments(commands)
    return parser


def _add_migrate_data(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mover = commands.add_parser(
        "migrate-data",
        help="copy every table from one database into a new, empty one (e.g. SQLite to PostgreSQL)",
        description="Copy every table into an empty target database (brought to the newest revision first), "
        "keeping ids, then compare the row counts; the exit status is 1 when any count differs. "
        "Stop the bot before copying.",
    )
    mover.add_argument("--from", dest="source", required=True, metavar="URL", help="the database to copy from")
    mover.add_argument("--to", dest="target", required=True, metavar="URL", help="the empty database to copy into")
    mover.add_argument("--batch-size", type=int, default=1000, metavar="N", help="rows copied at a time (1000)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"t2-companion: {exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    in_console = command == "console" or (command == "run" and settings.discord_token is None)
    _configure_logging(settings, "INFO" if command == "run" else "WARNING", in_console)
    try:
        if command == "run" and settings.discord_token is not None:
            from bot.discord.runner import run_discord

            return run_discord(settings)
        if command in ("run", "console"):
            from bot.console.chat import run_console

            return run_interactive(run_console(settings, user=getattr(args, "user", "local")))
        if command == "ask":
            message = " ".join(args.message)
            return asyncio.run(_ask(settings, args.persona, args.user, args.json, message, args.at_scene))
        if command == "migrate":
            return asyncio.run(_migrate(settings, args.revision, args.downgrade))
        if command == "migrate-data":
            return asyncio.run(_migrate_data(settings, args.source, args.target, args.batch_size))
        if command == "export":
            return asyncio.run(_export(settings, args.user))
        if command == "story":
            from bot.console.story import run_story

            return run_interactive(run_story(settings, args.order)) if args.story == "play" else 2
        if command == "trivia":
            return trivia_cli.run(settings, args)
        if command == "cards":
            return cards_cli.run(args)
    except ConfigError as exc:
        print(f"t2-companion: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"t2-companion: the database failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def local_user(name: str) -> str:
    """The stored id of a console user (Discord users are ``discord:<id>``)."""
    return name if name.startswith("discord:") else f"local:{name}"


def _configure_logging(settings: Settings, default_level: str, in_console: bool) -> None:
    """Log to standard error at ``LOG_LEVEL`` (or ``default_level``), as text or JSON lines (``LOG_FORMAT``).

    In the console, without ``LOG_LEVEL``, only warnings reach the screen, so logs never print over the
    conversation; everything from INFO up also goes to ``t2-companion.log`` in the data folder.
    """
    root = logging.getLogger()
    screen = logging.StreamHandler()
    configure_handler(screen, settings.log_format)
    root.addHandler(screen)
    if in_console and settings.log_level is None:
        screen.setLevel(logging.WARNING)
        folder = settings.data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        journal = logging.FileHandler(folder / "t2-companion.log", encoding="utf-8")
        configure_handler(journal, settings.log_format)
        root.addHandler(journal)
        root.setLevel(logging.INFO)
    else:
        root.setLevel(settings.log_level or default_level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


async def _ask(
    settings: Settings, persona: str, user: str, as_json: bool, message: str, at_scene: int | None = None
) -> int:
    from bot.app import build_app
    from bot.chat import UnknownPersonaError

    app = await build_app(settings)
    try:
        scenes = len(app.knowledge.base.scenes)
        if at_scene is not None and not 1 <= at_scene <= scenes:
            print(f"t2-companion: --at-scene must be a scene number from 1 to {scenes}", file=sys.stderr)
            return 2
        try:
            chosen = app.chat.persona(persona).id
        except UnknownPersonaError as exc:
            print(f"t2-companion: {exc}", file=sys.stderr)
            return 2
        lines = [message] if message else (line.rstrip("\n") for line in sys.stdin)
        for line in lines:
            reply = await app.chat.reply(local_user(user), "console", line, persona=chosen, at_scene=at_scene)
            if as_json:
                print(json.dumps({"persona": reply.persona.id, "reply": reply.text, "fact_ids": list(reply.fact_ids)}))
            else:
                print(f"{reply.persona.display_name}: {reply.text}")
            sys.stdout.flush()
    finally:
        await app.close()
    return 0


async def _migrate(settings: Settings, revision: str, downgrade_to: str | None) -> int:
    from db import migrate
    from db.engine import create_engine

    engine = create_engine(settings.resolved_database_url(), timeout_s=settings.db_timeout_s, statement_timeout=False)
    try:
        if downgrade_to:
            await migrate.downgrade(engine, downgrade_to)
        else:
            await migrate.upgrade(engine, revision)
        print(f"database at revision {await migrate.current_revision(engine) or 'base'}")
    finally:
        await engine.dispose()
    return 0


async def _migrate_data(settings: Settings, source: str, target: str, batch_size: int) -> int:
    from db.transfer import TransferError, format_counts, transfer

    if batch_size < 1:
        raise ConfigError("--batch-size must be 1 or more")
    source_url = normalise_database_url(source, "--from")
    target_url = normalise_database_url(target, "--to")

    def progress(table: str, rows: int) -> None:
        print(f"\r{table}: {rows:,} rows", end="", file=sys.stderr, flush=True)

    try:
        counts = await transfer(
            source_url,
            target_url,
            batch_size=batch_size,
            timeout_s=settings.db_timeout_s,
            progress=progress if sys.stderr.isatty() else None,
        )
    except TransferError as exc:
        print(f"t2-companion: {exc}", file=sys.stderr)
        return 1
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(format_counts(counts))
    differ = [count.table for count in counts if not count.matches]
    if differ:
        differing = ", ".join(differ)
        print(f"t2-companion: the row counts differ in {differing}: was the bot still running?", file=sys.stderr)
        return 1
    print(f"copied {sum(count.target for count in counts):,} rows in {len(counts)} tables; every count matches")
    return 0


async def _export(settings: Settings, user: str) -> int:
    from bot.app import build_app

    app = await build_app(settings)
    try:
        print(json.dumps(await app.export_user(local_user(user)), indent=2, ensure_ascii=False))
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
