"""The skills matrix as CSV: the cells, the two layouts and the export.

Two layouts, told apart by their header:

* wide, ``email,name,role,active,<skill>...``: one row per person, the level in
  each skill column (the default export, for people who read it in a spreadsheet);
* long, ``email,name,role,active,skill,level,interested,note,expires_on,
  verified_by,verified_at``: one row per person and skill (a person without any
  proficiency has one row with an empty ``skill``). This is the full export: it
  imports back to exactly the state it was taken from.

Every cell that a spreadsheet would read as a formula is prefixed with ``'``, and
the import removes exactly that prefix. The import itself is ``matrix_import``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from skills_service.errors import InvalidInput
from skills_service.models import Person, Proficiency, Skill

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# The quote itself is protected too, so that unprotecting is exact.
PROTECTED_PREFIXES = (*FORMULA_PREFIXES, "'")
PERSON_COLUMNS = ("email", "name", "role", "active")
WIDE_COLUMNS = PERSON_COLUMNS
LONG_COLUMNS = (
    *PERSON_COLUMNS,
    "skill",
    "level",
    "interested",
    "note",
    "expires_on",
    "verified_by",
    "verified_at",
)
EXPORT_BATCH = 2000


class Layout(StrEnum):
    WIDE = "wide"
    LONG = "long"


def safe_cell(value: object) -> str:
    """Neutralise CSV/formula injection (OWASP): a leading quote makes it text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(PROTECTED_PREFIXES) else text


def unprotect_cell(text: str) -> str:
    """Undo ``safe_cell``, so an exported file imports back unchanged."""
    if text.startswith("'") and text[1:].startswith(PROTECTED_PREFIXES):
        return text[1:]
    return text


def decode_upload(raw: bytes) -> str:
    """The text of an uploaded CSV file (UTF-8, with or without a byte-order mark)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text.", {"file": ["Save it as UTF-8."]}) from None


def export_rows(
    session: Session, layout: Layout = Layout.WIDE, *, batch_size: int = EXPORT_BATCH
) -> Iterator[list[str]]:
    """Header then the rows of ``layout``, streamed in batches of people (never the table)."""
    if layout is Layout.LONG:
        return _long_rows(session, batch_size)
    return _wide_rows(session, batch_size)


def _people_batches(session: Session, batch_size: int) -> Iterator[Sequence[Person]]:
    last_id = 0
    while batch := session.scalars(
        select(Person).where(Person.id > last_id).order_by(Person.id).limit(batch_size)
    ).all():
        yield batch
        last_id = batch[-1].id


def _person_cells(person: Person) -> list[str]:
    return [
        safe_cell(person.email),
        safe_cell(person.name),
        person.role,
        boolean_cell(person.active),
    ]


def boolean_cell(value: bool) -> str:
    return "true" if value else "false"


def _wide_rows(session: Session, batch_size: int) -> Iterator[list[str]]:
    skills = session.execute(
        select(Skill.id, Skill.name).where(Skill.deprecated.is_(False)).order_by(Skill.name_key)
    ).all()
    column = {skill_id: index for index, (skill_id, _) in enumerate(skills)}
    yield [*WIDE_COLUMNS, *(safe_cell(name) for _, name in skills)]
    for batch in _people_batches(session, batch_size):
        levels: dict[int, list[str]] = {person.id: [""] * len(skills) for person in batch}
        held = session.execute(
            select(Proficiency.person_id, Proficiency.skill_id, Proficiency.level).where(
                Proficiency.person_id.in_(levels)
            )
        )
        for person_id, skill_id, level in held:
            if skill_id in column:
                levels[person_id][column[skill_id]] = str(level)
        for person in batch:
            yield [*_person_cells(person), *levels[person.id]]


def _long_rows(session: Session, batch_size: int) -> Iterator[list[str]]:
    """Every proficiency, deprecated skills included: this layout is the whole state."""
    verifier = aliased(Person)
    yield list(LONG_COLUMNS)
    for batch in _people_batches(session, batch_size):
        held: dict[int, list[list[str]]] = {person.id: [] for person in batch}
        rows = session.execute(
            select(Proficiency, Skill.name, verifier.email)
            .join(Skill, Skill.id == Proficiency.skill_id)
            .outerjoin(verifier, verifier.id == Proficiency.verified_by_id)
            .where(Proficiency.person_id.in_(held))
            .order_by(Proficiency.person_id, Skill.name_key)
        )
        for proficiency, skill_name, verifier_email in rows:
            held[proficiency.person_id].append(
                [
                    safe_cell(skill_name),
                    str(proficiency.level),
                    boolean_cell(proficiency.interested),
                    safe_cell(proficiency.note),
                    proficiency.expires_on.isoformat() if proficiency.expires_on else "",
                    safe_cell(verifier_email),
                    proficiency.verified_at.isoformat() if proficiency.verified_at else "",
                ]
            )
        for person in batch:
            for cells in held[person.id] or [[""] * (len(LONG_COLUMNS) - len(PERSON_COLUMNS))]:
                yield [*_person_cells(person), *cells]


def write_csv(rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """Encode rows as CSV text, one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
