"""Accounts: password sign-in and password changes."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from skills_service.errors import InvalidInput
from skills_service.models import Person
from skills_service.models.base import utcnow
from skills_service.services import audit, passwords, people, tokens


def authenticate_password(session: Session, *, email: str, password: str) -> Person | None:
    """The active person with this email and password, or None; rehashes stale hashes."""
    try:
        person = people.find_by_email(session, email)
    except InvalidInput:
        person = None
    valid = passwords.verify_password_or_dummy(person.password_hash if person else None, password)
    if person is None or not valid or not person.active:
        reason = (
            "unknown account" if person is None else "wrong password" if not valid else "inactive"
        )
        audit.record(
            session,
            "login.failed",
            target_type="person",
            target_id=person.id if person else None,
            after={"method": "password", "reason": reason},
        )
        return None
    if person.password_hash and passwords.HASHER.check_needs_rehash(person.password_hash):
        person.password_hash = passwords.HASHER.hash(password)
    return person


def confirm_password(session: Session, *, person: Person, password: str) -> bool:
    """A signed-in person proves it is still them (a step-up); a refusal is audited."""
    confirmed = person.password_hash is not None and passwords.verify_password(
        person.password_hash, password
    )
    if not confirmed:
        audit.record(
            session,
            "reauthentication.failed",
            target_type="person",
            target_id=person.id,
            after={"method": "password"},
        )
    return confirmed


def _inputs_of(person: Person) -> list[str]:
    return [person.email, person.email.split("@", 1)[0], person.name]


def change_password(
    session: Session, *, person: Person, current_password: str, new_password: str
) -> None:
    """Change one's own password; every session of the person ends."""
    if not person.password_hash or not passwords.verify_password(
        person.password_hash, current_password
    ):
        raise InvalidInput(
            "The current password is not correct.",
            {"current_password": ["The current password is not correct."]},
        )
    person.password_hash = passwords.hash_password(new_password, user_inputs=_inputs_of(person))
    person.password_changed_at = utcnow()
    person.must_change_password = False
    people.end_sessions(person)
    session.flush()


def admin_reset_password(session: Session, *, person: Person) -> str:
    """A random one-time password, to be changed at the next sign-in.

    A reset is account recovery: whoever held the account may also hold its tokens,
    so every session ends and every token is revoked.
    """
    one_time = secrets.token_urlsafe(18)
    person.password_hash = passwords.HASHER.hash(one_time)
    person.password_changed_at = utcnow()
    person.must_change_password = True
    people.end_sessions(person)
    tokens.revoke_tokens_of(session, person_id=person.id)
    session.flush()
    return one_time
