"""How a page answers a change it refuses: the page again, the reason, a 4xx status.

Nothing was written (the transaction rolled back), the page shows the current
state, and the status is the one the API would give for the same error.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash
from flask_wtf import FlaskForm

from skills_service.errors import DomainError, Forbidden, InvalidInput, PreconditionFailed
from skills_service.security import audit_context
from skills_service.security.problems import status_for

STALE_PAGE = "This changed since you loaded the page; the page now shows the latest."


def refused(error: DomainError, render: Callable[[], str]) -> tuple[str, int]:
    if isinstance(error, Forbidden):
        audit_context.record_refusal(error)
    flash(STALE_PAGE if isinstance(error, PreconditionFailed) else error.detail)
    if isinstance(error, InvalidInput):
        for field, messages in error.errors.items():
            for message in messages:
                flash(f"{field}: {message}")
    return render(), status_for(error)


def invalid_form(
    form: FlaskForm, detail: str = "Some fields are missing or not valid."
) -> InvalidInput:
    errors: dict[str, list[str]] = form.errors
    return InvalidInput(detail, errors)
