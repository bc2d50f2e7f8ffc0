"""Users: their rows, preferences, export and deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from db.chat.conversations import ConversationRepository
from db.chat.models import Conversation, ForgetRequest, Memory, Message, User
from db.common import Repository, insert_for
from db.models import utcnow

__all__ = ["UserRepository"]


class UserRepository(Repository):
    """Users and their preferences."""

    async def ensure(self, external_id: str) -> int:
        """The user's row id, creating the row on first contact."""
        found = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        if found is not None:
            return found
        statement = insert_for(self.session, User).values(external_id=external_id, created_at=utcnow())
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=[User.external_id]))
        user_id = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        assert user_id is not None
        return user_id

    async def default_persona(self, external_id: str) -> str | None:
        """The persona this user chose as default, if any."""
        return await self.session.scalar(select(User.default_persona).where(User.external_id == external_id))

    async def default_personas(self, external_ids: Sequence[str]) -> dict[str, str]:
        """The default personas chosen by any of these users, by user (users without one are left out)."""
        rows = await self.session.execute(
            select(User.external_id, User.default_persona).where(
                User.external_id.in_(sorted(set(external_ids))), User.default_persona.is_not(None)
            )
        )
        return {external_id: persona for external_id, persona in rows.all() if persona is not None}

    async def set_default_persona(self, external_id: str, persona: str) -> None:
        """Remember the user's default persona."""
        await self.ensure(external_id)
        await self.session.execute(update(User).where(User.external_id == external_id).values(default_persona=persona))

    async def forget(self, external_id: str) -> int:
        """Delete the user and, by cascade, everything stored about them; return the messages removed."""
        user_id = await self.session.scalar(select(User.id).where(User.external_id == external_id))
        if user_id is None:
            return 0
        conversations = select(Conversation.id).where(Conversation.user_id == user_id)
        removed = await self.session.scalar(
            select(func.count(Message.id)).where(Message.conversation_id.in_(conversations))
        )
        await self.session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        await self.session.execute(delete(Memory).where(Memory.conversation_id.in_(conversations)))
        await self.session.execute(delete(Conversation).where(Conversation.user_id == user_id))
        await self.session.execute(delete(User).where(User.id == user_id))
        return int(removed or 0)

    async def request_forget(self, external_id: str) -> None:
        """Store that the user asked to be forgotten (once, however often they ask)."""
        if await self.session.get(ForgetRequest, external_id) is None:
            self.session.add(ForgetRequest(user=external_id))

    async def forget_requests(self) -> list[str]:
        """The users whose /forget-me was asked for and not yet carried out, oldest first."""
        return list(await self.session.scalars(select(ForgetRequest.user).order_by(ForgetRequest.requested_at)))

    async def forget_request_done(self, external_id: str) -> None:
        """The user's /forget-me is carried out (in the same transaction as the deletion)."""
        await self.session.execute(delete(ForgetRequest).where(ForgetRequest.user == external_id))

    async def export(self, external_id: str) -> dict[str, Any]:
        """Everything stored about the user, as plain JSON-ready data."""
        user = await self.session.scalar(select(User).where(User.external_id == external_id))
        if user is None:
            return {"user": external_id, "conversations": []}
        rows = await self.session.execute(
            select(Conversation, Memory)
            .outerjoin(Memory, Memory.conversation_id == Conversation.id)
            .where(Conversation.user_id == user.id)
            .order_by(Conversation.id)
        )
        conversations = []
        for conversation, memory in rows.all():
            messages = await ConversationRepository(self.session).messages(conversation.id)
            conversations.append(
                {
                    "scope": conversation.scope,
                    "persona": conversation.persona,
                    "created_at": conversation.created_at.isoformat(),
                    "memory": memory.data if memory else {},
                    "messages": [
                        {
                            "role": message.role,
                            "persona": message.persona,
                            "text": message.text,
                            "fact_ids": message.fact_ids,
                            "at": message.created_at.isoformat(),
                        }
                        for message in messages
                    ],
                }
            )
        return {
            "user": external_id,
            "default_persona": user.default_persona,
            "created_at": user.created_at.isoformat(),
            "conversations": conversations,
        }
