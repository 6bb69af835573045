"""External identities: binding single sign-on identities to people, and their roles.

An identity is bound to a person by (issuer, subject), and from then on only that
pair finds the person: a changed email at the provider changes nothing here, and
another subject with the same email never takes over. Before it is bound, an
identity reaches an existing account only by the *verified* address exactly as the
provider wrote it (ASCII case ignored in the domain only, RFC 5321 §2.4). Nothing is
folded: a full-width, compatibility, case-variant or otherwise non-canonical address
is refused, never linked and never provisioned, since folding it would grant a
mailbox the provider never verified.

When a role map is configured the provider is authoritative for roles: each sign-in
and each access token sets the role its claim maps to, or the default role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, Unauthenticated
from skills_service.models import Person
from skills_service.policy import Role
from skills_service.services import audit, people

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class ExternalIdentity:
    """What an identity provider vouches for (from a verified ID or access token)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    claim_values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a sign-in that waits for its second factor."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExternalIdentity:
        return cls(**{**data, "claim_values": tuple(data.get("claim_values", ()))})


@dataclass(frozen=True)
class RoleMapping:
    """``SKILLS_OIDC_ROLE_MAP`` and ``SKILLS_OIDC_DEFAULT_ROLE``."""

    claim_roles: Mapping[str, str]
    default_role: str

    def role_of(self, identity: ExternalIdentity) -> Role:
        """The highest role any of the identity's claim values maps to, else the default."""
        mapped = [
            Role(self.claim_roles[value])
            for value in identity.claim_values
            if value in self.claim_roles
        ]
        return max(mapped, key=lambda role: role.rank, default=Role(self.default_role))


@dataclass(frozen=True)
class SignOn:
    """The person an SSO sign-in reaches; ``bind_after_second_factor`` when the identity
    is to be bound to that person's account only once its local second factor passed."""

    person: Person
    bind_after_second_factor: bool = False


def claim_values(raw: object) -> tuple[str, ...]:
    """A role claim as strings, whether the provider sends one value or a list."""
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, Iterable):
        return tuple(str(value) for value in raw if isinstance(value, str | int))
    return ()


def identity_from_claims(claims: Mapping[str, Any], *, role_claim: str) -> ExternalIdentity:
    """What verified claims vouch for; only ``email_verified: true`` counts as verified."""
    email = claims.get("email")
    name = next(
        (
            value
            for value in (claims.get("name"), claims.get("preferred_username"))
            if isinstance(value, str) and value.strip()
        ),
        None,
    )
    return ExternalIdentity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=claims.get("email_verified") is True,
        name=name,
        claim_values=claim_values(claims.get(role_claim)),
    )


def exact_address(raw: str) -> str | None:
    """``raw`` as the service stores addresses, if it already is that spelling.

    Only the domain's ASCII letters are lowered; any other difference from the stored
    form (full-width or compatibility characters, upper case in the local part,
    spaces, combining marks that compose, an invalid address) gives None.
    """
    local, at, domain = raw.rpartition("@")
    if not at:
        return None
    address = f"{local}@{domain.translate(_ASCII_LOWER)}"
    try:
        return address if people.normalise_email(address) == address else None
    except InvalidInput:
        return None


def bound_person(session: Session, identity: ExternalIdentity) -> Person | None:
    """The person this identity's issuer and subject are bound to."""
    return session.scalar(
        select(Person).where(
            Person.oidc_issuer == identity.issuer, Person.oidc_subject == identity.subject
        )
    )


def sign_on(session: Session, identity: ExternalIdentity, *, roles: RoleMapping) -> SignOn:
    """The person behind an SSO sign-in: bound, linked by exact address, or new.

    A person with a local second factor is returned unchanged, with the binding
    left to ``bind`` once that factor has been passed.
    """
    person = bound_person(session, identity)
    if person is not None:
        _require_active(person)
        apply_mapped_role(session, person, identity, roles=roles)
        return SignOn(person)
    address = _verified_exact_address(identity)
    person = session.scalar(select(Person).where(Person.email == address))
    if person is None:
        return SignOn(_provision(session, identity, address, roles=roles))
    _require_active(person)
    if person.mfa_enabled_at is not None:
        _require_unbound(person)
        return SignOn(person, bind_after_second_factor=True)
    return SignOn(bind(session, person_id=person.id, identity=identity, roles=roles))


def bind(
    session: Session, *, person_id: int, identity: ExternalIdentity, roles: RoleMapping
) -> Person:
    """Bind ``identity`` to the person's account and apply its mapped role."""
    person = people.get_person(session, person_id)
    _require_active(person)
    _require_unbound(person)
    if bound_person(session, identity) is not None:
        raise Conflict("That identity is already linked to another account.")
    person.oidc_issuer, person.oidc_subject = identity.issuer, identity.subject
    apply_mapped_role(session, person, identity, roles=roles)
    session.flush()
    return person


def person_for_access_token(
    session: Session, identity: ExternalIdentity, *, roles: RoleMapping
) -> Person:
    """The active person an access token's identity is already bound to.

    A bearer token never links or provisions an account: only a browser sign-in
    does, where the local second factor can be asked for.
    """
    person = bound_person(session, identity)
    if person is None:
        raise Unauthenticated("No account is linked to this identity.")
    _require_active(person)
    apply_mapped_role(session, person, identity, roles=roles)
    session.flush()
    return person


def apply_mapped_role(
    session: Session, person: Person, identity: ExternalIdentity, *, roles: RoleMapping
) -> None:
    """With a role map configured, the provider's role replaces the stored one.

    No mapped claim value means the default role, so a role is taken away as soon as
    the provider stops granting it. A change is audited and ends the person's
    sessions, as any role change does.
    """
    if not roles.claim_roles:
        return
    role = roles.role_of(identity).value
    if role == person.role:
        return
    audit.record(
        session,
        "person.role_mapped",
        target_type="person",
        target_id=person.id,
        before={"role": person.role},
        after={"role": role, "issuer": identity.issuer},
    )
    person.role = role
    people.end_sessions(person)


def _verified_exact_address(identity: ExternalIdentity) -> str:
    if not identity.email or not identity.email_verified:
        raise Unauthenticated("The identity provider did not supply a verified email address.")
    address = exact_address(identity.email)
    if address is None:
        raise Unauthenticated(
            "The identity provider's email address is not in plain form"
            " (lower case, no look-alike characters); nothing was linked."
        )
    return address


def _provision(
    session: Session, identity: ExternalIdentity, address: str, *, roles: RoleMapping
) -> Person:
    person = people.create_person(
        session,
        email=address,
        name=identity.name or address.split("@", 1)[0],
        role=roles.role_of(identity).value,
    )
    person.oidc_issuer, person.oidc_subject = identity.issuer, identity.subject
    session.flush()
    return person


def _require_active(person: Person) -> None:
    if not person.active:
        raise Unauthenticated("This account is deactivated.")


def _require_unbound(person: Person) -> None:
    if person.oidc_subject is not None:
        raise Conflict("That account is already linked to another identity.")
