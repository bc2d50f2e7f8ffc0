"""``python -m bot cards export DIR`` and ``cards import FILE``: Character Card V2 files for the personas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cards.model import CardError, ParsedCard

__all__ = ["add_arguments", "run"]

_SHOWN_WARNINGS = 10
"""A card from an older tool may lack a field in every lorebook entry: the first warnings tell enough."""


def add_arguments(commands: Any) -> None:
    """Add the ``cards`` command and its ``export`` and ``import`` subcommands to the command line."""
    cards = commands.add_parser("cards", help="Character Card V2 files: export the personas, check a card")
    actions = cards.add_subparsers(dest="cards_command", required=True)
    export = actions.add_parser("export", help="write each persona as DIR/<persona>.json and DIR/<persona>.png")
    export.add_argument("directory", metavar="DIR", type=Path, help="the folder to write into (made if missing)")
    export.add_argument(
        "--at-scene", type=int, metavar="N", help="only the facts each persona knows by scene N (default: all)"
    )
    read = actions.add_parser("import", help="read a V2 or V1 card (.json or .png), check it and summarise it")
    read.add_argument("file", metavar="FILE", type=Path, help="the card file")
    read.add_argument("--json", action="store_true", help="print the card as V2 JSON instead of a summary")


def run(args: argparse.Namespace) -> int:
    """Run ``cards export`` or ``cards import``; returns the exit code (2 for a bad card or argument)."""
    if args.cards_command == "export":
        return _export(args.directory, args.at_scene)
    return _import(args.file, args.json)


def _export(directory: Path, at_scene: int | None) -> int:
    from bot.cards.export import write_cards
    from personas.factbase import load_fact_base
    from personas.roster import PERSONAS

    base = load_fact_base()
    if at_scene is not None and not 1 <= at_scene <= len(base.scenes):
        print(f"t2-companion: --at-scene must be a scene number from 1 to {len(base.scenes)}", file=sys.stderr)
        return 2
    for exported in write_cards(directory, PERSONAS.values(), base, at_scene):
        print(f"{exported.persona}: {exported.json_path} and {exported.png_path}, {exported.entries} lorebook entries")
    return 0


def _import(path: Path, as_json: bool) -> int:
    from bot.cards.export import card_json_text
    from bot.cards.reading import read_card_file

    try:
        parsed = read_card_file(path)
    except CardError as exc:
        print(f"t2-companion: {path}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        sys.stdout.write(card_json_text(parsed.card))
    else:
        print(_summary(parsed, path))
        print(f"  on a server: {_server_use(parsed)}")
    for warning in parsed.warnings[:_SHOWN_WARNINGS]:
        print(f"warning: {warning}", file=sys.stderr)
    if (hidden := len(parsed.warnings) - _SHOWN_WARNINGS) > 0:
        print(f"warning: and {hidden} more like these", file=sys.stderr)
    return 0


def _summary(parsed: ParsedCard, path: Path) -> str:
    """A few lines about the card: name, format, what it holds."""
    card = parsed.card
    spec = "Character Card V2" if parsed.version == "v2" else "Character Card V1"
    lines = [f"{card.name} ({spec}, {path.suffix.lstrip('.').upper() or 'JSON'})"]
    if card.description:
        lines.append(f"  description: {_clip(card.description)}")
    greetings = 1 + len(card.alternate_greetings) if card.first_mes else len(card.alternate_greetings)
    examples = card.mes_example.count("<START>")
    lines.append(f"  greetings: {greetings}, example chats: {examples}")
    if card.character_book is not None:
        entries = card.character_book.entries
        enabled = sum(entry.enabled for entry in entries)
        lines.append(f"  lorebook: {len(entries)} entries ({enabled} enabled)")
    if card.tags:
        lines.append(f"  tags: {', '.join(card.tags)}")
    if card.creator or card.character_version:
        lines.append(f"  by: {card.creator or '?'} {card.character_version}".rstrip())
    if (ours := card.companion) is not None and ours.persona is not None:
        until = ours.knows_until_scene
        lines.append(f"  t2-companion: persona {ours.persona}, knows the story until scene {until or '?'}")
    return "\n".join(lines)


def _server_use(parsed: ParsedCard) -> str:
    """What ``/persona card import`` would make of the card, or why it would refuse it."""
    from bot.cards.boundary import NewCharacter, card_role
    from personas.factbase import load_fact_base
    from personas.roster import PERSONAS

    try:
        role = card_role(parsed.card, load_fact_base(), PERSONAS)
    except CardError as exc:
        return f"refused by /persona card import ({exc})"
    if isinstance(role, NewCharacter):
        until = f" by scene {role.until_scene}" if role.until_scene is not None else ""
        return f"adds the character {role.entity}, knowing what {role.knows_like} knows{until}"
    return f"restyles {role.persona}'s voice"


def _clip(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
