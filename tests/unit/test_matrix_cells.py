"""Formula-injection protection of CSV cells, as properties over any text."""

from __future__ import annotations

import csv
import io

from hypothesis import example, given
from hypothesis import strategies as st

from skills_service.services.matrix import safe_cell, unprotect_cell

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")

formula_like = st.builds(
    lambda start, rest: start + rest,
    st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", "'", "'=", "''"]),
    st.text(),
)
any_text = st.text() | formula_like


@given(any_text)
@example('=HYPERLINK("https://evil.example","x")')
@example("@SUM(1)")
def test_a_protected_cell_never_starts_with_a_formula_character(text: str) -> None:
    assert not safe_cell(text).startswith(DANGEROUS_STARTS)


@given(st.text().filter(lambda text: not text.startswith(("'", *DANGEROUS_STARTS, "\n"))))
@example("Ada Lovelace")
@example("C++")
def test_harmless_text_is_exported_unchanged(text: str) -> None:
    assert safe_cell(text) == text


@given(any_text)
@example("=1+2")
@example("'=1+2")
@example("''")
@example("'t Hooft")
def test_unprotect_undoes_protect_for_any_text(text: str) -> None:
    assert unprotect_cell(safe_cell(text)) == text


@given(st.lists(any_text, min_size=1, max_size=6))
@example(["=cmd|' /C calc'!A0", "-2+3", "plain", "'quoted", "multi\r\nline"])
def test_protected_cells_survive_a_csv_round_trip(row: list[str]) -> None:
    protected = [safe_cell(cell) for cell in row]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow(protected)
    buffer.seek(0)
    assert next(csv.reader(buffer)) == protected


def test_none_is_an_empty_cell() -> None:
    assert safe_cell(None) == ""


def test_numbers_are_exported_as_their_text() -> None:
    assert (safe_cell(3), safe_cell(-1)) == ("3", "'-1")
