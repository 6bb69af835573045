"""How an identity provider's address is compared with stored ones: exactly, never folded."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from skills_service.errors import InvalidInput
from skills_service.services import people
from skills_service.services.identities import exact_address

LOCAL_CHARS = st.characters(codec="utf-8", exclude_characters="@ \t\r\n")
ADDRESSES = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(LOCAL_CHARS, min_size=1, max_size=12),
    st.text(LOCAL_CHARS, min_size=1, max_size=12),
    st.text(st.characters(min_codepoint=0x41, max_codepoint=0x7A), min_size=2, max_size=4),
)


def stored_form(raw: str) -> str | None:
    try:
        return people.normalise_email(raw)
    except InvalidInput:
        return None


@given(ADDRESSES)
def test_an_accepted_address_is_already_stored_spelling_but_for_domain_ascii_case(
    raw: str,
) -> None:
    address = exact_address(raw)
    if address is None:
        return
    assert stored_form(address) == address
    local, _, domain = raw.rpartition("@")
    assert address == f"{local}@{domain.lower()}"
    assert address.rpartition("@")[0] == local


@given(ADDRESSES)
def test_an_address_that_folds_to_another_is_never_accepted(raw: str) -> None:
    """Whatever NFKC or case would change in the local part makes the address unusable."""
    local = raw.rpartition("@")[0]
    assume(unicodedata.normalize("NFKC", local).strip().lower() != local)
    assert exact_address(raw) is None


@given(st.sampled_from(["mgr@example.org", "ada.lovelace@corp.example", "x1@a.io"]))
def test_no_full_width_spelling_of_a_stored_address_is_accepted(stored: str) -> None:
    full_width = "".join(chr(ord(char) + 0xFEE0) if char.isalnum() else char for char in stored)
    assert stored_form(full_width) == stored
    assert exact_address(full_width) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mgr@example.org", "mgr@example.org"),
        ("mgr@EXAMPLE.Org", "mgr@example.org"),
        ("Mgr@example.org", None),
        ("mgr@example.org.", None),
        (" mgr@example.org", None),
        ("mgr\u200b@example.org", None),
        ("m\u0301gr@example.org", None),
        ("mgr", None),
    ],
)
def test_exact_address_examples(raw: str, expected: str | None) -> None:
    assert exact_address(raw) == expected
