"""The outbox: every post the bot is to make, stored with the change that caused it until Discord accepts it."""

from db.outbox.repository import NewPost, OutboxEntry, OutboxRepository, replied_message_id, reply_key

__all__ = ["NewPost", "OutboxEntry", "OutboxRepository", "replied_message_id", "reply_key"]
