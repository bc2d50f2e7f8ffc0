"""Storage by feature (``chat``, ``trivia``, ``story``: models and repositories each), with the shared pieces at the
top: the declarative base, engine, migrations runner, schema, batching and the group-commit turn writer."""

__all__: list[str] = []
