"""Password hashing (argon2id) and the password policy.

The policy follows NIST SP 800-63B: a minimum length, no composition rules, and a
refusal of passwords attackers try first — those in zxcvbn's list of 30,000 common
passwords, or that zxcvbn finds guessable (also given the person's own email and
name, so "ada.lovelace2024" is refused for Ada).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from skills_service.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_STRENGTH = 2
"""zxcvbn score (0-4) below which a password is refused as too guessable."""

# OWASP's argon2id recommendation with more memory: 64 MiB, 3 passes, 4 lanes.
TIME_COST = 3
MEMORY_COST_KIB = 65536
PARALLELISM = 4
HASHER = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, type=Type.ID
)


@cache
def _dummy_hash() -> str:
    """Made on first use, not at import: hashing costs every worker's start ~0.1 s."""
    return HASHER.hash(secrets.token_urlsafe(16))


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Raise ``InvalidInput`` (field ``password``) for a password we will not accept."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            "The password is too short.", {"password": [f"Use at least {MIN_LENGTH} characters."]}
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            "The password is too long.", {"password": [f"Use at most {MAX_LENGTH} characters."]}
        )
    if password.casefold() in _common_passwords():
        raise InvalidInput(
            "The password is too common.",
            {"password": ["This is one of the most common passwords; choose another."]},
        )
    verdict = zxcvbn(password[:100], user_inputs=[value for value in user_inputs if value])
    if verdict["score"] < MIN_STRENGTH:
        advice = verdict["feedback"]["warning"] or "Choose a longer or less predictable password."
        raise InvalidInput("The password is too easy to guess.", {"password": [advice]})


def hash_password(password: str, *, user_inputs: Sequence[str] = ()) -> str:
    check_policy(password, user_inputs=user_inputs)
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password_or_dummy(password_hash: str | None, password: str) -> bool:
    """Verify against a dummy hash when there is no real one, so that an unknown
    account costs the same time as a wrong password (no account enumeration)."""
    if password_hash is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(password_hash, password)
