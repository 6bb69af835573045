"""Personal access tokens: ``sks_`` + 256 random bits, stored only as a SHA-256 hash.

A fast hash is right here (unlike for passwords): the secret has full entropy, so
there is nothing to brute-force, and lookup by hash stays a single index probe.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from skills_service.caching.versions import principal_epochs
from skills_service.errors import InvalidInput, NotFound
from skills_service.models import ApiToken, Person
from skills_service.models.base import utcnow
from skills_service.policy import Scope
from skills_service.services.common import Page, clean_text
from skills_service.services.teams import managed_ids, managing

PREFIX = "sks_"
SECRET_LENGTH = len(PREFIX) + 43
LAST_USED_RESOLUTION = timedelta(minutes=1)
LAST_USED_SECONDS = LAST_USED_RESOLUTION.total_seconds()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


@dataclass(frozen=True)
class TokenOwner:
    """A live token, its active owner, the teams the owner manages, and the epochs of
    the owner's principal as they were read (``caching.versions``)."""

    token: ApiToken
    person: Person
    managed_team_ids: frozenset[int]
    person_epoch: int
    principals_epoch: int


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: Iterable[str]) -> frozenset[Scope]:
    try:
        scopes = frozenset(Scope(value) for value in raw)
    except ValueError:
        raise InvalidInput("Unknown scope.", {"scope": ["Use read and/or write."]}) from None
    return scopes or frozenset({Scope.READ})


def token_scopes(token: ApiToken) -> frozenset[Scope]:
    return frozenset(Scope(value) for value in token.scopes.split())


def create_token(
    session: Session,
    *,
    person: Person,
    name: str,
    scopes: Iterable[str],
    expires_days: int,
    max_days: int,
    now: datetime | None = None,
) -> IssuedToken:
    if not 1 <= expires_days <= max_days:
        raise InvalidInput("Bad expiry.", {"expires_days": [f"Between 1 and {max_days} days."]})
    issued_at = now or utcnow()
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        person_id=person.id,
        name=clean_text(name, field="name", max_length=64),
        token_hash=hash_secret(secret),
        hint=secret[: len(PREFIX) + 4],
        scopes=" ".join(sorted(scope.value for scope in parse_scopes(scopes))),
        created_at=issued_at,
        expires_at=issued_at + timedelta(days=expires_days),
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def tokens_of(session: Session, person_id: int) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.person_id == person_id).order_by(ApiToken.id)
    ).all()


def active_tokens(
    session: Session, *, now: datetime, page: int, limit: int
) -> Page[tuple[ApiToken, Person]]:
    """Every unrevoked, unexpired token with its owner, newest first (for administrators)."""
    live = (ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
    total = session.scalar(select(func.count()).select_from(ApiToken).where(*live)) or 0
    rows = session.execute(
        select(ApiToken, Person)
        .join(Person, Person.id == ApiToken.person_id)
        .where(*live)
        .order_by(ApiToken.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    ).all()
    return Page(
        items=[(token, person) for token, person in rows], total=total, page=page, limit=limit
    )


def revoke_token(
    session: Session, *, token_id: int, owner_id: int | None = None, now: datetime | None = None
) -> ApiToken:
    """Revoke by id; with ``owner_id``, only that person's token (others look absent)."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner_id is not None and token.person_id != owner_id):
        raise NotFound(f"Token {token_id} does not exist.")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.flush()
    return token


def revoke_tokens_of(session: Session, *, person_id: int, now: datetime | None = None) -> int:
    """Revoke every live token of a person (each change audited); how many there were."""
    at = now or utcnow()
    live = session.scalars(
        select(ApiToken).where(
            ApiToken.person_id == person_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > at,
        )
    ).all()
    for token in live:
        token.revoked_at = at
    session.flush()
    return len(live)


def well_formed(secret: str) -> bool:
    return secret.startswith(PREFIX) and len(secret) == SECRET_LENGTH


def authenticate(session: Session, secret: str, now: datetime | None = None) -> TokenOwner | None:
    """The live token for ``secret`` with its owner, in one statement; or None.

    Its use is recorded (``last_used_at``) at most once per ``LAST_USED_RESOLUTION``.
    """
    if not well_formed(secret):
        return None
    at = now or utcnow()
    rows = session.execute(
        managing(
            select(ApiToken, Person, *principal_epochs())
            .join(Person, Person.id == ApiToken.person_id)
            .where(ApiToken.token_hash == hash_secret(secret))
        )
    ).all()
    if not rows:
        return None
    token, person = rows[0][0], rows[0][1]
    if token.revoked_at is not None or token.expires_at <= at or not person.active:
        return None
    if token.last_used_at is None or at - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = at
    return TokenOwner(
        token,
        person,
        managed_ids(rows),
        person_epoch=rows[0].person_epoch,
        principals_epoch=rows[0].principals_epoch,
    )


def record_use(session: Session, *, token_id: int, now: datetime | None = None) -> None:
    """Record that the token was used (by a principal served without ``authenticate``)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now or utcnow()
