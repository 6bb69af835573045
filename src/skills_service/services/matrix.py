"""CSV export of the skills matrix and all-or-nothing CSV import.

Export: one row per person, one column per skill, the level in each cell. Every
cell that a spreadsheet would read as a formula is prefixed with ``'``.

Import accepts two layouts, told apart by the header:

* long: ``email,name,role,skill,level[,interested,note,expires_on]``, one
  proficiency per line (a line with an empty ``skill`` only creates the person);
* wide: the export's own layout, ``email,name,role,active,<skill>...``.

Every line is checked before anything is written; one bad line rejects the file
with a report of every bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.errors import DomainError, ImportRejected, InvalidInput, LineError
from skills_service.models import Person, Proficiency, Skill, SkillAlias
from skills_service.services import people, proficiencies
from skills_service.services.common import (
    TEXT_FAULT_NAMES,
    ascii_int,
    clean_text,
    name_key,
    text_fault,
    unstorable_at,
)
from skills_service.services.proficiencies import ProficiencyInput

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# The quote itself is protected too, so that unprotecting is exact.
PROTECTED_PREFIXES = (*FORMULA_PREFIXES, "'")
MAX_IMPORT_LINES = 200_000
MAX_REPORTED_ERRORS = 200
LONG_COLUMNS = ("email", "name", "role", "skill", "level")
LONG_OPTIONAL = ("interested", "note", "expires_on")
WIDE_COLUMNS = ("email", "name", "role", "active")
TRUE_WORDS = frozenset({"1", "true", "yes", "y"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n"})

Progress = Callable[[int], None]


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


def export_rows(session: Session, *, batch_size: int = 2000) -> Iterator[list[str]]:
    """Header then one row per person, streamed in batches (never the whole table)."""
    skills = session.execute(
        select(Skill.id, Skill.name).where(Skill.deprecated.is_(False)).order_by(Skill.name_key)
    ).all()
    column = {skill_id: index for index, (skill_id, _) in enumerate(skills)}
    yield [*WIDE_COLUMNS, *(safe_cell(name) for _, name in skills)]
    last_id = 0
    while True:
        batch = session.scalars(
            select(Person).where(Person.id > last_id).order_by(Person.id).limit(batch_size)
        ).all()
        if not batch:
            return
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
            yield [
                safe_cell(person.email),
                safe_cell(person.name),
                person.role,
                "true" if person.active else "false",
                *levels[person.id],
            ]
        last_id = batch[-1].id


def write_csv(rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """Encode rows as CSV text, one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@dataclass
class ImportReport:
    people_created: int = 0
    people_updated: int = 0
    proficiencies_set: int = 0
    lines: int = 0


@dataclass
class _PersonLine:
    line: int
    email: str
    name: str
    role: str
    active: bool | None
    skills: dict[int, ProficiencyInput] = field(default_factory=dict)


def import_csv(
    session: Session, text: str, *, actor_id: int | None, progress: Progress | None = None
) -> ImportReport:
    """Validate the whole file, then apply it; raise ``ImportRejected`` on any bad line.

    The caller owns the transaction: on rejection nothing has been written.
    """
    if (position := unstorable_at(text)) is not None:
        line = text[:position].count("\n") + 1
        fault = str(text_fault(text[position]))
        raise ImportRejected(
            f"The file contains {TEXT_FAULT_NAMES[fault]}.", [LineError(line, "", fault)]
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [column.strip().lower() for column in next(reader, [])]
    if not header:
        raise ImportRejected("The file is empty.", [LineError(1, "", "No header line.")])
    skill_keys = _skill_keys(session)
    errors: list[LineError] = []
    if all(column in header for column in LONG_COLUMNS):
        parsed = _parse_long(reader, header, skill_keys, errors)
    elif tuple(header[: len(WIDE_COLUMNS)]) == WIDE_COLUMNS:
        parsed = _parse_wide(reader, header, skill_keys, errors)
    else:
        raise ImportRejected(
            "Unknown file layout.",
            [
                LineError(
                    1,
                    "",
                    "Header must have email,name,role,skill,level or "
                    "start with email,name,role,active.",
                )
            ],
        )
    if errors:
        raise ImportRejected(
            f"{len(errors)} problem(s) found; nothing was imported.", errors[:MAX_REPORTED_ERRORS]
        )
    return _apply(session, parsed, actor_id=actor_id, progress=progress)


def _skill_keys(session: Session) -> dict[str, int]:
    keys = {key: skill_id for skill_id, key in session.execute(select(Skill.id, Skill.name_key))}
    keys.update(
        {
            key: skill_id
            for skill_id, key in session.execute(select(SkillAlias.skill_id, SkillAlias.alias_key))
        }
    )
    return keys


def _parse_long(
    reader: Iterator[list[str]],
    header: list[str],
    skill_keys: dict[str, int],
    errors: list[LineError],
) -> dict[str, _PersonLine]:
    index = {
        column: header.index(column)
        for column in (*LONG_COLUMNS, *LONG_OPTIONAL)
        if column in header
    }
    found: dict[str, _PersonLine] = {}
    for line_number, row in enumerate(reader, start=2):
        if _too_many(line_number, errors) or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(LineError(line_number, "", f"Expected {len(header)} columns."))
            continue
        cell = {column: unprotect_cell(row[position].strip()) for column, position in index.items()}
        person = _person_line(line_number, cell, found, errors)
        if person is None or not cell["skill"]:
            continue
        skill_id = skill_keys.get(name_key(cell["skill"]))
        if skill_id is None:
            errors.append(LineError(line_number, "skill", f"Unknown skill {cell['skill']!r}."))
            continue
        data = _proficiency(line_number, cell, errors)
        if data is not None:
            if skill_id in person.skills:
                errors.append(LineError(line_number, "skill", "Skill given twice for this person."))
            person.skills[skill_id] = data
    return found


def _parse_wide(
    reader: Iterator[list[str]],
    header: list[str],
    skill_keys: dict[str, int],
    errors: list[LineError],
) -> dict[str, _PersonLine]:
    skill_columns: list[tuple[int, int, str]] = []
    for position, raw in enumerate(header[len(WIDE_COLUMNS) :], start=len(WIDE_COLUMNS)):
        name = unprotect_cell(raw)
        skill_id = skill_keys.get(name_key(name))
        if skill_id is None:
            errors.append(LineError(1, name, f"Unknown skill {name!r}."))
        else:
            skill_columns.append((position, skill_id, name))
    found: dict[str, _PersonLine] = {}
    for line_number, row in enumerate(reader, start=2):
        if _too_many(line_number, errors) or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(LineError(line_number, "", f"Expected {len(header)} columns."))
            continue
        cell = {column: unprotect_cell(row[i].strip()) for i, column in enumerate(WIDE_COLUMNS)}
        person = _person_line(line_number, cell, found, errors)
        if person is None:
            continue
        for position, skill_id, name in skill_columns:
            value = row[position].strip()
            if not value:
                continue
            data = _proficiency(line_number, {"level": value, "skill": name}, errors, column=name)
            if data is not None:
                person.skills[skill_id] = data
    return found


def _too_many(line_number: int, errors: list[LineError]) -> bool:
    if line_number == MAX_IMPORT_LINES + 2:
        errors.append(LineError(line_number, "", f"More than {MAX_IMPORT_LINES} lines."))
    return line_number > MAX_IMPORT_LINES + 1


def _person_line(
    line_number: int, cell: dict[str, str], found: dict[str, _PersonLine], errors: list[LineError]
) -> _PersonLine | None:
    try:
        email = people.normalise_email(cell["email"])
        name = clean_text(cell["name"], field="name", max_length=people.NAME_MAX)
        role = people.parse_role(cell["role"] or "member").value
    except DomainError as exc:
        errors.append(LineError(line_number, _first_field(exc, "email"), exc.detail))
        return None
    active = None
    if "active" in cell:
        active = _boolean(cell["active"] or "true")
        if active is None:
            errors.append(LineError(line_number, "active", "Use true or false."))
            return None
    existing = found.get(email)
    if existing is None:
        existing = found[email] = _PersonLine(line_number, email, name, role, active)
    elif (existing.name, existing.role) != (name, role):
        errors.append(
            LineError(
                line_number,
                "name",
                f"Name or role differs from line {existing.line} for the same email.",
            )
        )
        return None
    return existing


def _proficiency(
    line_number: int, cell: dict[str, str], errors: list[LineError], column: str = "level"
) -> ProficiencyInput | None:
    level = ascii_int(cell["level"], maximum=5)
    if level is None or level < 1:
        errors.append(LineError(line_number, column, "Level must be a whole number from 1 to 5."))
        return None
    interested = _boolean(cell.get("interested", ""))
    if interested is None:
        errors.append(LineError(line_number, "interested", "Use true or false."))
        return None
    note = cell.get("note", "")
    if len(note) > 1000:
        errors.append(LineError(line_number, "note", "At most 1000 characters."))
        return None
    expires_on = None
    if cell.get("expires_on"):
        try:
            expires_on = date.fromisoformat(cell["expires_on"])
        except ValueError:
            errors.append(LineError(line_number, "expires_on", "Use a date like 2027-03-31."))
            return None
    return ProficiencyInput(level=level, interested=interested, note=note, expires_on=expires_on)


def _boolean(text: str) -> bool | None:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _first_field(error: DomainError, default: str) -> str:
    fields = getattr(error, "errors", None)
    return next(iter(fields), default) if fields else default


def _apply(
    session: Session,
    parsed: dict[str, _PersonLine],
    *,
    actor_id: int | None,
    progress: Progress | None,
) -> ImportReport:
    report = ImportReport(lines=len(parsed))
    existing = {
        person.email: person
        for person in session.scalars(select(Person).where(Person.email.in_(list(parsed))))
    }
    for done, line in enumerate(parsed.values(), start=1):
        person = existing.get(line.email)
        if person is None:
            person = people.create_person(
                session,
                email=line.email,
                name=line.name,
                role=line.role,
                active=line.active if line.active is not None else True,
            )
            report.people_created += 1
        else:
            person = people.update_person(
                session,
                person_id=person.id,
                if_match="*",
                name=line.name,
                role=line.role,
                active=line.active,
            )
            report.people_updated += 1
        for skill_id, data in line.skills.items():
            proficiencies.upsert_proficiency(
                session,
                person_id=person.id,
                skill_id=skill_id,
                data=data,
                actor_id=actor_id,
                if_match=None,
                unconditional=True,
            )
            report.proficiencies_set += 1
        if progress is not None:
            progress(done)
    return report
