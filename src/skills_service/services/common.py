"""Rules shared by every aggregate: names, pages, optimistic concurrency."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from skills_service.errors import InvalidInput, PreconditionFailed, PreconditionRequired

T = TypeVar("T")

MAX_PAGE_SIZE = 200
NUL_MESSAGE = "Must not contain NUL characters."
SURROGATE_MESSAGE = "Must not contain unpaired surrogate characters."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TEXT_FAULT_NAMES = {NUL_MESSAGE: "a NUL character", SURROGATE_MESSAGE: "an unpaired surrogate"}
"""Each ``text_fault`` as the words of a sentence ("The field ... contains a NUL character.")."""
MAX_ID = 2**31 - 1
"""The largest id a row can have (ids are 32-bit integer columns)."""


TOTAL_BOUND = 10_000
"""A search counts its matches up to this many (or to the end of the page asked for, if
that is further): past it, its total is a lower bound."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    limit: int
    total_is_exact: bool = True
    """False when there are more than ``total`` items (a bounded count stopped there)."""

    @property
    def has_next(self) -> bool:
        return not self.total_is_exact or self.page * self.limit < self.total

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def page_rows(
    session: Session, statement: Select[*tuple[Any, ...]], *, page: int, limit: int
) -> tuple[Sequence[Row[Any]], int]:
    """One page of ``statement``'s rows and how many rows it has in all.

    The total rides along each row as a window count, so a page costs one statement;
    only a page past the end (no row to carry it) needs a second one to count. An
    empty first page needs none: nothing matched.
    """
    rows = session.execute(
        statement.add_columns(func.count().over().label("total"))
        .offset((page - 1) * limit)
        .limit(limit)
    ).all()
    if rows:
        return rows, int(rows[0].total)
    if page == 1:
        return rows, 0
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return rows, session.scalar(counted) or 0


def count_bound(page: int, limit: int) -> int:
    """How far a bounded count counts: ``TOTAL_BOUND``, or the end of the page if further."""
    return max(TOTAL_BOUND, page * limit)


def bounded_total(counted: int, *, page: int, limit: int) -> tuple[int, bool]:
    """A total and whether it is exact, from a count that went at least one past its bound.

    Above the bound the total is the bound, a lower bound: there are more, and so a
    next page, which ``Page.has_next`` says.
    """
    bound = count_bound(page, limit)
    return (counted, True) if counted <= bound else (bound, False)


def ascii_int(text: str, *, maximum: int = MAX_ID) -> int | None:
    """``text`` as a whole number from 0 to ``maximum``, or None unless it is ASCII digits.

    The one parser of integers from clients. ``str.isdigit`` and ``int`` accept other
    scripts' digits (Arabic-Indic, fullwidth) and ``isdigit`` superscripts ("²", which ``int`` then
    refuses); the length is bounded before converting, so a 5,000-digit string costs
    nothing and never reaches ``int``'s own digit limit.
    """
    if not text or len(text) > len(str(maximum)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= maximum else None


IN_LIST_BATCH = 1000
"""Values per ``IN (...)`` list: far below every driver's bound-parameter limit
(65,535 for psycopg, 32,766 for SQLite), small enough for the planner to use an index."""


def in_batches(values: Iterable[T], size: int = IN_LIST_BATCH) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size``, one ``IN`` list each."""
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def text_fault(text: str) -> str | None:
    """Why ``text`` cannot be stored as text, or None when it can.

    The one text check for every input path. PostgreSQL cannot hold NUL, and a lone
    surrogate (which JSON's ``\\ud800`` escape can produce) is not Unicode: no encoder
    writes it, so either one reaching the database or a response fails there, as a
    server error, instead of being refused as input.
    """
    position = unstorable_at(text)
    if position is None:
        return None
    return NUL_MESSAGE if text[position] == "\x00" else SURROGATE_MESSAGE


def first_text_fault(value: object) -> str | None:
    """The first ``text_fault`` in ``value``, its strings and keys at any depth."""
    if isinstance(value, str):
        return text_fault(value)
    if isinstance(value, Mapping):
        items: list[object] = [part for pair in value.items() for part in pair]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    return next((fault for item in items if (fault := first_text_fault(item))), None)


def unstorable_at(text: str) -> int | None:
    """Where the first character ``text_fault`` refuses is in ``text``, or None."""
    found = _UNSTORABLE.search(text)
    return None if found is None else found.start()


def printable(text: str) -> str:
    """``text`` with the characters ``text_fault`` refuses replaced, to name it in an answer."""
    return _UNSTORABLE.sub("\ufffd", text)


def clean_text(value: str, *, field: str, max_length: int, min_length: int = 1) -> str:
    """Normalise a one-line human label: NFC, trimmed, inner runs of space collapsed.

    Control and format characters (including bidi overrides and zero-width joiners)
    are refused rather than silently removed, so what is stored is what was meant.
    """
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs") for char in text):
        raise InvalidInput(
            f"{field} contains invisible or control characters.",
            {field: ["Must not contain control or invisible characters."]},
        )
    if not min_length <= len(text) <= max_length:
        raise InvalidInput(
            f"{field} must be {min_length} to {max_length} visible characters.",
            {field: [f"Length must be between {min_length} and {max_length}."]},
        )
    return text


def name_key(name: str) -> str:
    """The case-insensitive identity of a name ("Go" and "GO" are the same skill)."""
    return unicodedata.normalize("NFKC", name).casefold()


def parse_etag(value: str | None) -> int | None:
    """The version in an ``If-Match`` value (``"3"`` or ``W/"3"``), or None when absent."""
    if value is None:
        return None
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    version = ascii_int(tag.strip('"'), maximum=2**63 - 1)
    return -1 if version is None else version


def etag_for(version: int) -> str:
    return f'"{version}"'


def check_version(current: int, if_match: str | None) -> None:
    """Enforce optimistic concurrency on an existing resource."""
    expected = parse_etag(if_match)
    if expected is None:
        raise PreconditionRequired("This change needs an If-Match header with the current ETag.")
    if if_match is not None and if_match.strip() == "*":
        return
    if expected != current:
        raise PreconditionFailed("The resource has changed since it was read; fetch it again.")
