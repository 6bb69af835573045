"""Every presenter makes exactly what its schema's dump made of the same object.

Views send presenters' bodies without a marshmallow dump, so each resource's body is
compared here with the dump of the schema that documents it: dates, times with and
without microseconds or offsets, nulls, non-ASCII text, empty and full lists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from marshmallow import Schema

from skills_service.api import presenters
from skills_service.api.schemas.audit import AuditEventSchema
from skills_service.api.schemas.common import page_of
from skills_service.api.schemas.diagnostics import PingSchema
from skills_service.api.schemas.matrix import ImportReportSchema
from skills_service.api.schemas.people import MeSchema, PersonMatchSchema, PersonSchema
from skills_service.api.schemas.proficiencies import (
    HistoryListSchema,
    ProficiencyChangeSchema,
    ProficiencyListSchema,
    ProficiencySchema,
)
from skills_service.api.schemas.skills import SkillSchema
from skills_service.api.schemas.teams import GapListSchema, GapSchema, TeamSchema
from skills_service.models import (
    AuditEvent,
    Person,
    Proficiency,
    ProficiencyChange,
    Skill,
    SkillAlias,
    Team,
)
from skills_service.policy import Principal, Role, Scope
from skills_service.services.diagnostics import PingResult
from skills_service.services.matrix_import import ClearedVerification, ImportReport
from skills_service.services.skills import entry
from skills_service.services.teams import Gap

TODAY = date(2026, 3, 1)
MOMENTS = [
    datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=UTC),
    datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    None,
]
DAYS = [date(2026, 2, 28), date(1999, 1, 1), None]
TEXTS = ["Zoë Ünïcode", "中文 ✓ — 😀", "", 'C++ <b>&amp;</b> "quoted" \\ back']


def skills() -> list[Skill]:
    aliased = Skill(id=7, name=TEXTS[0], category=TEXTS[1], description=TEXTS[3], deprecated=True)
    aliased.aliases = [
        SkillAlias(alias="Py", alias_key="py"),
        SkillAlias(alias="CPython ✓", alias_key="cpython ✓"),
    ]
    plain = Skill(id=8, name="Go", category="Languages", description="", deprecated=False)
    plain.aliases = []
    return [aliased, plain]


def people() -> list[Person]:
    return [
        Person(id=3, name=TEXTS[0], email="zoe@example.org", role="manager", active=True),
        Person(id=4, name=TEXTS[1], email="chen@example.org", role="viewer", active=False),
    ]


def proficiencies() -> list[Proficiency]:
    return [
        Proficiency(
            person_id=3,
            skill_id=7,
            level=level,
            interested=level % 2 == 0,
            note=TEXTS[level % len(TEXTS)],
            expires_on=DAYS[level % len(DAYS)],
            verified_by_id=4 if MOMENTS[level % len(MOMENTS)] else None,
            verified_at=MOMENTS[level % len(MOMENTS)],
        )
        for level in range(1, 6)
    ]


def changes() -> list[ProficiencyChange]:
    return [
        ProficiencyChange(
            id=n,
            person_id=3,
            skill_id=7,
            action="updated" if n % 2 else "deleted",
            level=n if n % 2 else None,
            interested=True if n % 2 else None,
            note="not shown",
            expires_on=DAYS[n % len(DAYS)],
            verified_by_id=4 if n % 2 else None,
            changed_by_id=3 if n % 3 else None,
            changed_at=MOMENTS[n % 3],
        )
        for n in range(1, 5)
    ]


def audit_events() -> list[AuditEvent]:
    return [
        AuditEvent(
            seq=n,
            occurred_at=MOMENTS[n % 3],
            actor_id=3 if n % 2 else None,
            credential="token",
            action="proficiency.updated",
            target_type="proficiency",
            target_id="3:7" if n % 2 else None,
            before={"level": 2, "note": TEXTS[1], "nested": {"list": [1, None]}} if n else None,
            after=None if n % 2 else {"level": 3},
            address="2001:db8::7" if n % 2 else None,
            request_id="a" * 32,
            prev_hash="0" * 64,
            hash="f" * 64,
        )
        for n in range(0, 3)
    ]


def admin() -> Principal:
    return Principal(
        person_id=1, role=Role.ADMIN, scopes=frozenset(Scope), managed_team_ids=frozenset()
    )


def page(items: list[Any], next_url: str | None) -> dict[str, Any]:
    return {"items": items, "total": 120, "page": 2, "limit": 50, "next": next_url}


Case = tuple[type[Schema], Any, Any]
"""A schema, what its dump was given, and what the presenter makes instead."""


def skill_cases() -> list[Case]:
    found = skills()
    listed = page(found, "/api/v1/skills?limit=50&page=3")
    bodies = [presenters.skill_body(entry(skill)) for skill in found]
    presented = page(bodies, listed["next"])
    return [(SkillSchema, skill, body) for skill, body in zip(found, bodies, strict=True)] + [
        (page_of(SkillSchema), listed, presented),
        (page_of(SkillSchema), page([], None), page([], None)),
    ]


def person_cases() -> list[Case]:
    cases: list[Case] = []
    for person in people():
        for principal in (None, admin()):
            body = presenters.person_body(person, [1, 5], principal)
            cases.append((PersonSchema, body, body))
            cases.append((PersonMatchSchema, body | {"score": 14}, body | {"score": 14}))
            me = body | {"managed_teams": [5], "scopes": ["read", "write"]}
            cases.append((MeSchema, me, me))
    return cases


def proficiency_cases() -> list[Case]:
    cases: list[Case] = []
    items, raw_items = [], []
    for proficiency in proficiencies():
        for private in (True, False):
            body = presenters.proficiency_body(proficiency, private=private, today=TODAY)
            # What the view handed to the schema: the same body with the date objects.
            raw = body | {
                "expires_on": proficiency.expires_on,
                "verified_at": proficiency.verified_at,
            }
            cases.append((ProficiencySchema, raw, body))
            items.append(body)
            raw_items.append(raw)
    envelope = {"total": len(items), "expiring_soon": [7]}
    cases.append(
        (ProficiencyListSchema, {"items": raw_items, **envelope}, {"items": items, **envelope})
    )
    history = changes()
    bodies = [presenters.proficiency_change_body(change) for change in history]
    cases += [
        (ProficiencyChangeSchema, change, body)
        for change, body in zip(history, bodies, strict=True)
    ]
    cases.append((HistoryListSchema, {"items": history}, {"items": bodies}))
    return cases


def team_cases() -> list[Case]:
    teams = [
        Team(id=5, name=TEXTS[1], description=TEXTS[3]),
        Team(id=6, name="Ops", description=""),
    ]
    bodies = [presenters.team_body(team) for team in teams]
    gaps = [Gap(7, TEXTS[0], 3, 12, 4, 8, 11), Gap(8, "Go", 5, 0, 0, 0, 0)]
    gap_bodies = [presenters.gap_body(gap) for gap in gaps]
    return [
        *[(TeamSchema, team, body) for team, body in zip(teams, bodies, strict=True)],
        (page_of(TeamSchema), page(teams, None), page(bodies, None)),
        *[(GapSchema, gap, body) for gap, body in zip(gaps, gap_bodies, strict=True)],
        (GapListSchema, {"items": gaps}, {"items": gap_bodies}),
    ]


def audit_cases() -> list[Case]:
    events = audit_events()
    bodies = [presenters.audit_event_body(event) for event in events]
    return [(AuditEventSchema, event, body) for event, body in zip(events, bodies, strict=True)] + [
        (
            page_of(AuditEventSchema),
            page(events, "/api/v1/audit?page=3"),
            page(bodies, "/api/v1/audit?page=3"),
        )
    ]


def report_cases() -> list[Case]:
    report = ImportReport(
        people_created=2,
        people_updated=1,
        people_unchanged=0,
        proficiencies_set=9,
        proficiencies_unchanged=4,
        verifications_cleared=1,
        cleared_verifications=[ClearedVerification(3, "zoë@example.org", TEXTS[1])],
        lines=3,
    )
    pings = [PingResult("192.0.2.10", True, 0.042), PingResult("2001:db8::1", False, None)]
    return [
        (ImportReportSchema, report, presenters.import_report_body(report)),
        (ImportReportSchema, ImportReport(), presenters.import_report_body(ImportReport())),
        *[(PingSchema, result, presenters.ping_body(result)) for result in pings],
    ]


CASES: dict[str, Callable[[], list[Case]]] = {
    "skills": skill_cases,
    "people": person_cases,
    "proficiencies and history": proficiency_cases,
    "teams and gaps": team_cases,
    "audit events": audit_cases,
    "import report and ping": report_cases,
}


@pytest.mark.parametrize("resource", CASES)
def test_each_presenter_makes_what_its_schema_dumped(resource: str) -> None:
    cases = CASES[resource]()
    assert cases
    for schema, dumped_from, presented in cases:
        assert presented == schema().dump(dumped_from), (schema.__name__, presented)


def test_presented_times_keep_marshmallows_isoformat() -> None:
    """Offsets stay ``+00:00`` (never ``Z``), microseconds appear only when there are some."""
    bodies = [
        presenters.proficiency_body(item, private=True, today=TODAY) for item in proficiencies()
    ]
    written = {body["verified_at"] for body in bodies}
    assert written == {
        "2026-02-03T04:05:06.789012+00:00",
        "2026-02-03T04:05:06+00:00",
        "2025-12-31T23:59:59.000001+05:30",
        None,
    }
