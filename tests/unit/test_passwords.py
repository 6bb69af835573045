"""The password policy (NIST SP 800-63B style) and argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from skills_service.errors import InvalidInput
from skills_service.services import passwords

COMMON_LONG = next(word for word in FREQUENCY_LISTS["passwords"] if len(word) >= 12)


def refusal(password: str, **kwargs: object) -> list[str]:
    with pytest.raises(InvalidInput) as raised:
        passwords.check_policy(password, **kwargs)  # type: ignore[arg-type]
    return raised.value.errors["password"]


def test_fewer_than_twelve_characters_are_refused() -> None:
    assert refusal("eleven char") == ["Use at least 12 characters."]


def test_a_password_from_the_common_list_is_refused_in_any_case() -> None:
    assert "most common passwords" in refusal(COMMON_LONG)[0]
    assert "most common passwords" in refusal(COMMON_LONG.upper())[0]


def test_a_password_built_from_the_persons_own_name_is_refused() -> None:
    inputs = ["ada.lovelace@example.org", "ada.lovelace", "Ada Lovelace"]
    refusal("ada.lovelace2024", user_inputs=inputs)


def test_a_long_passphrase_needs_no_digits_capitals_or_symbols() -> None:
    passwords.check_policy("correct horse battery staple")


def test_an_absurdly_long_password_is_refused_before_hashing() -> None:
    assert refusal("x" * (passwords.MAX_LENGTH + 1)) == ["Use at most 1024 characters."]


def test_the_service_hashes_with_argon2id_over_64_mib_in_3_passes() -> None:
    assert (passwords.TIME_COST, passwords.MEMORY_COST_KIB, passwords.PARALLELISM) == (3, 65536, 4)


def test_hashes_are_argon2id_with_the_configured_cost() -> None:
    hashed = passwords.hash_password("correct horse battery staple")
    parameters = extract_parameters(hashed)
    assert parameters.type is Type.ID
    assert parameters.memory_cost == passwords.HASHER.memory_cost
    assert parameters.time_cost == passwords.HASHER.time_cost
    assert passwords.verify_password(hashed, "correct horse battery staple")
    assert not passwords.verify_password(hashed, "correct horse battery stapler")


def test_an_unknown_account_is_checked_against_a_dummy_hash_and_fails() -> None:
    assert passwords.verify_password_or_dummy(None, "anything at all here") is False


def test_a_corrupt_stored_hash_is_a_failed_check_not_an_error() -> None:
    assert passwords.verify_password("not-a-hash", "anything at all here") is False
    with pytest.raises(InvalidHashError):
        passwords.HASHER.verify("not-a-hash", "anything at all here")
