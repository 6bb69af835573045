"""Accounts: password sign-in and changes, and linking single sign-on identities."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, Unauthenticated
from skills_service.models import Person
from skills_service.models.base import utcnow
from skills_service.policy import Role
from skills_service.services import audit, passwords, people, tokens


@dataclass(frozen=True)
class ExternalIdentity:
    """What an identity provider vouches for (from a verified ID or access token)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    claim_values: tuple[str, ...] = ()


def role_for(identity: ExternalIdentity, role_map: Mapping[str, str], default: str) -> Role:
    """The highest role any of the identity's claim values maps to, else ``default``."""
    mapped = [Role(role_map[value]) for value in identity.claim_values if value in role_map]
    return max(mapped, key=lambda role: role.rank, default=Role(default))


def person_for_identity(
    session: Session,
    identity: ExternalIdentity,
    *,
    role_map: Mapping[str, str],
    default_role: str,
) -> Person:
    """The person behind an external identity, linked or provisioned just in time.

    An identity is matched by (issuer, subject) first. An existing local person is
    linked only by a *verified* email — an unverified one could be anyone's claim.
    When the provider maps the identity to a role, the person's role follows it.
    """
    person = session.scalar(
        select(Person).where(
            Person.oidc_issuer == identity.issuer, Person.oidc_subject == identity.subject
        )
    )
    if person is None and identity.email:
        existing = people.find_by_email(session, identity.email)
        if existing is not None:
            if not identity.email_verified:
                raise Conflict("An account with that email exists; the provider did not verify it.")
            if existing.oidc_subject is not None:
                raise Conflict("That account is already linked to another identity.")
            existing.oidc_issuer, existing.oidc_subject = identity.issuer, identity.subject
            person = existing
    if person is None:
        if not identity.email or not identity.email_verified:
            raise Unauthenticated("The identity provider did not supply a verified email.")
        person = people.create_person(
            session,
            email=identity.email,
            name=identity.name or identity.email.split("@", 1)[0],
            role=role_for(identity, role_map, default_role).value,
        )
        person.oidc_issuer, person.oidc_subject = identity.issuer, identity.subject
    elif any(value in role_map for value in identity.claim_values):
        mapped_role = role_for(identity, role_map, default_role).value
        if mapped_role != person.role:
            person.role = mapped_role
            people.end_sessions(person)
    if not person.active:
        raise Unauthenticated("This account is deactivated.")
    session.flush()
    return person


def claim_values(raw: object) -> tuple[str, ...]:
    """A role claim as strings, whether the provider sends one value or a list."""
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, Iterable):
        return tuple(str(value) for value in raw if isinstance(value, str | int))
    return ()


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
