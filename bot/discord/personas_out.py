"""Posting as a persona: one cached webhook per channel, an embed author when webhooks are not available."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import discord
from cachetools import LRUCache, TTLCache

from bot.discord.channels import ChannelDirectory
from bot.keyed import KeyedLocks
from bot.limits import SlidingWindow
from bot.splitting import split_message
from personas.persona import Persona

__all__ = ["NO_MENTIONS", "PersonaPoster", "persona_embed"]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
WEBHOOK_NAME = "T2 Companion"
TOO_MANY_WEBHOOKS = 30007
UNAVAILABLE_RETRY_S = 600.0
"""After Discord refuses a webhook (no permission, too many), try again after this long."""
WEBHOOKS_KEPT = 10_000
"""Channels whose webhook is kept in memory; one used less recently is read back from the database."""
EDITS_PER_CHANNEL = (4, 5.0)
"""At most 4 edits per 5 seconds in a channel, under Discord's 5 per 5 s, however many replies stream there."""

PostTarget = discord.TextChannel | discord.Thread | discord.DMChannel | discord.abc.Messageable


def persona_embed(persona: Persona, text: str) -> discord.Embed:
    """The fallback form of a persona's message: the text in an embed whose author is the persona."""
    embed = discord.Embed(description=text, colour=persona.color)
    embed.set_author(name=persona.display_name, icon_url=persona.avatar_url)
    return embed


class PersonaPoster:
    """Posts persona messages, paced to Discord's 5 messages per 5 seconds per channel."""

    def __init__(
        self,
        client: discord.Client,
        channels: ChannelDirectory,
        *,
        pacer: SlidingWindow | None = None,
        max_channels: int = WEBHOOKS_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._channels = channels
        self._pacer = pacer or SlidingWindow(5, 5.0)
        self._edit_pacer = SlidingWindow(*EDITS_PER_CHANNEL)
        self._locks: KeyedLocks[int] = KeyedLocks()
        self._webhooks: LRUCache[int, discord.Webhook] = LRUCache(maxsize=max_channels)
        self._unavailable: TTLCache[int, bool] = TTLCache(maxsize=max_channels, ttl=UNAVAILABLE_RETRY_S, timer=clock)
        """Channels where Discord refused a webhook lately: each is tried again once its entry expires."""

    async def post(
        self,
        channel: PostTarget,
        persona: Persona,
        text: str,
        *,
        nonce: str | None = None,
        first_part: int = 0,
        on_part: Callable[[int], Awaitable[None]] | None = None,
    ) -> list[discord.Message]:
        """Post ``text`` as ``persona`` in ``channel``, split at sentence boundaries; returns the messages.

        ``nonce``: parts posted as the bot (not through a webhook) carry it with the part's number, so that Discord
        answers a retry with the message it already has. ``first_part``: the parts before it were posted already.
        ``on_part`` is awaited with the number of parts posted so far, after each part of a post in several.
        """
        posted: list[discord.Message] = []
        parts = split_message(text)
        for index in range(first_part, len(parts)):
            await self._pacer.wait(getattr(channel, "id", 0))
            part_nonce = f"{nonce}.{index}" if nonce is not None else None
            posted.append(await self._post_part(channel, persona, parts[index], part_nonce))
            if on_part is not None and len(parts) > 1:
                await on_part(index + 1)
        return posted

    async def edit(self, channel: PostTarget, persona: Persona, message_id: int, text: str, *, webhook: bool) -> bool:
        """Replace the text of ``persona``'s message ``message_id``, posted through the channel's webhook (``webhook``)
        or as the bot; False when it cannot be edited any more (deleted, or its webhook is gone)."""
        await self._edit_pacer.wait(getattr(channel, "id", 0))
        thread = channel if isinstance(channel, discord.Thread) else None
        parent = thread.parent if thread is not None else channel
        try:
            if webhook:
                hook = (
                    await self._webhook(parent)
                    if isinstance(parent, discord.TextChannel | discord.ForumChannel)
                    else None
                )
                if hook is None:
                    return False
                await hook.edit_message(
                    message_id,
                    content=text,
                    allowed_mentions=NO_MENTIONS,
                    thread=thread if thread is not None else discord.utils.MISSING,
                )
            elif isinstance(channel, discord.TextChannel | discord.Thread | discord.DMChannel):
                await channel.get_partial_message(message_id).edit(
                    embed=persona_embed(persona, text), allowed_mentions=NO_MENTIONS
                )
            else:
                return False
        except discord.NotFound:
            return False
        return True

    async def _post_part(
        self, channel: PostTarget, persona: Persona, text: str, nonce: str | None = None
    ) -> discord.Message:
        thread = channel if isinstance(channel, discord.Thread) else None
        parent = thread.parent if thread is not None else channel
        if isinstance(parent, discord.TextChannel | discord.ForumChannel):
            for attempt in range(2):
                webhook = await self._webhook(parent)
                if webhook is None:
                    break
                try:
                    return await webhook.send(
                        text,
                        username=persona.display_name,
                        avatar_url=persona.avatar_url,
                        allowed_mentions=NO_MENTIONS,
                        thread=thread if thread is not None else discord.utils.MISSING,
                        wait=True,
                    )
                except discord.NotFound:
                    log.info("the webhook of channel %s was deleted (attempt %d)", parent.id, attempt + 1)
                    await self._forget_webhook(parent)
                except discord.Forbidden:
                    self._mark_unavailable(parent.id)
                    break
        if nonce is not None:
            return await channel.send(embed=persona_embed(persona, text), allowed_mentions=NO_MENTIONS, nonce=nonce)
        return await channel.send(embed=persona_embed(persona, text), allowed_mentions=NO_MENTIONS)

    async def _webhook(self, channel: discord.TextChannel | discord.ForumChannel) -> discord.Webhook | None:
        cached = self._webhooks.get(channel.id)
        if cached is not None:
            return cached
        if channel.id in self._unavailable:
            return None
        if not channel.permissions_for(channel.guild.me).manage_webhooks:
            self._mark_unavailable(channel.id)
            return None
        async with self._locks.hold(channel.id):
            if channel.id in self._webhooks:
                return self._webhooks[channel.id]
            info = await self._channels.get(channel.id)
            if info.webhook_id is not None and info.webhook_token is not None:
                webhook = discord.Webhook.partial(info.webhook_id, info.webhook_token, client=self._client)
            else:
                try:
                    webhook = await channel.create_webhook(name=WEBHOOK_NAME, reason="post as the T2 personas")
                except discord.Forbidden:
                    self._mark_unavailable(channel.id)
                    return None
                except discord.HTTPException as exc:
                    if exc.code != TOO_MANY_WEBHOOKS:
                        raise
                    log.warning("channel %s has too many webhooks; posting with embeds", channel.id)
                    self._mark_unavailable(channel.id)
                    return None
                await self._channels.set_webhook(channel.id, channel.guild.id, webhook.id, webhook.token)
            self._webhooks[channel.id] = webhook
            return webhook

    async def _forget_webhook(self, channel: discord.TextChannel | discord.ForumChannel) -> None:
        self._webhooks.pop(channel.id, None)
        await self._channels.set_webhook(channel.id, channel.guild.id, None, None)

    def _mark_unavailable(self, channel_id: int) -> None:
        self._unavailable[channel_id] = True
