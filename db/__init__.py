"""Storage: SQLAlchemy 2.0 async models, engine, migrations runner and repositories."""

__all__: list[str] = []
