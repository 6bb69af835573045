"""Two-factor authentication: TOTP (RFC 6238) with one-time recovery codes.

The TOTP secret is encrypted at rest (Fernet, key derived from the app's secret
key with HKDF), a code is accepted once only (the last used time step is stored),
and recovery codes are stored as SHA-256 hashes — they are random, so a fast hash
is enough, as for API tokens.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from skills_service.models import Person, RecoveryCode
from skills_service.models.base import utcnow
from skills_service.services import audit

log = logging.getLogger(__name__)

ISSUER_NAME = "skills-service"
RECOVERY_CODES = 10
VALID_WINDOW = 1
"""Accept the previous and next 30-second step too, for clock drift."""


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str
    qr_svg: str


def _fernet(secret_key: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"skills-service totp").derive(
        secret_key
    )
    return Fernet(base64.urlsafe_b64encode(key))


def begin_enrolment(*, person: Person, secret: str | None = None) -> Enrolment:
    """A new secret (or the pending one again) with its QR code; nothing is stored."""
    secret = secret or pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name=ISSUER_NAME)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, title="Authenticator set-up code")
    return Enrolment(secret=secret, provisioning_uri=uri, qr_svg=qr_svg)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` is valid for, within the drift window, or None."""
    digits = code.strip().replace(" ", "")
    if not (len(digits) == 6 and digits.isascii() and digits.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.at(step * totp.interval), digits):
            return step
    return None


def confirm_enrolment(
    session: Session,
    *,
    person: Person,
    secret: str,
    code: str,
    secret_key: bytes,
    now: float | None = None,
) -> list[str]:
    """Turn MFA on if ``code`` proves the app has ``secret``; returns the recovery codes
    (shown once), or an empty list when the code is wrong (nothing is stored)."""
    step = _matching_step(secret, code, time.time() if now is None else now)
    if step is None:
        return []
    person.totp_secret_encrypted = _fernet(secret_key).encrypt(secret.encode()).decode()
    person.totp_last_step = step
    person.mfa_enabled_at = utcnow()
    return _new_recovery_codes(session, person)


def _new_recovery_codes(session: Session, person: Person) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        code = f"{raw[:8]}-{raw[8:]}"
        codes.append(code)
        session.add(RecoveryCode(person_id=person.id, code_hash=_hash_code(code)))
    session.flush()
    return codes


def _hash_code(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def verify_second_factor(
    session: Session, *, person: Person, code: str, secret_key: bytes, now: float | None = None
) -> bool:
    """A fresh TOTP code (never one already used) or an unused recovery code.

    A refused code is recorded in the audit trail.
    """
    accepted = _accepts(session, person=person, code=code, secret_key=secret_key, now=now)
    if not accepted:
        audit.record(
            session,
            "login.failed",
            target_type="person",
            target_id=person.id,
            after={"method": "second factor", "reason": "code not accepted"},
        )
    return accepted


def _accepts(
    session: Session, *, person: Person, code: str, secret_key: bytes, now: float | None
) -> bool:
    if person.totp_secret_encrypted is None:
        return False
    try:
        secret = _fernet(secret_key).decrypt(person.totp_secret_encrypted.encode()).decode()
    except InvalidToken:
        # The secret key changed since enrolment: the authenticator app can no longer
        # be checked, but the recovery codes (hashes, not encrypted) still can.
        log.warning("TOTP secret undecryptable (secret key rotated?); only recovery codes work")
        return _use_recovery_code(session, person, code)
    step = _matching_step(secret, code, time.time() if now is None else now)
    if step is not None:
        if person.totp_last_step is not None and step <= person.totp_last_step:
            return False
        person.totp_last_step = step
        session.flush()
        return True
    return _use_recovery_code(session, person, code)


def _use_recovery_code(session: Session, person: Person, code: str) -> bool:
    if len(code) > 64:
        return False
    recovery = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.person_id == person.id,
            RecoveryCode.code_hash == _hash_code(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if recovery is None:
        return False
    recovery.used_at = utcnow()
    session.flush()
    return True


def remaining_recovery_codes(session: Session, person_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def disable_mfa(session: Session, *, person: Person) -> None:
    person.totp_secret_encrypted = None
    person.totp_last_step = None
    person.mfa_enabled_at = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    session.flush()
