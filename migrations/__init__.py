"""Alembic migrations for the t2-companion schema."""
