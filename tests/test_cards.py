"""Character Card V2 export and import: files written by the CLI, read back by Pillow and by a plain chunk walk."""

from __future__ import annotations

import base64
import copy
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.cards.export import build_card, card_json_text, write_cards
from bot.cards.model import BookEntry, CardError, CharacterBook, CharacterCard, card_to_json
from bot.cards.png import card_png
from bot.cards.reading import read_card_bytes, read_card_file
from bot.cards.validation import parse_card
from bot.llm.guard import FactGuard
from personas.factbase import FactBase
from personas.roster import PERSONAS

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, object]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DISCORD_TOKEN", "LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "cards", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cards as ``python -m bot cards export DIR`` writes them, in a separate process."""
    folder = tmp_path_factory.mktemp("cards") / "out"
    result = cli("export", str(folder))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"{persona}.{ext}" for persona in PERSONAS for ext in ("json", "png")
    )
    return folder


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (type, data) of each chunk, read with the standard library alone; every CRC is checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        yield kind, body
        offset += 12 + length
    assert offset == len(data)


def v2_document(fact_base: FactBase, persona: str = "john") -> Json:
    return json.loads(card_json_text(build_card(PERSONAS[persona], fact_base)))  # type: ignore[no-any-return]


# --- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_exported_json_is_a_valid_v2_card_of_the_persona(exported: Path, fact_base: FactBase, persona: str) -> None:
    document = json.loads((exported / f"{persona}.json").read_text(encoding="utf-8"))
    assert (document["spec"], document["spec_version"]) == ("chara_card_v2", "2.0")
    parsed = parse_card(document)
    assert parsed.version == "v2" and parsed.warnings == ()
    card = parsed.card
    source = PERSONAS[persona]
    assert (card.name, card.description, card.personality) == (
        source.display_name,
        source.description,
        source.vantage,
    )
    assert (card.first_mes, *card.alternate_greetings) == source.voice.greetings
    assert card.companion is not None
    assert (card.companion.persona, card.companion.knows_until_scene) == (persona, len(fact_base.scenes))


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_lorebook_has_one_entry_per_known_fact_keyed_by_aliases(fact_base: FactBase, persona: str) -> None:
    card = build_card(PERSONAS[persona], fact_base)
    assert card.character_book is not None
    entries = card.character_book.entries
    known = fact_base.facts_known_by(persona)
    assert [entry.fact_id for entry in entries] == [fact.id for fact in known]
    assert [entry.comment for entry in entries] == [fact.id for fact in known]
    orders = [entry.insertion_order for entry in entries]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    for entry, fact in zip(entries, known, strict=True):
        assert entry.content == fact.text and entry.enabled and entry.case_sensitive is False
        entities = [fact_base.entities[entity] for entity in fact.entities]
        names = {name.casefold() for entity in entities for name in (entity.name, *entity.aliases)}
        assert {key.casefold() for key in entry.keys} == names
        assert len(entry.keys) == len(names)


def test_only_known_facts_of_other_personas_are_left_out(fact_base: FactBase) -> None:
    """A fact only Sarah knows is not in John's lorebook."""
    sarah_only = [f for f in fact_base.facts if f.known_by("sarah") and not f.known_by("john")]
    assert sarah_only, "the fact base has facts Sarah knows and John does not"
    john = build_card(PERSONAS["john"], fact_base)
    assert john.character_book is not None
    ids = {entry.fact_id for entry in john.character_book.entries}
    assert not ids & {fact.id for fact in sarah_only}


def test_export_at_a_scene_keeps_to_that_scene(fact_base: FactBase, tmp_path: Path) -> None:
    (written,) = write_cards(tmp_path, [PERSONAS["sarah"]], fact_base, at_scene=3)
    card = read_card_file(written.json_path).card
    assert card.companion is not None and card.companion.knows_until_scene == 3
    assert card.character_book is not None
    assert [e.fact_id for e in card.character_book.entries] == [f.id for f in fact_base.facts_known_by("sarah", 3)]
    assert len(card.character_book.entries) < len(fact_base.facts_known_by("sarah"))
    assert "by scene 3" in card.creator_notes


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_example_chats_are_fact_base_questions_and_the_personas_own_lines(fact_base: FactBase, persona: str) -> None:
    card = build_card(PERSONAS[persona], fact_base)
    chats = card.mes_example.split("<START>\n")[1:]
    assert len(chats) == 4
    known = fact_base.facts_known_by(persona)
    for chat in chats:
        user_line, char_line = chat.rstrip("\n").split("\n")
        asked, said = user_line.removeprefix("{{user}}: "), char_line.removeprefix("{{char}}: ")
        (fact,) = [f for f in known if said in f.lines[persona]]
        assert asked in fact.asks.get(persona, ()) or asked in fact.asks["any"]


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_nothing_in_the_card_is_unbacked_by_the_fact_base_or_the_persona(fact_base: FactBase, persona: str) -> None:
    """Every name and number the prompt would get passes the fact guard, citing the fact it came from."""
    source = PERSONAS[persona]
    guard = FactGuard(
        source,
        fact_base,
        others=[p for p in PERSONAS.values() if p.id != persona],
        card_texts=[source.description, source.vantage, *source.voice.greetings],
        max_chars=2000,
    )
    card = build_card(source, fact_base)
    for text in (card.description, card.personality, card.scenario, card.first_mes, *card.alternate_greetings):
        assert guard.check(text, [], []).ok, text
    assert card.character_book is not None
    for entry in card.character_book.entries:
        assert entry.fact_id is not None
        verdict = guard.check(entry.content, [entry.fact_id], [entry.fact_id])
        assert verdict.ok, (entry.fact_id, verdict.reasons)
    # The persona's side of each example chat (the user's side is a question the fact base lists: see above).
    for chat in card.mes_example.split("<START>\n")[1:]:
        said = chat.rstrip("\n").split("\n")[1].removeprefix("{{char}}: ")
        (fact,) = [f for f in fact_base.facts if said in f.lines.get(persona, ())]
        assert guard.check(said, [fact.id], [fact.id]).ok, said
    # The same check refuses what the data does not hold.
    assert not guard.check("Kyle Reese came back in 1984.", [], []).ok


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_import_then_export_gives_the_same_json(exported: Path, persona: str) -> None:
    written = (exported / f"{persona}.json").read_text(encoding="utf-8")
    assert card_json_text(read_card_file(exported / f"{persona}.json").card) == written
    assert card_json_text(read_card_file(exported / f"{persona}.png").card) == written


def test_cli_import_of_the_png_prints_the_same_json(exported: Path) -> None:
    result = cli("import", "--json", str(exported / "t800.png"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (exported / "t800.json").read_text(encoding="utf-8")
    assert result.stderr == ""


def test_cli_import_prints_a_summary(exported: Path, fact_base: FactBase) -> None:
    result = cli("import", str(exported / "sarah.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Sarah Connor (Character Card V2, JSON)"
    assert f"  lorebook: {len(fact_base.facts_known_by('sarah'))} entries" in result.stdout
    assert "persona sarah, knows the story until scene 8" in result.stdout
    assert lines[-1] == "  on a server: restyles sarah's voice"


def test_unknown_keys_and_extensions_survive_a_round_trip(fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    data = document["data"]
    assert isinstance(data, dict)
    data["extensions"]["talkativeness"] = "0.5"
    data["extensions"]["depth_prompt"] = {"prompt": "", "depth": 4}
    data["group_only_greetings"] = ["hi"]
    data["character_book"]["entries"][0]["extensions"]["position"] = 1
    data["character_book"]["entries"][0]["probability"] = 100
    data["character_book"]["scan_depth"] = 2
    parsed = parse_card(copy.deepcopy(document))
    assert json.loads(card_json_text(parsed.card)) == document
    assert parsed.warnings == ("data: keys not in the spec kept as they are: group_only_greetings",)


_text = st.text(max_size=20)
_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3))
_extensions = st.dictionaries(st.text(max_size=10).filter(lambda key: key != "t2-companion"), _json, max_size=3)
_number = st.integers(-1000, 1000) | st.floats(-1e6, 1e6)
_entries = st.builds(
    BookEntry,
    keys=st.lists(_text, max_size=4).map(tuple),
    content=_text,
    enabled=st.booleans(),
    insertion_order=_number,
    extensions=_extensions,
    case_sensitive=st.none() | st.booleans(),
    name=st.none() | _text,
    priority=st.none() | _number,
    id=st.none() | st.integers(0, 10_000),
    comment=st.none() | _text,
    selective=st.none() | st.booleans(),
    secondary_keys=st.none() | st.lists(_text, max_size=3).map(tuple),
    constant=st.none() | st.booleans(),
    position=st.sampled_from([None, "before_char", "after_char"]),
)
_books = st.builds(
    CharacterBook,
    entries=st.lists(_entries, max_size=3).map(tuple),
    extensions=_extensions,
    name=st.none() | _text,
    scan_depth=st.none() | _number,
    recursive_scanning=st.none() | st.booleans(),
)
_cards = st.builds(
    CharacterCard,
    name=_text,
    description=_text,
    first_mes=_text,
    mes_example=_text,
    alternate_greetings=st.lists(_text, max_size=3).map(tuple),
    character_book=st.none() | _books,
    tags=st.lists(_text, max_size=3).map(tuple),
    extensions=_extensions,
)


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(_cards)
def test_any_card_reads_back_as_itself(card: CharacterCard) -> None:
    text = json.dumps(card_to_json(card), ensure_ascii=False)
    parsed = parse_card(json.loads(text))
    assert parsed.card == card and parsed.warnings == ()


def test_a_card_as_sillytavern_writes_it_is_read() -> None:
    """V1 fields mirrored at the root, the front end's own keys there and in extensions, extra entry keys."""
    data: Json = {
        "name": "Ann",
        "description": "d",
        "personality": "",
        "scenario": "",
        "first_mes": "Hi.",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "tags": ["test"],
        "creator": "",
        "character_version": "",
        "alternate_greetings": [],
        "extensions": {"talkativeness": "0.5", "fav": False, "world": "", "depth_prompt": {"prompt": "", "depth": 4}},
        "character_book": {
            "name": "",
            "extensions": {},
            "entries": [
                {
                    "id": 0,
                    "keys": ["ann"],
                    "secondary_keys": [],
                    "comment": "",
                    "content": "Ann is a test.",
                    "constant": False,
                    "selective": True,
                    "insertion_order": 100,
                    "enabled": True,
                    "position": "before_char",
                    "use_regex": True,
                    "extensions": {"position": 0, "exclude_recursion": False, "probability": 100},
                }
            ],
        },
    }
    document = {
        "name": "Ann",
        "description": "d",
        "personality": "",
        "scenario": "",
        "first_mes": "Hi.",
        "mes_example": "",
        "creatorcomment": "",
        "avatar": "none",
        "talkativeness": "0.5",
        "fav": False,
        "tags": ["test"],
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": data,
        "create_date": "2024-1-1 @10h 00m 00s 000ms",
    }
    parsed = parse_card(copy.deepcopy(document))
    assert parsed.card.character_book is not None
    assert parsed.card.character_book.entries[0].extra == {"use_regex": True}
    assert json.loads(card_json_text(parsed.card))["data"] == data
    ignored = sorted(w.split(":")[0] for w in parsed.warnings)
    assert ignored == ["avatar", "create_date", "creatorcomment", "fav", "tags", "talkativeness"]


# --- PNG --------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_png_card_is_read_by_pillow(exported: Path, persona: str) -> None:
    expected = json.loads((exported / f"{persona}.json").read_text(encoding="utf-8"))
    with Image.open(exported / f"{persona}.png") as image:
        assert image.format == "PNG" and image.size == (400, 600)
        color = PERSONAS[persona].color
        assert image.convert("RGB").getpixel((200, 300)) == (color >> 16, (color >> 8) & 0xFF, color & 0xFF)
        chara = image.text["chara"]
    assert json.loads(base64.b64decode(chara).decode("utf-8")) == expected


def test_png_card_holds_the_json_in_a_plain_text_chunk(exported: Path) -> None:
    expected = json.loads((exported / "john.json").read_text(encoding="utf-8"))
    chunks = list(png_chunks((exported / "john.png").read_bytes()))
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    texts = [body for kind, body in chunks if kind == b"tEXt" and body.startswith(b"chara\0")]
    assert len(texts) == 1
    assert not [body for kind, body in chunks if kind in (b"zTXt", b"iTXt") and body.startswith(b"chara\0")]
    payload = texts[0].removeprefix(b"chara\0")
    assert json.loads(base64.b64decode(payload, validate=True).decode("utf-8")) == expected


def test_png_without_a_card_is_refused_naming_the_chunk(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    with pytest.raises(CardError, match=r"^chara: missing"):
        read_card_file(plain)
    bad = card_png("{}", 0).replace(base64.b64encode(b"{}"), b"e30*")
    with pytest.raises(CardError, match=r"^(chara|file): "):
        read_card_bytes(bad)


def test_png_with_invalid_card_json_names_the_field(fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    document["data"]["tags"] = "t2-companion"  # type: ignore[index]
    with pytest.raises(CardError) as caught:
        read_card_bytes(card_png(json.dumps(document), 0x000000))
    assert str(caught.value) == "data.tags: expected a list of strings, got a string"


# --- V1 and invalid cards ----------------------------------------------------------------------


def test_v1_card_is_read_as_v2() -> None:
    v1 = {
        "name": "Ann",
        "description": "A test character.",
        "personality": "calm",
        "scenario": "",
        "first_mes": "Hello.",
        "mes_example": "<START>\n{{user}}: hi\n{{char}}: hello",
        "talkativeness": "0.5",
    }
    parsed = read_card_bytes(json.dumps(v1).encode("utf-8"))
    assert parsed.version == "v1"
    assert (parsed.card.name, parsed.card.first_mes, parsed.card.alternate_greetings) == ("Ann", "Hello.", ())
    assert parsed.card.character_book is None and parsed.card.companion is None
    assert any("V1" in warning for warning in parsed.warnings)
    upgraded = json.loads(card_json_text(parsed.card))
    assert upgraded["spec"] == "chara_card_v2"
    assert upgraded["data"]["mes_example"] == v1["mes_example"]
    assert upgraded["data"]["talkativeness"] == "0.5"


def test_v1_png_card_is_read(tmp_path: Path) -> None:
    v1 = {"name": "Ann", "description": "", "personality": "", "scenario": "", "first_mes": "", "mes_example": ""}
    path = tmp_path / "ann.png"
    path.write_bytes(card_png(json.dumps(v1), 0xFFFFFF))
    assert read_card_file(path).card.name == "Ann"


def test_data_wins_over_v1_fields_at_the_root(fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    document["name"] = "Someone else"
    document["description"] = document["data"]["description"]  # type: ignore[index]
    parsed = parse_card(document)
    assert parsed.card.name == "John Connor"
    assert parsed.warnings == ("name: differs from data.name; data.name is used",)


def test_missing_v2_additions_are_defaulted_with_warnings(fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    data = document["data"]
    assert isinstance(data, dict)
    del data["tags"], data["extensions"]
    parsed = parse_card(document)
    assert (parsed.card.tags, dict(parsed.card.extensions)) == ((), {})
    assert parsed.warnings == ("data.tags: missing; taken as ()", "data.extensions: missing; taken as {}")


def _set(path: str, value: object) -> Callable[[Json], None]:
    """A change to a card: set the field at ``path`` (dotted, with [index]) to ``value``; a missing value deletes."""

    def change(document: Json) -> None:
        parts = path.replace("[", ".").replace("]", "").split(".")
        target: object = document
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
        last = parts[-1]
        if value is _DELETE:
            del target[last]  # type: ignore[attr-defined]
        else:
            target[int(last) if isinstance(target, list) else last] = value  # type: ignore[index]

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_set("data.alternate_greetings.2", 3), "data.alternate_greetings[2]: expected a string, got a number"),
        (_set("spec", "chara_card_v3"), "spec: expected 'chara_card_v2' (Character Card V2), got 'chara_card_v3'"),
        (_set("spec_version", "2.1"), "spec_version: expected '2.0', got '2.1'"),
        (_set("spec", _DELETE), "spec: expected 'chara_card_v2' (Character Card V2), missing"),
        (_set("data", []), "data: expected an object, got a list"),
        (_set("data.name", _DELETE), "data.name: missing (the spec wants an empty string at least)"),
        (_set("data.first_mes", None), "data.first_mes: expected a string, got null"),
        (_set("data.extensions", []), "data.extensions: expected an object, got a list"),
        (
            _set("data.character_book.entries.0.keys", "john"),
            "data.character_book.entries[0].keys: expected a list of strings, got a string",
        ),
        (
            _set("data.character_book.entries.3.enabled", "yes"),
            "data.character_book.entries[3].enabled: expected true or false, got a string",
        ),
        (
            _set("data.character_book.entries.1.insertion_order", True),
            "data.character_book.entries[1].insertion_order: expected a number, got a boolean",
        ),
        (
            _set("data.character_book.entries.0.position", "middle"),
            "data.character_book.entries[0].position: expected 'before_char' or 'after_char', got 'middle'",
        ),
        (_set("data.character_book.entries.2.content", _DELETE), "data.character_book.entries[2].content: missing"),
        (_set("data.character_book.entries", {}), "data.character_book.entries: expected a list"),
        (
            _set("data.extensions.t2-companion.knows_until_scene", 0),
            "data.extensions.t2-companion.knows_until_scene: expected a scene number (an integer from 1)",
        ),
    ],
)
def test_invalid_cards_name_the_field(fact_base: FactBase, change: Callable[[Json], None], error: str) -> None:
    document = v2_document(fact_base)
    change(document)
    with pytest.raises(CardError) as caught:
        parse_card(document)
    assert str(caught.value) == error


def test_v1_card_missing_a_field_names_it() -> None:
    with pytest.raises(CardError, match=r"^mes_example: missing"):
        parse_card({"name": "Ann", "description": "", "personality": "", "scenario": "", "first_mes": ""})
    with pytest.raises(CardError, match=r"^card: expected an object, got a list"):
        parse_card([])


def test_cli_import_of_an_invalid_card_exits_2_with_one_line(tmp_path: Path, fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    document["data"]["alternate_greetings"][2] = 3  # type: ignore[index]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = cli("import", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"t2-companion: {path}: data.alternate_greetings[2]: expected a string, got a number\n"
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    broken = cli("import", str(tmp_path / "broken.json"))
    assert broken.returncode == 2 and "file: not JSON" in broken.stderr and "Traceback" not in broken.stderr


def test_start_up_does_not_load_pillow() -> None:
    code = "import sys, bot.__main__; print('PIL' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_cli_import_shows_the_first_warnings_of_many(tmp_path: Path, fact_base: FactBase) -> None:
    document = v2_document(fact_base)
    entries = document["data"]["character_book"]["entries"]  # type: ignore[index]
    for entry in entries:
        del entry["extensions"]
    path = tmp_path / "old-tool.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = cli("import", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("John Connor (Character Card V2, JSON)\n")
    warnings = result.stderr.splitlines()
    assert warnings[0] == "warning: data.character_book.entries[0].extensions: missing; taken as {}"
    assert warnings[10:] == [f"warning: and {len(entries) - 10} more like these"]


def test_cli_export_refuses_a_scene_out_of_range(tmp_path: Path) -> None:
    result = cli("export", str(tmp_path / "out"), "--at-scene", "9")
    assert result.returncode == 2
    assert result.stderr == "t2-companion: --at-scene must be a scene number from 1 to 8\n"
    assert not (tmp_path / "out").exists()


def test_export_is_the_same_bytes_every_time(exported: Path, fact_base: FactBase, tmp_path: Path) -> None:
    write_cards(tmp_path, PERSONAS.values(), fact_base)
    for path in exported.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
