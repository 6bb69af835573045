"""People: created by an admin, by CSV import, or on first single sign-on."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, NotFound
from skills_service.models import Person, TeamMember
from skills_service.policy import PersonTarget, Role
from skills_service.services import passwords, search_index, summaries
from skills_service.services.common import check_version, clean_text, in_batches, name_key

NAME_MAX = 128
EMAIL_MAX = 254
INVALID_EMAIL_MESSAGE = (
    "Not a valid address: one @, no spaces, markup or control characters, "
    "and a domain name that IDNA can encode (such as example.org)."
)


def _invalid_email() -> InvalidInput:
    return InvalidInput("The email address is not valid.", {"email": [INVALID_EMAIL_MESSAGE]})


def normalise_email(raw: str) -> str:
    """One spelling per mailbox: NFKC (folds full-width tricks), trimmed, lower case, and
    an address by RFC 5321/5322 and IDNA 2008 (``email-validator``, no DNS look-up): one
    ``@``, no quoted or markup characters, a domain with a dot that IDNA can encode, and
    that domain in its Unicode form (``xn--bcher-kva.de`` is ``bücher.de``).
    """
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > EMAIL_MAX or any(
        unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zs") for char in email
    ):
        raise _invalid_email()
    try:
        address = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise _invalid_email() from None
    return str(address.normalized).lower()


def parse_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        allowed = ", ".join(role.value for role in Role)
        raise InvalidInput("Unknown role.", {"role": [f"One of: {allowed}."]}) from None


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


def find_by_email(session: Session, email: str) -> Person | None:
    return session.scalar(select(Person).where(Person.email == normalise_email(email)))


def by_emails(session: Session, emails: Iterable[str]) -> dict[str, Person]:
    """The people who have these (normalised) addresses, looked up in bounded batches."""
    found: dict[str, Person] = {}
    for batch in in_batches(emails):
        found.update(
            (person.email, person)
            for person in session.scalars(select(Person).where(Person.email.in_(batch)))
        )
    return found


def emails_of(session: Session, person_ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for batch in in_batches(person_ids):
        rows = session.execute(select(Person.id, Person.email).where(Person.id.in_(batch)))
        found.update((person_id, email) for person_id, email in rows)
    return found


def get_by_email(session: Session, email: str) -> Person:
    person = find_by_email(session, email)
    if person is None:
        raise NotFound("No person has that email address.")
    return person


def team_ids_of(session: Session, person_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TeamMember.team_id)
            .where(TeamMember.person_id == person_id)
            .order_by(TeamMember.team_id)
        )
    )


def teams_by_person(session: Session, person_ids: Sequence[int]) -> dict[int, list[int]]:
    """Team ids for many people in one query (no N+1 when listing)."""
    result: dict[int, list[int]] = {person_id: [] for person_id in person_ids}
    if not person_ids:
        return result
    for person_id, team_id in session.execute(_teams_statement(), {"person_ids": list(person_ids)}):
        result[person_id].append(team_id)
    return result


@cache
def _teams_statement() -> Select[int, int]:
    """Built once: every listing of people reads it; the ids are an expanding parameter."""
    return (
        select(TeamMember.person_id, TeamMember.team_id)
        .where(TeamMember.person_id.in_(bindparam("person_ids", expanding=True)))
        .order_by(TeamMember.team_id)
    )


def as_target(session: Session, person_id: int) -> PersonTarget:
    """The person as an object of a policy decision (existence checked), in one statement.

    One row per team the person belongs to (one with no team when they belong to
    none), and no row when there is no such person.
    """
    team_ids = session.scalars(_target_statement(), {"person_id": person_id}).all()
    if not team_ids:
        raise NotFound(f"Person {person_id} does not exist.")
    return PersonTarget(
        person_id=person_id,
        team_ids=frozenset(team_id for team_id in team_ids if team_id is not None),
    )


@cache
def _target_statement() -> Select[int]:
    """Built once: every object-level decision about a person reads it."""
    return (
        select(TeamMember.team_id)
        .select_from(Person)
        .outerjoin(TeamMember, TeamMember.person_id == Person.id)
        .where(Person.id == bindparam("person_id"))
    )


def new_person(*, email: str, name: str, role: str, active: bool = True) -> Person:
    """A validated person, not yet added to a session (the caller checks the email is free)."""
    clean_name = clean_text(name, field="name", max_length=NAME_MAX)
    return Person(
        email=normalise_email(email),
        name=clean_name,
        name_key=name_key(clean_name),
        role=parse_role(role).value,
        active=active,
    )


def create_person(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    active: bool = True,
    password: str | None = None,
    must_change_password: bool = False,
) -> Person:
    person = new_person(email=email, name=name, role=role, active=active)
    if find_by_email(session, person.email) is not None:
        raise Conflict("A person with that email address already exists.")
    person.password_hash = (
        passwords.hash_password(password, user_inputs=[person.email, person.name])
        if password is not None
        else None
    )
    person.must_change_password = must_change_password
    session.add(person)
    session.flush()
    return person


def end_sessions(person: Person) -> None:
    """Invalidate every browser session of ``person`` (checked on each request)."""
    person.session_epoch += 1


def update_person(
    session: Session,
    *,
    person_id: int,
    if_match: str | None,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> Person:
    person = get_person(session, person_id)
    check_version(person.version, if_match)
    was_active = person.active
    change_person(person, name=name, role=role, active=active)
    session.flush()
    if person.active != was_active:
        summaries.people_activated(session, [person.id], active=person.active)
    search_index.refresh(session, [person_id])
    return person


def change_person(
    person: Person, *, name: str | None = None, role: str | None = None, active: bool | None = None
) -> bool:
    """Set what is given and differs; a new role or active flag ends the person's sessions.

    Returns whether anything changed (an unchanged person writes nothing).
    """
    changed = False
    if name is not None:
        clean_name = clean_text(name, field="name", max_length=NAME_MAX)
        if clean_name != person.name:
            person.name, person.name_key = clean_name, name_key(clean_name)
            changed = True
    ends_sessions = False
    if role is not None and (new_role := parse_role(role).value) != person.role:
        person.role, ends_sessions = new_role, True
    if active is not None and active != person.active:
        person.active, ends_sessions = active, True
    if ends_sessions:
        end_sessions(person)
    return changed or ends_sessions
