"""Names, ETags and pages: the small rules every aggregate relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skills_service.errors import InvalidInput, PreconditionFailed, PreconditionRequired
from skills_service.services.common import (
    MAX_ID,
    Page,
    ascii_int,
    check_version,
    clean_text,
    in_batches,
    name_key,
    parse_etag,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"3"', 3),
        ('W/"3"', 3),
        ("3", 3),
        (None, None),
        ('"abc"', -1),
        ('"' + "9" * 30 + '"', -1),
        ('"\u0663"', -1),
        ('"\uff13"', -1),
        ('"\u00b2"', -1),
    ],
)
def test_parse_etag(raw: str | None, expected: int | None) -> None:
    assert parse_etag(raw) == expected


NOT_ASCII_NUMBERS = ["\u00b2", "\u0663", "\uff13", "\u09e9", "", "-1", "+1", " 1", "1.0", "9" * 99]


@pytest.mark.parametrize("text", NOT_ASCII_NUMBERS)
def test_ascii_int_refuses_everything_but_ascii_digits_in_range(text: str) -> None:
    assert ascii_int(text) is None


@given(st.text(max_size=30))
def test_ascii_int_agrees_with_int_on_ascii_digits_and_refuses_the_rest(text: str) -> None:
    number = ascii_int(text, maximum=MAX_ID)
    if text.isascii() and text.isdigit() and int(text) <= MAX_ID:
        assert number == int(text)
    else:
        assert number is None


def test_check_version_requires_and_compares() -> None:
    with pytest.raises(PreconditionRequired):
        check_version(2, None)
    with pytest.raises(PreconditionFailed):
        check_version(2, '"1"')
    check_version(2, '"2"')
    check_version(2, "*")


def test_name_key_folds_case_and_width() -> None:
    assert name_key("ＧＯ") == name_key("go") == name_key("Go")
    assert name_key("Straße") == name_key("STRASSE")


@given(st.text(max_size=80))
def test_clean_text_either_refuses_or_returns_a_trimmed_visible_label(raw: str) -> None:
    try:
        cleaned = clean_text(raw, field="name", max_length=64)
    except InvalidInput as exc:
        assert exc.errors["name"]
        return
    assert cleaned == cleaned.strip()
    assert 1 <= len(cleaned) <= 64
    assert "  " not in cleaned


def test_page_knows_whether_more_follow() -> None:
    assert Page(items=[1, 2], total=5, page=1, limit=2).has_next
    assert not Page(items=[5], total=5, page=3, limit=2).has_next
    assert Page(items=[], total=0, page=1, limit=2).offset == 0


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=50))
def test_in_batches_keeps_every_value_in_order_within_the_size(
    values: list[int], size: int
) -> None:
    batches = list(in_batches(values, size))
    assert [value for batch in batches for value in batch] == values
    assert all(1 <= len(batch) <= size for batch in batches)
