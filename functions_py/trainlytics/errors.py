"""Exceptions the CLI reports as one line, without a traceback."""

from __future__ import annotations

__all__ = ["DatabaseUnavailableError", "MigrationError", "TrainlyticsError"]


class TrainlyticsError(Exception):
    """An expected failure a person can act on; ``hint`` says how."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DatabaseUnavailableError(TrainlyticsError):
    """The database could not be reached or started."""


class MigrationError(TrainlyticsError):
    """A migration (or the local bootstrap) failed; its transaction was rolled back."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        statement_number: int | None = None,
        statement: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.statement_number = statement_number
        self.statement = statement
