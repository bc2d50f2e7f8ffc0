"""ChatService: one turn = load memory, pick persona, respond, persist; shared by every front end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Protocol

from cachetools import LRUCache, TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.keyed import KeyedLocks
from db.chat import ConversationRepository, ConversationState, TurnRecord, UserRepository
from db.common import StaleWrite
from db.turn_writer import TurnWriter
from personas.engine import GroundedEngine, MemoryState
from personas.factbase import Fact
from personas.memory import Reply
from personas.persona import Persona
from personas.roster import find_persona
from personas.understanding.address import split_addressee

if TYPE_CHECKING:
    from bot.cards.guild import CardCharacter, GuildCards, GuildCardSet
    from bot.llm.backend import ModelBackend
    from bot.llm.policy import ModelPolicy
    from bot.llm.speaker import Speaker

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "ChatReply",
    "ChatService",
    "Explanation",
    "ReplyStream",
    "TurnObserver",
    "UnknownPersonaError",
]

log = logging.getLogger(__name__)

DEFAULT_PERSONA = "john"
MODEL_SKIPS = frozenset({"injection", "empty", "unreadable"})
"""Offline reply kinds that are never handed to the model: hostile or unreadable messages keep their refusal."""
HISTORY_TURNS = 3
"""How many earlier turns of the conversation the model sees."""
STALE_RETRIES = 3
"""How often a turn is redone when its conversation was changed by another process in the meantime."""
CARD_BACKEND = "card:"
"""Stored as a reply's backend with the card's id: the model wrote it, in the voice of that guild card."""
MAX_STORED_CHARS = 4000
DEFAULT_CACHE_SIZE = 20_000
"""Conversations (and users' default personas) kept in memory; the least recently used beyond it are reloaded."""

ConversationKey = tuple[str, str, str]
"""(user, scope, persona)"""
TurnObserver = Callable[[str, float], None]
"""Told of each turn answered: the reply's kind and the seconds the turn took (it must not block)."""


class ReplyStream(Protocol):
    """A front end that shows a model reply while it streams. What it is shown has passed the fact guard's partial
    check; the reply ``ChatService.reply`` returns (the guarded model reply, or the offline one) is what it must show
    in the end."""

    async def show(self, persona: Persona, text: str) -> None:
        """More of the reply may be shown: ``text`` is all of it so far, in whole sentences."""

    async def hold(self) -> dict[str, Any] | None:
        """Show nothing more; what was shown, stored with the reply in the outbox so that the reply replaces it
        even when it is posted after a restart (None when nothing was shown)."""


class UnknownPersonaError(ValueError):
    """A persona name that is not one of the roster's."""


@dataclass(frozen=True, slots=True)
class ChatReply:
    """What a front end shows for one turn."""

    persona: Persona
    text: str
    fact_ids: tuple[str, ...]
    kind: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """What ``/why`` shows: who answered last, the facts behind it, and what wrote it (None: the offline engine)."""

    persona: Persona | None
    facts: list[Fact]
    backend: str | None = None
    card: str | None = None
    """The name of the guild card that styled the reply or is the character who gave it."""


@dataclass(slots=True)
class _Conversation:
    conversation_id: int
    memory: MemoryState


class ChatService:
    """Turns of conversation with the personas, stored before they are answered.

    Conversation memory is cached per process in an LRU of ``cache_size`` conversations and written
    through on every turn: the database always holds the latest state, so neither a restart nor an
    eviction loses anything (an evicted conversation is read back on its next turn). Turns of one
    conversation run one at a time; turns of different conversations run concurrently and share commits.
    """

    def __init__(
        self,
        database: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        responder: GroundedEngine,
        writer: TurnWriter,
        personas: Mapping[str, Persona],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        settings_refresh_s: float = 5.0,
        model: ModelBackend | None = None,
        model_policy: ModelPolicy | None = None,
        on_turn: TurnObserver | None = None,
        on_model_answer: Callable[[str], None] | None = None,
        cards: GuildCards | None = None,
    ) -> None:
        """``model`` (with ``model_policy``): the optional language model backend, used in guilds that turned it on
        and answering only through its fact guard; the offline engine answers everywhere else, and whenever the
        model fails or its reply is refused. ``cards``: the guilds' imported cards, restyling a persona's voice in the
        model's prompt or adding a character who speaks only through the model."""
        self.model = model
        self.cards = cards
        self.model_policy = model_policy
        self._database = database
        self._on_turn = on_turn
        self._on_model_answer = on_model_answer
        """Told each model answer's outcome: ``used``, ``guard``, ``error`` or ``unreadable``."""
        self._sessions = sessions
        self._responder = responder
        self._writer = writer
        self._personas = personas
        self._cache: LRUCache[ConversationKey, _Conversation] = LRUCache(maxsize=cache_size)
        self._locks: KeyedLocks[ConversationKey] = KeyedLocks()
        # A user's default persona holds across guilds, so across processes when sharded: it is read again after
        # ``settings_refresh_s`` seconds, and a change made through another process is seen within that time.
        self._defaults: TTLCache[str, str] = TTLCache(maxsize=cache_size, ttl=settings_refresh_s)

    def cached(self) -> int:
        """How many conversations are in memory now."""
        return len(self._cache)

    def is_cached(self, user: str, scope: str, persona: str) -> bool:
        """Whether this conversation's memory is in memory now (without counting as a use)."""
        return (user, scope, persona) in self._cache

    def personas(self) -> list[Persona]:
        """The personas one can talk to, in roster order."""
        return list(self._personas.values())

    def persona(self, name: str) -> Persona:
        """The persona with this id or name; UnknownPersonaError lists the valid ones."""
        persona = find_persona(name)
        if persona is None or persona.id not in self._personas:
            valid = ", ".join(p.display_name for p in self._personas.values())
            raise UnknownPersonaError(f"Unknown persona {name!r}. Choose one of: {valid}.")
        return persona

    async def reply(
        self,
        user: str,
        scope: str,
        text: str,
        *,
        persona: str | None = None,
        discord_message_id: int | None = None,
        at_scene: int | None = None,
        reply_channel_id: int | None = None,
        guild_id: int | None = None,
        stream: ReplyStream | None = None,
    ) -> ChatReply:
        """Answer ``text`` from ``user`` in ``scope``; the turn is committed before this returns.

        ``persona`` is who the user is talking to (the user's default when None); a message that starts
        by naming another persona ("sarah, who gave you the weapons?") is answered by that one.
        ``reply_channel_id``: the reply is to be posted there; it is stored in the outbox with the turn.
        ``guild_id``: where the message was sent, for the model backend's opt-in and budget.
        ``stream``: shown the model's reply while it streams (see ``ReplyStream``).
        ``on_turn`` (given at construction) is told of the turn once it is committed.
        """
        started = time.perf_counter()
        cards = await self.cards.for_guild(guild_id) if self.cards is not None else None
        addresses = cards.addresses() if cards is not None else None
        addressed, text = split_addressee(text, None, addresses) if addresses else split_addressee(text)
        character = cards.character(addressed or persona) if cards is not None else None
        if character is not None:
            persona_id = character.persona.id
        else:
            persona_id = addressed or (self.persona(persona).id if persona else await self.default_persona(user))
        speaker, card_backend = _card_speaker(cards, character, persona_id)
        key = (user, scope, persona_id)
        async with self._locks.hold(key):
            # Filled only under the key's lock: no turn of this conversation is between its commit and its
            # cache update, so what the database holds is the latest memory.
            for attempt in range(1, STALE_RETRIES + 1):
                conversation = self._cache.get(key)
                if conversation is None:
                    conversation = self._remember(key, await self._writer.open_conversation(key))
                result = self._responder.respond(
                    speaker.knows_like if speaker is not None else persona_id,
                    text,
                    conversation.memory,
                    seed_key=f"{user}|{scope}",
                    at_scene=at_scene,
                )
                if character is not None:
                    result = _unavailable(character, result, conversation.memory)
                backend = None
                if result.kind not in MODEL_SKIPS and await self._model_allowed(guild_id):
                    assert guild_id is not None
                    modelled = await self._ask_model(
                        guild_id, persona_id, text, conversation, at_scene, stream, speaker=speaker
                    )
                    if modelled is not None:
                        result, backend = modelled(result), card_backend
                shown = await stream.hold() if stream is not None else None
                try:
                    await self._writer.write(
                        TurnRecord(
                            conversation_id=conversation.conversation_id,
                            persona=persona_id,
                            user_text=text[:MAX_STORED_CHARS],
                            reply_text=result.text,
                            fact_ids=result.fact_ids,
                            turn=result.memory.turn,
                            memory=result.memory.to_data(),
                            discord_message_id=discord_message_id,
                            reply_channel_id=reply_channel_id,
                            backend=backend,
                            reply_payload=shown,
                        )
                    )
                except StaleWrite:
                    # Another process answered in this conversation since its memory was read here: only the owner
                    # of a guild should, so this is logged loudly; the memory is read again and the turn redone.
                    log.warning(
                        "conversation %d was changed by another process (try %d)", conversation.conversation_id, attempt
                    )
                    self._cache.pop(key, None)
                    if attempt == STALE_RETRIES:
                        raise
                    continue
                conversation.memory = result.memory
                break
        if self._on_turn is not None:
            self._on_turn(result.kind, time.perf_counter() - started)
        who = character.persona if character is not None else self._personas[persona_id]
        return ChatReply(who, result.text, result.fact_ids, result.kind)

    async def _model_allowed(self, guild_id: int | None) -> bool:
        return self.model is not None and self.model_policy is not None and await self.model_policy.allows(guild_id)

    async def _ask_model(
        self,
        guild_id: int,
        persona_id: str,
        text: str,
        conversation: _Conversation,
        at_scene: int | None,
        stream: ReplyStream | None,
        *,
        speaker: Speaker | None = None,
    ) -> Callable[[Reply], Reply] | None:
        """The model's guarded reply, as a change to the offline one; None when the offline one stands."""
        from bot.llm.backend import ModelReply

        assert self.model is not None and self.model_policy is not None
        async with self._sessions() as session:
            stored = await ConversationRepository(session).messages(
                conversation.conversation_id, limit=2 * HISTORY_TURNS
            )
        history = [
            (asked.text, answered.text)
            for asked, answered in pairwise(stored)
            if asked.role == "user" and answered.role == "persona"
        ]
        on_shown = None
        if stream is not None:
            persona = speaker.persona if speaker is not None else self._personas[persona_id]

            async def on_shown(shown: str) -> None:
                await stream.show(persona, shown)

        answer = await self.model.reply(
            persona_id,
            text,
            conversation.memory,
            at_scene=at_scene,
            history=history,
            on_shown=on_shown,
            speaker=speaker,
        )
        await self.model_policy.spend(guild_id, answer.tokens)
        if self._on_model_answer is not None:
            self._on_model_answer("used" if isinstance(answer, ModelReply) else answer.kind)
        if not isinstance(answer, ModelReply):
            return None

        def use(offline: Reply) -> Reply:
            cited = list(answer.fact_ids)
            said = [fact for fact in offline.memory.said_facts if fact not in cited] + cited
            memory = replace(offline.memory, last_facts=cited or offline.memory.last_facts, said_facts=said)
            return replace(offline, text=answer.text, fact_ids=answer.fact_ids, kind="model", memory=memory)

        return use

    def _remember(self, key: ConversationKey, state: ConversationState) -> _Conversation:
        conversation = _Conversation(state.conversation_id, MemoryState.from_data(state.memory, state.turn))
        self._cache[key] = conversation
        return conversation

    async def default_persona(self, user: str) -> str:
        """The user's chosen default persona, or John."""
        cached = self._defaults.get(user)
        if cached is not None:
            return cached
        chosen = await self._writer.default_persona(user)
        persona = chosen if chosen is not None and chosen in self._personas else DEFAULT_PERSONA
        self._remember_default(user, persona)
        return persona

    def cached_default(self, user: str) -> str | None:
        """The user's default persona if it is in memory (never a database read), else None."""
        return self._defaults.get(user)

    def _remember_default(self, user: str, persona: str) -> None:
        self._defaults[user] = persona

    async def set_default_persona(self, user: str, name: str) -> Persona:
        """Make ``name`` the user's default persona."""
        persona = self.persona(name)
        async with self._writer.write_lock, self._sessions.begin() as session:
            await UserRepository(session).set_default_persona(user, persona.id)
        self._remember_default(user, persona.id)
        return persona

    async def why(self, user: str, scope: str) -> tuple[Persona | None, list[Fact]]:
        """The persona and the plot facts behind the last reply ``user`` got in ``scope``."""
        explained = await self.explain(user, scope)
        return explained.persona, explained.facts

    async def explain(self, user: str, scope: str, guild_id: int | None = None) -> Explanation:
        """The persona, the plot facts and the backend behind the last reply ``user`` got in ``scope`` (and the card
        behind it, if one of the guild's cards styled it or is its character)."""
        async with self._sessions() as session:
            last = await ConversationRepository(session).last_reply(user, scope)
        if last is None or last.persona is None:
            return Explanation(None, [])
        facts: list[Fact] = []
        for fact_id in last.fact_ids:
            try:
                facts.append(self._responder.knowledge.base.fact(fact_id))
            except KeyError:
                continue  # a fact retired from the fact base since the reply was stored
        persona, backend, card = self._personas.get(last.persona), last.backend, None
        if self.cards is not None and backend is not None and backend.startswith(CARD_BACKEND):
            backend, card = "model", await self.cards.card_name(int(backend.removeprefix(CARD_BACKEND)))
        if persona is None and self.cards is not None:  # a card's character, if the guild still has it
            character = (await self.cards.for_guild(guild_id)).character(last.persona)
            if character is not None:
                persona, card = character.persona, card or character.persona.display_name
        return Explanation(persona, facts, backend, card)

    async def forget(self, user: str) -> int:
        """Delete everything stored about ``user``; returns how many messages were removed."""
        async with self._writer.write_lock, self._sessions.begin() as session:
            removed = await self.forget_in(session, user)
        self.forget_cached(user)
        return removed

    async def forget_in(self, session: AsyncSession, user: str) -> int:
        """``forget``'s deletions in the caller's transaction; call ``forget_cached`` once it is committed."""
        return await UserRepository(session).forget(user)

    def forget_cached(self, user: str) -> None:
        """Drop what is kept in memory about ``user`` (after their stored data is deleted)."""
        for key in [key for key in self._cache if key[0] == user]:
            del self._cache[key]
        self._defaults.pop(user, None)

    async def export(self, user: str) -> dict[str, Any]:
        """Everything stored about ``user``, JSON-ready."""
        async with self._sessions() as session:
            return await UserRepository(session).export(user)


def _card_speaker(
    cards: GuildCardSet | None, character: CardCharacter | None, persona_id: str
) -> tuple[Speaker | None, str]:
    """Who the model speaks as for this turn (None: the persona in its own voice) and the backend stored with a
    model reply: ``model``, or ``card:<id>`` when one of the guild's cards gave the voice."""
    if character is not None:
        return character.speaker, f"{CARD_BACKEND}{character.card_id}"
    style = cards.restyles.get(persona_id) if cards is not None else None
    if style is not None:
        return style.speaker, f"{CARD_BACKEND}{style.card_id}"
    return None, "model"


def _unavailable(character: CardCharacter, offline: Reply, memory: MemoryState) -> Reply:
    """A card character's reply when the model does not answer: a line saying so, no fact. The offline engine's
    reply (as the persona the character knows like) is used only for its kind: hostile messages stay refused."""
    from bot.cards.guild import CHARACTER_UNAVAILABLE

    kind = offline.kind if offline.kind in MODEL_SKIPS else "unavailable"
    remembered = replace(memory, turn=offline.memory.turn)
    return replace(
        offline, persona=character.persona.id, text=CHARACTER_UNAVAILABLE, fact_ids=(), kind=kind, memory=remembered
    )
