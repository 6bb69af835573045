"""The one vocabulary of domain errors.

Services raise these; the error handlers turn them into problem+json (API) or a
page. Messages are written for the client: they never carry SQL, stack traces or
library text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base class; ``detail`` is safe to show to the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class Forbidden(DomainError):
    pass


class ReauthenticationRequired(Forbidden):
    """Allowed, but only after the person confirms who they are again (a step-up)."""


class Unauthenticated(DomainError):
    pass


class InvalidCredentials(Unauthenticated):
    """A credential was presented and is malformed, unknown, wrong, expired or revoked.

    Every such refusal carries the same message, so an answer never tells a caller
    which check failed (a revoked token from an unknown one, a bad signature from an
    expired JWT).
    """

    DETAIL = "The access token is invalid, expired or revoked."

    def __init__(self) -> None:
        super().__init__(self.DETAIL)


class PreconditionRequired(DomainError):
    pass


class PreconditionFailed(DomainError):
    pass


class Unavailable(DomainError):
    """A store the request needs (database, Redis) cannot be reached right now.

    Nothing is wrong with the request itself; the client may retry it later.
    """


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a domain rule; ``errors`` is per field."""

    def __init__(self, detail: str, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(detail)
        self.errors = {field: list(messages) for field, messages in (errors or {}).items()}


class ImportRejected(DomainError):
    """A CSV import that failed validation; ``line_errors`` lists every bad line."""

    def __init__(self, detail: str, line_errors: Sequence[LineError]) -> None:
        super().__init__(detail)
        self.line_errors = list(line_errors)


@dataclass(frozen=True)
class LineError:
    line: int
    column: str
    message: str
