"""The chat's storage: its tables (``models``) and the queries the chat needs; services never build SQL themselves."""

from db.chat.channels import ChannelRepository
from db.chat.conversations import ConversationRepository, UserInScope, load_user_in_scope
from db.chat.records import ConversationKey, ConversationState, DuplicateMessageError, StoredMessage, TurnRecord
from db.chat.users import UserRepository

__all__ = [
    "ChannelRepository",
    "ConversationKey",
    "ConversationRepository",
    "ConversationState",
    "DuplicateMessageError",
    "StoredMessage",
    "TurnRecord",
    "UserInScope",
    "UserRepository",
    "load_user_in_scope",
]
