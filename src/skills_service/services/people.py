"""People: created by an admin, by CSV import, or on first single sign-on."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, NotFound
from skills_service.models import Person, TeamMember
from skills_service.policy import PersonTarget, Role
from skills_service.services import passwords
from skills_service.services.common import check_version, clean_text, name_key

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
    rows = session.execute(
        select(TeamMember.person_id, TeamMember.team_id)
        .where(TeamMember.person_id.in_(person_ids))
        .order_by(TeamMember.team_id)
    )
    for person_id, team_id in rows:
        result[person_id].append(team_id)
    return result


def as_target(session: Session, person_id: int) -> PersonTarget:
    """The person as an object of a policy decision (existence checked)."""
    get_person(session, person_id)
    return PersonTarget(person_id=person_id, team_ids=frozenset(team_ids_of(session, person_id)))


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
    clean_email = normalise_email(email)
    if find_by_email(session, clean_email) is not None:
        raise Conflict("A person with that email address already exists.")
    clean_name = clean_text(name, field="name", max_length=NAME_MAX)
    person = Person(
        email=clean_email,
        name=clean_name,
        name_key=name_key(clean_name),
        role=parse_role(role).value,
        active=active,
        password_hash=(
            passwords.hash_password(password, user_inputs=[clean_email, clean_name])
            if password is not None
            else None
        ),
        must_change_password=must_change_password,
    )
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
    if name is not None:
        person.name = clean_text(name, field="name", max_length=NAME_MAX)
        person.name_key = name_key(person.name)
    ends_sessions = (role is not None and parse_role(role).value != person.role) or (
        active is not None and active != person.active
    )
    if role is not None:
        person.role = parse_role(role).value
    if active is not None:
        person.active = active
    if ends_sessions:
        end_sessions(person)
    session.flush()
    return person
