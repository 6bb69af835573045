"""CSV import of people and proficiencies: the whole file checked, then applied in bulk.

An import changes only what the file states (the layouts are in ``matrix``):

* a column the file does not have leaves the stored value alone; an empty cell
  clears what can be empty (``note``, ``interested`` to false, ``expires_on``, a
  verification) and, where a value cannot be empty (``role``, ``active``,
  ``level``), leaves it as it is (a new person is a member, active);
* a value equal to the stored one writes nothing (no history, no audit event) and
  is counted as unchanged; an import never deletes a proficiency;
* the verification columns can keep or end a manager's verification, never grant
  or move one: a ``verified_by``/``verified_at`` that differs from the stored one
  rejects the line, so that an administrator cannot forge a manager's word;
* a new level or expiry ends a verification, as everywhere; the report counts
  the verifications the import ended and names their lines.

Every line is checked before anything is written; one bad line rejects the file
with a report of every bad line. The file is bounded (lines, field length) and
read with a strict CSV parser, so that a malformed file is a rejection naming
its line. Lookups go in bounded ``IN`` lists and writes in batched statements.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NoReturn

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from skills_service.errors import DomainError, ImportRejected, LineError
from skills_service.models import Person, Proficiency, ProficiencyChange, Skill, SkillAlias
from skills_service.models.proficiency import NOTE_MAX_LENGTH
from skills_service.services import people, proficiencies, search_index, summaries
from skills_service.services.common import (
    TEXT_FAULT_NAMES,
    ascii_int,
    clean_text,
    name_key,
    text_fault,
    unstorable_at,
)
from skills_service.services.matrix import LONG_COLUMNS, PERSON_COLUMNS, Layout, unprotect_cell

MAX_FIELD_CHARS = 4096
"""Characters in one cell: more than the longest value (a 1,000-character note)."""
MAX_REPORTED = 200
LONG_REQUIRED = ("email", "name", "role", "skill", "level")
VERIFICATION_COLUMNS = ("verified_by", "verified_at")
TRUE_WORDS = frozenset({"1", "true", "yes", "y"})
FALSE_WORDS = frozenset({"0", "false", "no", "n"})
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9:]+)", re.ASCII)
NOT_GRANTED = (
    "An import cannot grant or change a verification; a manager verifies in the service. "
    "Leave both verification cells as exported, or empty to end it."
)

DEPRECATED = "Deprecated skills take no new proficiencies."

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ClearedVerification:
    line: int
    email: str
    skill: str


@dataclass
class ImportReport:
    people_created: int = 0
    people_updated: int = 0
    people_unchanged: int = 0
    proficiencies_set: int = 0
    proficiencies_unchanged: int = 0
    verifications_cleared: int = 0
    cleared_verifications: list[ClearedVerification] = field(default_factory=list)
    """The first lines whose import ended a verification (all are counted)."""
    lines: int = 0


@dataclass(frozen=True)
class _Verification:
    """The verification a line states; both ``None``: it should end."""

    verifier_email: str | None
    verified_at: datetime | None


@dataclass
class _SkillLine:
    line: int
    skill: str
    values: dict[str, object]
    verification: _Verification | None


@dataclass
class _PersonLine:
    line: int
    email: str
    name: str
    role: str | None
    active: bool | None
    skills: dict[int, _SkillLine] = field(default_factory=dict)


@dataclass(frozen=True)
class _Catalogue:
    keys: dict[str, int]
    deprecated: frozenset[int]


class _Reader:
    """Numbered records of a CSV text, within the line and field limits."""

    def __init__(self, text: str, max_lines: int) -> None:
        self._records = csv.reader(io.StringIO(text, newline=""), strict=True)
        self._max_lines = max_lines
        self.errors: list[LineError] = []

    def header(self) -> list[str]:
        first = next(self._numbered(), None)
        if first is None:
            self.reject("The file is empty.", LineError(1, "", "No header line."))
        return [column.strip().lower() for column in first[1]]

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        for line, row in self._numbered(start=2):
            if line > self._max_lines + 1:
                self.reject(
                    f"The file has more than {self._max_lines} lines; split it.",
                    LineError(line, "", f"At most {self._max_lines} lines after the header."),
                )
            if len(self.errors) < MAX_REPORTED and any(cell.strip() for cell in row):
                yield line, row

    def _numbered(self, start: int = 1) -> Iterator[tuple[int, list[str]]]:
        line = start - 1
        try:
            for line, row in enumerate(self._records, start=start):
                if any(len(cell) > MAX_FIELD_CHARS for cell in row):
                    self._field_too_long(line)
                yield line, row
        except csv.Error as error:
            # The record that failed is the one after the last that was read. The csv
            # module's own field limit (131,072) has no error class but its message.
            if "field larger" in str(error):
                self._field_too_long(line + 1)
            self.reject(
                "The file is not valid CSV; nothing was imported.",
                LineError(line + 1, "", "A quote is not closed, or stray text follows one."),
            )

    def _field_too_long(self, line: int) -> NoReturn:
        self.reject(
            "A field is too long; nothing was imported.",
            LineError(line, "", f"At most {MAX_FIELD_CHARS} characters in a field."),
        )

    def reject(self, detail: str, error: LineError) -> NoReturn:
        raise ImportRejected(detail, [*self.errors[: MAX_REPORTED - 1], error])


def import_csv(
    session: Session,
    text: str,
    *,
    actor_id: int | None,
    max_lines: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate the whole file, then apply it; raise ``ImportRejected`` on any bad line.

    The caller owns the transaction: on rejection nothing has been written.
    ``max_lines`` (``SKILLS_IMPORT_MAX_LINES``) bounds the lines after the header.
    """
    if (position := unstorable_at(text)) is not None:
        line = text[:position].count("\n") + 1
        fault = str(text_fault(text[position]))
        raise ImportRejected(
            f"The file contains {TEXT_FAULT_NAMES[fault]}.", [LineError(line, "", fault)]
        )
    reader = _Reader(text, max_lines)
    header = reader.header()
    layout = _layout(header, reader)
    catalogue = _catalogue(session)
    if layout is Layout.LONG:
        parsed = _parse_long(reader, header, catalogue)
    else:
        parsed = _parse_wide(reader, header, catalogue)
    _reject_if_any(reader.errors)
    return _apply(session, parsed, catalogue, actor_id=actor_id, progress=progress)


def _reject_if_any(errors: list[LineError]) -> None:
    if errors:
        raise ImportRejected(
            f"{len(errors)} problem(s) found; nothing was imported.", errors[:MAX_REPORTED]
        )


def _layout(header: list[str], reader: _Reader) -> Layout:
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        reader.reject("The header is not valid.", LineError(1, repeated[0], "Column given twice."))
    if all(column in header for column in LONG_REQUIRED):
        unknown = [column for column in header if column not in LONG_COLUMNS]
        if unknown:
            reader.reject("The header is not valid.", LineError(1, unknown[0], "Unknown column."))
        if sum(column in header for column in VERIFICATION_COLUMNS) == 1:
            reader.reject(
                "The header is not valid.",
                LineError(1, "verified_by", "Give verified_by and verified_at together."),
            )
        return Layout.LONG
    if tuple(header[: len(PERSON_COLUMNS)]) == PERSON_COLUMNS:
        return Layout.WIDE
    reader.reject(
        "Unknown file layout.",
        LineError(
            1,
            "",
            "Header must have email,name,role,skill,level or start with email,name,role,active.",
        ),
    )


def _catalogue(session: Session) -> _Catalogue:
    skills = session.execute(select(Skill.id, Skill.name_key, Skill.deprecated)).all()
    keys = {key: skill_id for skill_id, key, _ in skills}
    keys.update(
        (key, skill_id)
        for key, skill_id in session.execute(select(SkillAlias.alias_key, SkillAlias.skill_id))
    )
    return _Catalogue(keys, frozenset(skill_id for skill_id, _, old in skills if old))


def _parse_long(
    reader: _Reader, header: list[str], catalogue: _Catalogue
) -> dict[str, _PersonLine]:
    found: dict[str, _PersonLine] = {}
    for line, row in reader:
        if len(row) != len(header):
            reader.errors.append(LineError(line, "", f"Expected {len(header)} columns."))
            continue
        cell = {column: unprotect_cell(value) for column, value in zip(header, row, strict=True)}
        person = _person_line(line, cell, found, reader.errors)
        if person is None or not cell["skill"].strip():
            continue
        skill = cell["skill"].strip()
        skill_id = catalogue.keys.get(name_key(skill))
        if skill_id is None:
            reader.errors.append(LineError(line, "skill", f"Unknown skill {skill!r}."))
            continue
        if skill_id in person.skills:
            reader.errors.append(LineError(line, "skill", "Skill given twice for this person."))
            continue
        values = _proficiency_values(line, cell, reader.errors)
        verification = _verification(line, cell, reader.errors)
        if values is not None:
            person.skills[skill_id] = _SkillLine(line, skill, values, verification)
    return found


def _parse_wide(
    reader: _Reader, header: list[str], catalogue: _Catalogue
) -> dict[str, _PersonLine]:
    skill_columns: list[tuple[int, int, str]] = []
    for position, raw in enumerate(header[len(PERSON_COLUMNS) :], start=len(PERSON_COLUMNS)):
        name = unprotect_cell(raw)
        skill_id = catalogue.keys.get(name_key(name))
        if skill_id is None:
            reader.errors.append(LineError(1, name, f"Unknown skill {name!r}."))
        else:
            skill_columns.append((position, skill_id, name))
    found: dict[str, _PersonLine] = {}
    for line, row in reader:
        if len(row) != len(header):
            reader.errors.append(LineError(line, "", f"Expected {len(header)} columns."))
            continue
        cell = {column: unprotect_cell(row[i]) for i, column in enumerate(PERSON_COLUMNS)}
        person = _person_line(line, cell, found, reader.errors)
        if person is None:
            continue
        for position, skill_id, name in skill_columns:
            if not row[position].strip():
                continue
            values = _proficiency_values(line, {"level": row[position]}, reader.errors, name)
            if values is not None:
                person.skills[skill_id] = _SkillLine(line, name, values, None)
    return found


def _person_line(
    line: int, cell: dict[str, str], found: dict[str, _PersonLine], errors: list[LineError]
) -> _PersonLine | None:
    try:
        email = people.normalise_email(cell["email"])
        name = clean_text(cell["name"], field="name", max_length=people.NAME_MAX)
        role = people.parse_role(cell["role"].strip()).value if cell["role"].strip() else None
    except DomainError as exc:
        errors.append(LineError(line, _first_field(exc, "email"), exc.detail))
        return None
    active = None
    if cell.get("active", "").strip():
        active = _boolean(cell["active"])
        if active is None:
            errors.append(LineError(line, "active", "Use true or false."))
            return None
    existing = found.get(email)
    if existing is None:
        existing = found[email] = _PersonLine(line, email, name, role, active)
    elif (existing.name, existing.role, existing.active) != (name, role, active):
        errors.append(
            LineError(line, "name", f"Name, role or active differs from line {existing.line}.")
        )
        return None
    return existing


def _proficiency_values(
    line: int, cell: Mapping[str, str], errors: list[LineError], column: str = "level"
) -> dict[str, object] | None:
    """The proficiency attributes the line gives (absent columns are left out)."""
    level = ascii_int(cell["level"].strip(), maximum=5)
    if level is None or level < 1:
        errors.append(LineError(line, column, "Level must be a whole number from 1 to 5."))
        return None
    values: dict[str, object] = {"level": level}
    if "interested" in cell:
        interested = _boolean(cell["interested"]) if cell["interested"].strip() else False
        if interested is None:
            errors.append(LineError(line, "interested", "Use true or false."))
            return None
        values["interested"] = interested
    if "note" in cell:
        if len(cell["note"]) > NOTE_MAX_LENGTH:
            errors.append(LineError(line, "note", f"At most {NOTE_MAX_LENGTH} characters."))
            return None
        values["note"] = cell["note"]
    if "expires_on" in cell:
        expires = cell["expires_on"].strip()
        if expires and not _ISO_DATE.fullmatch(expires):
            errors.append(LineError(line, "expires_on", "Use a date like 2027-03-31."))
            return None
        try:
            values["expires_on"] = date.fromisoformat(expires) if expires else None
        except ValueError:
            errors.append(LineError(line, "expires_on", "Use a date like 2027-03-31."))
            return None
    return values


def _verification(
    line: int, cell: Mapping[str, str], errors: list[LineError]
) -> _Verification | None:
    if "verified_by" not in cell:
        return None
    by, at = cell["verified_by"].strip(), cell["verified_at"].strip()
    try:
        verifier_email = people.normalise_email(by) if by else None
    except DomainError:
        errors.append(LineError(line, "verified_by", "Not a valid address."))
        return None
    verified_at = None
    if at:
        try:
            verified_at = datetime.fromisoformat(at) if _ISO_DATETIME.fullmatch(at) else None
        except ValueError:
            verified_at = None
        if verified_at is None:
            errors.append(
                LineError(line, "verified_at", "Use a time like 2027-03-31T09:30:00+00:00.")
            )
            return None
    return _Verification(verifier_email, verified_at)


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
    catalogue: _Catalogue,
    *,
    actor_id: int | None,
    progress: Progress | None,
) -> ImportReport:
    existing = people.by_emails(session, parsed)
    held = proficiencies.held_by(session, (person.id for person in existing.values()))
    verifiers = people.emails_of(
        session, {p.verified_by_id for p in held.values() if p.verified_by_id is not None}
    )
    _check_plan(parsed, existing, held, verifiers, catalogue)
    report = ImportReport(lines=len(parsed))
    touched = _write_people(session, parsed, existing, report)
    created: list[Proficiency] = []
    changed: list[tuple[Proficiency, dict[str, object]]] = []
    for done, line in enumerate(parsed.values(), start=1):
        person_id = existing[line.email].id
        for skill_id, skill_line in line.skills.items():
            stored = held.get((person_id, skill_id))
            if stored is None:
                created.append(_new_proficiency(person_id, skill_id, skill_line))
                continue
            changes = proficiencies.proficiency_changes(
                stored,
                skill_line.values,
                end_verification=skill_line.verification == _Verification(None, None),
            )
            if changes:
                changed.append((stored, changes))
            if "verified_at" in changes:
                cleared = ClearedVerification(skill_line.line, line.email, skill_line.skill)
                _report_cleared(report, cleared)
        if progress is not None:
            progress(done)
    session.add_all(created)
    session.flush()
    if created:
        session.execute(
            insert(ProficiencyChange),
            [proficiencies.history_entry(new, action="set", actor_id=actor_id) for new in created],
        )
    touched.update(stored.person_id for stored, _ in changed)
    proficiencies.write_changes(session, changed, actor_id=actor_id)
    # Last, once every row is written, so that no row this import still has to write
    # is held by an edit of one of these people waiting for their lock.
    summaries.proficiencies_changed(
        session,
        [
            summaries.ProficiencyWrite(new.person_id, new.skill_id, None, summaries.held(new))
            for new in created
        ],
    )
    touched.update(new.person_id for new in created)
    search_index.refresh(session, touched)
    report.proficiencies_set = len(created) + len(changed)
    given = sum(len(line.skills) for line in parsed.values())
    report.proficiencies_unchanged = given - report.proficiencies_set
    return report


def _new_proficiency(person_id: int, skill_id: int, skill_line: _SkillLine) -> Proficiency:
    defaults: dict[str, object] = {"interested": False, "note": "", "expires_on": None}
    return Proficiency(person_id=person_id, skill_id=skill_id, **{**defaults, **skill_line.values})


def _report_cleared(report: ImportReport, cleared: ClearedVerification) -> None:
    report.verifications_cleared += 1
    if len(report.cleared_verifications) < MAX_REPORTED:
        report.cleared_verifications.append(cleared)


def _check_plan(
    parsed: dict[str, _PersonLine],
    existing: dict[str, Person],
    held: dict[tuple[int, int], Proficiency],
    verifiers: dict[int, str],
    catalogue: _Catalogue,
) -> None:
    """What only the stored state can refute: new deprecated skills, forged verifications."""
    errors: list[LineError] = []
    for line in parsed.values():
        person = existing.get(line.email)
        for skill_id, skill_line in line.skills.items():
            stored = held.get((person.id, skill_id)) if person is not None else None
            if stored is None and skill_id in catalogue.deprecated:
                errors.append(LineError(skill_line.line, "skill", DEPRECATED))
            stated = skill_line.verification
            if stated is None or stated == _Verification(None, None):
                continue
            current = None
            if stored is not None:
                verifier = stored.verified_by_id
                current = _Verification(
                    verifiers[verifier] if verifier is not None else None, stored.verified_at
                )
            if stated != current:
                errors.append(LineError(skill_line.line, "verified_by", NOT_GRANTED))
    _reject_if_any(errors)


def _write_people(
    session: Session,
    parsed: dict[str, _PersonLine],
    existing: dict[str, Person],
    report: ImportReport,
) -> set[int]:
    """Create the new people and change the others, in one flush (batched inserts).

    Returns the ids of the people it changed.
    """
    changed: set[int] = set()
    activated: dict[bool, list[int]] = {True: [], False: []}
    for line in parsed.values():
        person = existing.get(line.email)
        if person is None:
            existing[line.email] = people.new_person(
                email=line.email,
                name=line.name,
                role=line.role or "member",
                active=True if line.active is None else line.active,
            )
            session.add(existing[line.email])
            report.people_created += 1
        else:
            was_active = person.active
            if people.change_person(person, name=line.name, role=line.role, active=line.active):
                changed.add(person.id)
                report.people_updated += 1
            else:
                report.people_unchanged += 1
            if person.active != was_active:
                activated[person.active].append(person.id)
    session.flush()
    for active, person_ids in activated.items():
        summaries.people_activated(session, person_ids, active=active)
    return changed
