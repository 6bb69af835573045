"""Bounded imports: any size or shape of file is an answer naming its line, never a 5xx."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from skills_service.extensions import db
from skills_service.models import AuditEvent, Person
from skills_service.services import matrix_import, skills
from skills_service.settings import Settings
from tests.conftest import POSTGRES_URL, Actor, MakeApp, changed
from tests.integration.responses import assert_problem, data
from tests.integration.statements import counting
from tests.integration.test_matrix_api import post_csv

EXPORT = "/api/v1/export/matrix.csv?format=long"
MANY = 70_000
"""More distinct e-mails than a PostgreSQL statement may bind (65,535) or SQLite (32,766)."""
HEADER = "email,name,role,skill,level,note\r\n"


def snapshot(app: Flask, client: FlaskClient, admin: Actor) -> tuple[str, int]:
    """The whole state (the long export) and the audit trail's length but for token use."""
    response = client.get(EXPORT, headers=admin.headers)
    state = response.get_data(as_text=True)
    response.close()
    with app.app_context():
        events = select(func.count()).select_from(AuditEvent)
        # A token's last use is stamped once a minute, whatever the request does.
        return state, int(db.session.scalar(events.where(AuditEvent.target_type != "api_token")))


@pytest.fixture
def catalogue(app: Flask) -> dict[str, int]:
    with app.app_context():
        session = db.session
        with session.begin():
            python = skills.create_skill(session, name="Python", category="Engineering")
            cobol = skills.create_skill(session, name="Cobol", category="Engineering")
            skills.update_skill(session, skill_id=cobol.id, if_match="*", deprecated=True)
            return {"Python": python.id, "Cobol": cobol.id}


def people_lines(count: int, start: int = 0) -> str:
    return "".join(
        f"p{number}@example.org,Person {number},member,Python,3,\r\n"
        for number in range(start, start + count)
    )


@pytest.fixture
def roomy(make_app: MakeApp, settings: Settings) -> Flask:
    """The app, configured to accept files of ``MANY`` lines."""
    return make_app(changed(settings, import_max_lines=MANY))


def test_more_distinct_emails_than_a_statement_can_bind_are_looked_up_in_batches(
    roomy: Flask, admin: Actor, catalogue: dict[str, int]
) -> None:
    client = roomy.test_client()
    # The last line is refused only once the stored state is known, so the file goes
    # through every lookup and is then rejected without a write.
    text = HEADER + people_lines(MANY - 1) + "last@example.org,Last,member,Cobol,2,\r\n"
    before = snapshot(roomy, client, admin)
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [
        (MANY + 1, "skill")
    ]
    assert snapshot(roomy, client, admin) == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SKILLS_TEST_DATABASE_URL")
def test_an_import_naming_70000_existing_people_answers_200_on_postgresql(
    roomy: Flask, admin: Actor, catalogue: dict[str, int]
) -> None:
    client = roomy.test_client()
    with roomy.app_context():
        session = db.session
        with session.begin():
            session.execute(
                insert(Person),
                [
                    {
                        "email": f"p{number}@example.org",
                        "name": f"Person {number}",
                        "name_key": f"person {number}",
                        "role": "member",
                    }
                    for number in range(MANY)
                ],
            )
    text = "email,name,role\r\n" + "".join(
        f"p{number}@example.org,Person {number},member\r\n" for number in range(MANY)
    )
    wide = "email,name,role,active\r\n" + text.split("\r\n", 1)[1].replace("\r\n", ",\r\n")
    response = post_csv(client, admin, wide)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (data(response)["people_unchanged"], data(response)["people_created"]) == (MANY, 0)


STATEMENT_BUDGET = 20
"""Statements for an import of new people and proficiencies, however many lines."""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SKILLS_TEST_DATABASE_URL")
def test_an_import_is_a_bounded_number_of_statements_on_postgresql(
    app: Flask, client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    with counting(app) as creating:
        assert post_csv(client, admin, HEADER + people_lines(900)).status_code == 200
    changed_levels = (HEADER + people_lines(900)).replace(",Python,3,", ",Python,4,")
    with counting(app) as changing:
        response = post_csv(client, admin, changed_levels)
    assert data(response)["proficiencies_set"] == 900
    assert len(creating) <= STATEMENT_BUDGET, "new rows are written one by one"
    assert len(changing) <= STATEMENT_BUDGET, "changed rows are written one by one"


@pytest.mark.parametrize(
    "length", [matrix_import.MAX_FIELD_CHARS + 1, 131_073], ids=["over-ours", "over-csv-module"]
)
def test_a_field_over_the_limit_is_422_naming_its_line(
    app: Flask, client: FlaskClient, admin: Actor, catalogue: dict[str, int], length: int
) -> None:
    text = HEADER + people_lines(2) + f'big@example.org,Big,member,Python,3,"{"x" * length}"\r\n'
    before = snapshot(app, client, admin)
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [error["line"] for error in problem["line_errors"]] == [4]
    assert str(matrix_import.MAX_FIELD_CHARS) in problem["line_errors"][0]["message"]
    assert snapshot(app, client, admin) == before


@pytest.mark.parametrize(
    ("bad_line", "line"),
    [
        ('open@example.org,Open,member,Python,3,"never closed\r\n', 4),
        ('stray@example.org,Stray,member,Python,3,"quoted"tail\r\n', 4),
    ],
    ids=["unterminated-quote", "text-after-a-quote"],
)
def test_malformed_csv_is_422_naming_its_line(
    app: Flask,
    client: FlaskClient,
    admin: Actor,
    catalogue: dict[str, int],
    bad_line: str,
    line: int,
) -> None:
    text = HEADER + people_lines(2) + bad_line + people_lines(2, start=2)
    before = snapshot(app, client, admin)
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [error["line"] for error in problem["line_errors"]] == [line]
    assert snapshot(app, client, admin) == before


def test_a_file_over_the_configured_line_limit_is_422_naming_the_limit(
    make_app: MakeApp, settings: Settings, admin: Actor, catalogue: dict[str, int]
) -> None:
    small = make_app(changed(settings, import_max_lines=10))
    client = small.test_client()
    assert post_csv(client, admin, HEADER + people_lines(10)).status_code == 200
    problem = assert_problem(post_csv(client, admin, HEADER + people_lines(11, start=10)), 422)
    assert [error["line"] for error in problem["line_errors"]] == [12]
    assert "10 lines" in problem["line_errors"][0]["message"]
    with small.app_context():
        assert db.session.scalar(select(Person).where(Person.email == "p10@example.org")) is None
