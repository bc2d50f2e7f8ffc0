"""The model backend's storage: which guilds turned it on, the tokens each guild spent per day, and the character
cards each guild imported."""

from db.llm.cards import CardRepository, StoredCard
from db.llm.repository import ModelRepository

__all__ = ["CardRepository", "ModelRepository", "StoredCard"]
