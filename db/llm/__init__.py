"""The model backend's storage: which guilds turned it on, and the tokens each guild spent per day."""

from db.llm.repository import ModelRepository

__all__ = ["ModelRepository"]
