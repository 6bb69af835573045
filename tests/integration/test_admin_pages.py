"""The admin pages: admins only, every change through a form, refusals are 4xx pages."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from skills_service.extensions import db
from skills_service.models import Person
from skills_service.services import people, skills, teams, tokens
from tests.conftest import PASSWORD, MakeActor
from tests.integration.browser import page_text, sign_in, signed_in, submit
from tests.integration.world import World, build_world


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


@pytest.fixture
def admin_browser(app: Flask, world: World) -> FlaskClient:
    return signed_in(app, world.admin)


def person_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Person)) or 0


def person_version(app: Flask, person_id: int) -> int:
    with app.app_context():
        return people.get_person(db.session, person_id).version


def team_version(app: Flask, team_id: int) -> int:
    with app.app_context():
        return teams.get_team(db.session, team_id).version


@pytest.mark.parametrize("role", ["viewer", "member", "manager"])
def test_only_admins_reach_the_admin_pages(app: Flask, world: World, role: str) -> None:
    client = signed_in(app, world.by_role(role))
    for path in ("/admin/people", "/admin/teams", "/admin/skills", "/admin/data", "/admin/tokens"):
        page_text(client, path, status=403)
    assert "Admin</a>" not in page_text(client, "/")


def test_an_admin_adds_a_person(app: Flask, admin_browser: FlaskClient) -> None:
    page = page_text(admin_browser, "/admin/people")
    data = {"email": "New.Hire@Example.org", "name": "New Hire", "role": "member"}
    response = submit(admin_browser, page, "/admin/people", data)
    assert response.status_code == 303
    with app.app_context():
        assert people.get_by_email(db.session, "new.hire@example.org").role == "member"


def test_a_duplicate_email_is_a_409_page_and_nothing_is_added(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    before = person_count(app)
    page = page_text(admin_browser, "/admin/people")
    data = {"email": world.member.email.upper(), "name": "Twin", "role": "member"}
    response = submit(admin_browser, page, "/admin/people", data)
    assert response.status_code == 409
    assert "already exists" in response.get_data(as_text=True)
    assert person_count(app) == before


def test_an_unknown_role_is_a_422_page(app: Flask, admin_browser: FlaskClient) -> None:
    page = page_text(admin_browser, "/admin/people")
    data = {"email": "x@example.org", "name": "X", "role": "superuser"}
    assert submit(admin_browser, page, "/admin/people", data).status_code == 422


def test_deactivating_a_person_ends_their_sessions(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    victim = signed_in(app, world.member)
    page = page_text(admin_browser, "/admin/people")
    data = {"role": "member", "version": person_version(app, world.member.person_id)}
    path = f"/admin/people/{world.member.person_id}"
    assert submit(admin_browser, page, path, data).status_code == 303
    assert victim.get("/").status_code == 302
    assert sign_in(app.test_client(), world.member.email, PASSWORD).status_code == 401


def test_a_role_change_from_a_stale_page_is_412(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    stale = page_text(admin_browser, "/admin/people")
    path = f"/admin/people/{world.member.person_id}"
    version = person_version(app, world.member.person_id)
    first = {"role": "manager", "active": "y", "version": version}
    assert submit(admin_browser, stale, path, first).status_code == 303
    second = {"role": "admin", "active": "y", "version": version}
    assert submit(admin_browser, stale, path, second).status_code == 412
    with app.app_context():
        assert people.get_person(db.session, world.member.person_id).role == "manager"


def test_a_password_reset_shows_a_one_time_password_once(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    page = page_text(admin_browser, "/admin/people")
    path = f"/admin/people/{world.member.person_id}/password-reset"
    response = submit(admin_browser, page, path, {})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "one-time password" in response.get_data(as_text=True)


def test_an_admin_builds_a_team(app: Flask, world: World, admin_browser: FlaskClient) -> None:
    page = page_text(admin_browser, "/admin/teams")
    created = submit(admin_browser, page, "/admin/teams", {"name": "Data Platform"})
    assert created.status_code == 303
    team_path = created.headers["Location"]
    page = page_text(admin_browser, team_path)
    added = submit(
        admin_browser,
        page,
        team_path + "/members",
        {"email": world.member.email, "manager": "y", "version": 1},
    )
    assert added.status_code == 303
    unknown = submit(
        admin_browser,
        page_text(admin_browser, team_path),
        team_path + "/members",
        {"email": "nobody@example.org", "version": 2},
    )
    assert unknown.status_code == 404
    removed = submit(
        admin_browser,
        page_text(admin_browser, team_path),
        team_path + "/members/remove",
        {"person_id": world.member.person_id, "version": 2},
    )
    assert removed.status_code == 303
    team_id = int(team_path.rsplit("/", 1)[1])
    with app.app_context():
        assert teams.members(db.session, team_id) == []


def test_an_admin_adds_and_edits_a_skill(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    page = page_text(admin_browser, "/admin/skills")
    data = {"name": "Rust", "category": "Languages", "aliases": "rustlang", "description": "*Fast*"}
    created = submit(admin_browser, page, "/admin/skills", data)
    assert created.status_code == 303
    skill_id = int(created.headers["Location"].rsplit("/", 1)[1])
    duplicate = submit(admin_browser, page, "/admin/skills", {**data, "aliases": ""})
    assert duplicate.status_code == 409
    edit_page = page_text(admin_browser, f"/admin/skills/{skill_id}")
    assert "rustlang" in edit_page
    edited = submit(
        admin_browser,
        edit_page,
        f"/admin/skills/{skill_id}",
        {**data, "deprecated": "y", "version": 1},
    )
    assert edited.status_code == 303
    with app.app_context():
        skill = skills.get_skill(db.session, skill_id)
        assert skill.deprecated and skill.description == "*Fast*"


def test_a_good_import_reports_its_counts(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    page = page_text(admin_browser, "/admin/data")
    csv = "email,name,role,skill,level\nimported@example.org,Imported Person,member,Python,4\n"
    response = upload(admin_browser, page, csv)
    assert response.status_code == 200
    assert "1 people created" in response.get_data(as_text=True)


def test_a_bad_import_lists_every_bad_line_and_writes_nothing(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    before = person_count(app)
    page = page_text(admin_browser, "/admin/data")
    csv = (
        "email,name,role,skill,level\n"
        "good@example.org,Good Person,member,Python,4\n"
        "bad@example.org,Bad Person,member,Python,9\n"
        "worse@example.org,Worse Person,member,Cobol,3\n"
    )
    response = upload(admin_browser, page, csv)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "<td>3</td>" in text and "<td>4</td>" in text
    assert person_count(app) == before


def test_a_malformed_import_is_the_services_page_naming_the_line(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    before = person_count(app)
    page = page_text(admin_browser, "/admin/data")
    csv = 'email,name,role,skill,level\nok@example.org,Ok,member,Python,4\nq@example.org,"Q\n'
    response = upload(admin_browser, page, csv)
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "<td>3</td>" in response.get_data(as_text=True)
    assert person_count(app) == before


def upload(client: FlaskClient, page: str, csv: str) -> object:
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    return client.post(
        "/admin/data/import",
        data={"csrf_token": token, "file": (io.BytesIO(csv.encode()), "people.csv")},
        headers={"Sec-Fetch-Site": "same-origin"},
        content_type="multipart/form-data",
    )


def test_an_admin_revokes_someones_token(
    app: Flask, world: World, admin_browser: FlaskClient
) -> None:
    page = page_text(admin_browser, "/admin/tokens")
    assert "/admin/tokens/" in page
    with app.app_context():
        token_id = tokens.tokens_of(db.session, world.member.person_id)[0].id
    response = submit(admin_browser, page, f"/admin/tokens/{token_id}/revoke", {})
    assert response.status_code == 303
    assert app.test_client().get("/api/v1/me", headers=world.member.headers).status_code == 401


def test_a_manager_sets_targets_for_their_team_only(
    app: Flask, world: World, make_actor: MakeActor
) -> None:
    manager = signed_in(app, world.manager)
    page = page_text(manager, f"/teams/{world.team_id}")
    assert "Set a target" in page
    version = team_version(app, world.team_id)
    data = {"skill_id": world.skill_id, "level": 4, "version": version}
    assert submit(manager, page, f"/teams/{world.team_id}/targets", data).status_code == 303
    too_high = {"skill_id": world.skill_id, "level": 9, "version": version + 1}
    assert submit(manager, page, f"/teams/{world.team_id}/targets", too_high).status_code == 422
    stale = submit(manager, page, f"/teams/{world.team_id}/targets", data)
    assert stale.status_code == 412
    with app.app_context():
        assert [(t.skill_id, t.level) for t, _ in teams.targets(db.session, world.team_id)] == [
            (world.skill_id, 4)
        ]
    member = signed_in(app, world.subject)
    member_page = page_text(member, f"/teams/{world.team_id}")
    assert "Set a target" not in member_page
    assert submit(member, member_page, f"/teams/{world.team_id}/targets", data).status_code == 403
