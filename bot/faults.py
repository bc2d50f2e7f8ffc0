"""Failures told to users: one they can retry, or a fault of ours, in a persona's voice with a reference to quote.

A failure a user can retry is a database that did not answer or refused the write (``StorageError`` from the
repositories, any SQLAlchemy error, a timeout) or Discord failing for a moment. Anything else is a bug. Either way
the log gets one line with a short reference, and the user gets the same reference: "... (ref 3F9K2A1C)".
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from db.common import StorageError, describe_failure
from personas.persona import Persona

__all__ = ["Fault", "database_failure", "new_ref", "retryable"]


def new_ref() -> str:
    """A short reference for one failure: 8 upper-case hex digits, in the log line and in the user's message."""
    return secrets.token_hex(4).upper()


def retryable(exc: BaseException) -> bool:
    """True when trying the same thing again later may work: the database or the network failed, not our code."""
    return isinstance(exc, StorageError | SQLAlchemyError | TimeoutError | ConnectionError)


def database_failure(exc: BaseException) -> bool:
    """True when the database failed or refused: a repository's StorageError or any SQLAlchemy error."""
    return isinstance(exc, StorageError | SQLAlchemyError)


class Fault:
    """One failure: logged once with its reference when made; ``text`` is what the user is told.

    ``on_database_error`` is called when the failure is the database's (see ``database_failure``).
    """

    def __init__(
        self,
        exc: BaseException,
        persona: Persona,
        *,
        what: str,
        logger: logging.Logger,
        retry: bool | None = None,
        on_database_error: Callable[[], None] | None = None,
    ) -> None:
        self.ref = new_ref()
        self.retry = retryable(exc) if retry is None else retry
        if on_database_error is not None and database_failure(exc):
            on_database_error()
        if self.retry:
            logger.warning("%s failed, the user may try again (ref %s): %s", what, self.ref, describe_failure(exc))
        else:
            logger.error("%s failed (ref %s)", what, self.ref, exc_info=exc)
        lines = persona.voice.retry if self.retry else persona.voice.fault
        self.text = f"{lines[int(self.ref, 16) % len(lines)]} (ref {self.ref})"
