"""The queries the services need; services never build SQL themselves."""

from db.repositories.channels import ChannelRepository
from db.repositories.common import (
    ConversationKey,
    ConversationState,
    DuplicateMessageError,
    StorageError,
    StoredMessage,
    TurnRecord,
    insert_for,
    storable,
)
from db.repositories.conversations import ConversationRepository, UserInScope, load_user_in_scope
from db.repositories.outbox import NewPost, OutboxEntry, OutboxRepository, reply_key
from db.repositories.users import UserRepository

__all__ = [
    "ChannelRepository",
    "ConversationKey",
    "ConversationRepository",
    "ConversationState",
    "DuplicateMessageError",
    "NewPost",
    "OutboxEntry",
    "OutboxRepository",
    "StorageError",
    "StoredMessage",
    "TurnRecord",
    "UserInScope",
    "UserRepository",
    "insert_for",
    "load_user_in_scope",
    "reply_key",
    "storable",
]
