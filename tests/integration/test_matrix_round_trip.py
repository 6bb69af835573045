"""Nothing lost: an import changes only what the file states, and export -> import is a no-op."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from skills_service.extensions import db
from skills_service.models import AuditEvent, AuditHead, ProficiencyChange
from skills_service.services import people, proficiencies, skills
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import Actor, MakeActor
from tests.integration.responses import assert_problem, data
from tests.integration.test_matrix_api import export_text, post_csv

EXPORT = "/api/v1/export/matrix.csv"
LONG_EXPORT = EXPORT + "?format=long"
EXAMPLES = 15
SKILL_NAMES = ("Python", "=SUM(1)", 'C, "quoted"')
LONG_HEADER = "email,name,role,skill,level,interested,note,expires_on,verified_by,verified_at"
VERIFIED_AT = datetime(2026, 3, 4, 5, 6, 7, 89_012, tzinfo=UTC)


def export(client: FlaskClient, actor: Actor, url: str = LONG_EXPORT) -> str:
    return export_text(client, actor, url)


@dataclass(frozen=True)
class Trail:
    """How long the audit trail (but for token use) and the proficiency history are."""

    audit_events: int
    history_rows: int


def trail(app: Flask) -> Trail:
    with app.app_context():
        session = db.session
        # A token's last use is stamped once a minute, whatever the request does.
        audit_events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.target_type != "api_token")
        )
        history_rows = session.scalar(select(func.count()).select_from(ProficiencyChange))
        return Trail(int(audit_events or 0), int(history_rows or 0))


def proficiency_of(client: FlaskClient, admin: Actor, person_id: int, skill_id: int) -> Any:
    items = data(client.get(f"/api/v1/people/{person_id}/skills", headers=admin.headers))["items"]
    return next(item for item in items if item["skill_id"] == skill_id)


@dataclass(frozen=True)
class Setup:
    manager: Actor
    person_id: int
    email: str
    skill_ids: dict[str, int]


@pytest.fixture
def setup(app: Flask, make_actor: MakeActor) -> Setup:
    """A member with a noted, interested, expiring proficiency that a manager verified."""
    manager = make_actor("manager", name="Mo Manager")
    with app.app_context():
        session = db.session
        with session.begin():
            skill_ids = {
                name: skills.create_skill(session, name=name, category="Engineering").id
                for name in SKILL_NAMES
            }
            person = people.create_person(
                session, email="ada@example.org", name="Ada Lovelace", role="member"
            )
            proficiencies.upsert_proficiency(
                session,
                person_id=person.id,
                skill_id=skill_ids["Python"],
                data=ProficiencyInput(
                    level=4,
                    interested=True,
                    note='=1+1, "quoted"\nline two',
                    expires_on=date(2031, 1, 31),
                ),
                actor_id=None,
                if_match=None,
            )
            proficiencies.verify_proficiency(
                session,
                person_id=person.id,
                skill_id=skill_ids["Python"],
                verifier_id=manager.person_id,
                if_match=None,
                now=VERIFIED_AT,
            )
    return Setup(manager, person.id, "ada@example.org", skill_ids)


def long_line(setup: Setup, **cells: str) -> str:
    """Ada's Python line of the long layout, with ``cells`` changed."""
    values = {
        "email": setup.email,
        "name": "Ada Lovelace",
        "role": "member",
        "skill": "Python",
        "level": "4",
        "interested": "true",
        "note": '"\'=1+1, ""quoted""\nline two"',
        "expires_on": "2031-01-31",
        "verified_by": setup.manager.email,
        "verified_at": VERIFIED_AT.isoformat(),
        **cells,
    }
    return ",".join(values[column] for column in LONG_HEADER.split(",")) + "\r\n"


def test_reimporting_the_wide_export_keeps_notes_interest_expiry_and_verification(
    app: Flask, client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    before, trail_before = (
        proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"]),
        trail(app),
    )
    response = post_csv(client, admin, export(client, admin, EXPORT))
    assert response.status_code == 200
    assert (data(response)["proficiencies_set"], data(response)["proficiencies_unchanged"]) == (
        0,
        1,
    )
    assert proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"]) == before
    assert before["verified_by"] == setup.manager.person_id
    assert trail(app) == trail_before


def test_a_column_the_file_lacks_leaves_the_stored_value_alone(
    client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    text = f"email,name,role,skill,level\r\n{setup.email},Ada Lovelace,member,Python,5\r\n"
    assert post_csv(client, admin, text).status_code == 200
    after = proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"])
    assert (after["level"], after["interested"], after["note"], after["expires_on"]) == (
        5,
        True,
        '=1+1, "quoted"\nline two',
        "2031-01-31",
    )


def test_an_empty_cell_clears_note_interest_and_expiry(
    client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    text = (
        "email,name,role,skill,level,interested,note,expires_on\r\n"
        f"{setup.email},Ada Lovelace,member,Python,4,,,\r\n"
    )
    assert post_csv(client, admin, text).status_code == 200
    after = proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"])
    assert (after["interested"], after["note"], after["expires_on"]) == (False, "", None)


def test_a_new_level_that_ends_a_verification_is_reported_with_its_line(
    client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    text = f"email,name,role,skill,level\r\n{setup.email},Ada Lovelace,member,Python,2\r\n"
    report = data(post_csv(client, admin, text))
    assert report["verifications_cleared"] == 1
    assert report["cleared_verifications"] == [{"line": 2, "email": setup.email, "skill": "Python"}]
    after = proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"])
    assert (after["level"], after["verified_by"], after["verified_at"]) == (2, None, None)


def test_empty_verification_cells_end_the_verification_and_say_so(
    client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    text = LONG_HEADER + "\r\n" + long_line(setup, verified_by="", verified_at="")
    report = data(post_csv(client, admin, text))
    assert (report["verifications_cleared"], report["proficiencies_set"]) == (1, 1)
    after = proficiency_of(client, admin, setup.person_id, setup.skill_ids["Python"])
    assert after["verified_by"] is None


@pytest.mark.parametrize(
    "forged",
    [
        {"verified_by": "admin1@example.org"},
        {"verified_at": "2027-01-01T00:00:00+00:00"},
        {"skill": "'=SUM(1)"},
    ],
    ids=["another-verifier", "another-time", "a-proficiency-never-verified"],
)
def test_an_import_cannot_grant_or_move_a_verification(
    app: Flask, client: FlaskClient, admin: Actor, setup: Setup, forged: dict[str, str]
) -> None:
    before, trail_before = export(client, admin), trail(app)
    text = LONG_HEADER + "\r\n" + long_line(setup, **forged)
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [
        (2, "verified_by")
    ]
    assert export(client, admin) == before
    assert trail(app) == trail_before


def test_an_empty_role_or_active_cell_leaves_an_existing_person_as_they_are(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    boss = make_actor("manager", name="Big Boss")
    text = f"email,name,role,active\r\n{boss.email},Big Boss,,\r\n"
    report = data(post_csv(client, admin, text))
    assert (report["people_updated"], report["people_unchanged"]) == (0, 1)
    person = data(client.get(f"/api/v1/people/{boss.person_id}", headers=admin.headers))
    assert (person["role"], person["active"]) == ("manager", True)


def test_a_new_proficiency_in_a_deprecated_skill_is_rejected_on_its_line(
    app: Flask, client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skills.update_skill(
                session, skill_id=setup.skill_ids["Python"], if_match="*", deprecated=True
            )
    text = (
        "email,name,role,skill,level\r\n"
        f"{setup.email},Ada Lovelace,member,Python,4\r\n"
        "new@example.org,New Person,member,Python,2\r\n"
    )
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [(3, "skill")]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("email,name,role,skill,level,notes", "notes"),
        ("email,name,role,skill,level,note,note", "note"),
        ("email,name,role,skill,level,verified_by", "verified_by"),
    ],
)
def test_a_long_header_with_an_unknown_repeated_or_half_column_is_rejected_on_line_1(
    client: FlaskClient, admin: Actor, setup: Setup, header: str, column: str
) -> None:
    problem = assert_problem(post_csv(client, admin, header + "\r\n"), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [(1, column)]


def test_the_long_export_restores_the_state_it_was_taken_from(
    app: Flask, client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    before = export(client, admin)
    url = f"/api/v1/people/{setup.person_id}/skills/{setup.skill_ids['Python']}"
    later = {"level": 4, "interested": False, "note": "later", "expires_on": "2031-01-31"}
    client.put(url, json=later, headers={**admin.headers, "If-Match": "*"})
    person_url = f"/api/v1/people/{setup.person_id}"
    client.patch(person_url, json={"name": "Ada King"}, headers={**admin.headers, "If-Match": "*"})
    assert export(client, admin) != before
    assert post_csv(client, admin, before).status_code == 200
    assert export(client, admin) == before


def test_the_long_export_has_one_row_per_person_and_skill(
    client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    rows = list(csv.reader(io.StringIO(export(client, admin), newline="")))
    assert rows[0] == LONG_HEADER.replace("skill,", "active,skill,", 1).split(",")
    ada = [row for row in rows if row[0] == setup.email]
    assert ada == [
        [
            setup.email,
            "Ada Lovelace",
            "member",
            "true",
            "Python",
            "4",
            "true",
            '\'=1+1, "quoted"\nline two',
            "2031-01-31",
            setup.manager.email,
            VERIFIED_AT.isoformat(),
        ]
    ]
    admin_row = next(row for row in rows if row[0] == admin.email)
    assert admin_row[4:] == [""] * 7


def test_an_unknown_export_format_is_422(client: FlaskClient, admin: Actor) -> None:
    response = client.get(EXPORT + "?format=xlsx", headers=admin.headers)
    assert "format" in assert_problem(response, 422)["errors"]


# Properties: for any data, export -> import -> export is byte-identical and audits nothing.

TRICKY = st.sampled_from(["=", "+", "-", "@", "'", ",", '"', "\n", "\r\n", "\t", " ", "é", "a"])
notes = (
    st.lists(TRICKY | st.text(max_size=5), max_size=8)
    .map("".join)
    .filter(lambda note: "\x00" not in note and len(note) <= 1000)
)
names = st.lists(
    st.sampled_from(["=", "+", "@", "'", ",", '"', "Ann", "Lee", "é", "-"]), min_size=1, max_size=5
).map(" ".join)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)
held = st.fixed_dictionaries(
    {
        "level": st.integers(1, 5),
        "interested": st.booleans(),
        "note": notes,
        "expires_on": st.none() | st.dates(date(2000, 1, 1), date(2099, 12, 31)),
        "verified_at": st.none() | moments,
    }
)
people_data = st.lists(
    st.tuples(
        names,
        st.sampled_from(["viewer", "member", "manager"]),
        st.booleans(),
        st.dictionaries(st.sampled_from(SKILL_NAMES), held, max_size=3),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture
def random_world(app: Flask, setup: Setup) -> Any:
    """A function that adds random people and proficiencies (verified by the manager)."""
    numbers = itertools.count()

    def add(generated: list[Any]) -> None:
        with app.app_context():
            session = db.session
            with session.begin():
                for name, role, active, held_skills in generated:
                    person = people.create_person(
                        session,
                        email=f"p{next(numbers)}@example.org",
                        name=name,
                        role=role,
                        active=active,
                    )
                    for skill, values in held_skills.items():
                        skill_id = setup.skill_ids[skill]
                        proficiencies.upsert_proficiency(
                            session,
                            person_id=person.id,
                            skill_id=skill_id,
                            data=ProficiencyInput(
                                level=values["level"],
                                interested=values["interested"],
                                note=values["note"],
                                expires_on=values["expires_on"],
                            ),
                            actor_id=None,
                            if_match=None,
                        )
                        if values["verified_at"] is not None:
                            proficiencies.verify_proficiency(
                                session,
                                person_id=person.id,
                                skill_id=skill_id,
                                verifier_id=setup.manager.person_id,
                                if_match=None,
                                now=values["verified_at"],
                            )

    return add


@pytest.mark.parametrize("url", [LONG_EXPORT, EXPORT], ids=["long", "wide"])
def test_export_import_export_is_byte_identical_and_audits_nothing(
    app: Flask, client: FlaskClient, admin: Actor, random_world: Any, url: str
) -> None:
    @given(generated=people_data)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def round_trip(generated: list[Any]) -> None:
        random_world(generated)
        exported, full, trail_before = export(client, admin, url), export(client, admin), trail(app)
        response = post_csv(client, admin, exported)
        assert response.status_code == 200, response.get_data(as_text=True)
        report = data(response)
        assert (report["people_updated"], report["proficiencies_set"]) == (0, 0)
        assert trail(app) == trail_before
        assert export(client, admin, url) == exported
        assert export(client, admin) == full

    round_trip()


def test_a_change_by_import_is_audited_once_with_before_after_and_a_new_version(
    app: Flask, client: FlaskClient, admin: Actor, setup: Setup
) -> None:
    with app.app_context():
        seq = int(db.session.scalar(select(AuditHead.seq)) or 0)
    text = f"email,name,role,skill,level\r\n{setup.email},Ada Lovelace,member,Python,5\r\n"
    assert post_csv(client, admin, text).status_code == 200
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.seq > seq, AuditEvent.target_type != "api_token")
        ).all()
        target = f"{setup.person_id}/{setup.skill_ids['Python']}"
        assert [(event.action, event.target_id, event.actor_id) for event in events] == [
            ("proficiency.updated", target, admin.person_id)
        ]
        assert events[0].before == {
            "level": 4,
            "verified_by_id": setup.manager.person_id,
            "verified_at": VERIFIED_AT.isoformat(),
        }
        assert events[0].after == {"level": 5, "verified_by_id": None, "verified_at": None}
    url = f"/api/v1/people/{setup.person_id}/skills/{setup.skill_ids['Python']}"
    assert client.get(url, headers=admin.headers).headers["ETag"] == '"3"'
