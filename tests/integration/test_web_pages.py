"""The web pages, driven like a browser: signed-in sessions, forms with CSRF tokens."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from skills_service.extensions import db
from skills_service.services import proficiencies, skills, teams
from tests.conftest import PASSWORD, MakeActor
from tests.integration.browser import page_text, set_password, sign_in, signed_in, submit
from tests.integration.world import World, build_world

FIRST_VERSION = '"1"'
ANY_VERSION = "*"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def level_of(app: Flask, person_id: int, skill_id: int) -> int | None:
    with app.app_context():
        held = proficiencies.proficiencies_of(db.session, person_id)
        return next((item.level for item in held if item.skill_id == skill_id), None)


def test_signing_in_lands_on_my_skills(app: Flask, world: World) -> None:
    client = app.test_client()
    set_password(app, world.subject.person_id, PASSWORD)
    assert sign_in(client, world.subject.email, PASSWORD).headers["Location"] == "/"
    page = page_text(client, "/")
    assert "My skills" in page and "Python" in page and "self-assessed" in page
    assert f'My teams: <a href="/teams/{world.team_id}">Platform</a>' in page


def test_a_member_adds_edits_and_removes_a_skill(app: Flask, world: World) -> None:
    client = signed_in(app, world.member)
    page = page_text(client, "/")
    added = submit(client, page, "/my-skills", {"skill_id": world.skill_id, "level": 2})
    assert added.status_code == 303
    assert level_of(app, world.member.person_id, world.skill_id) == 2
    page = page_text(client, "/")
    edited = submit(
        client, page, "/my-skills", {"skill_id": world.skill_id, "level": 4, "version": 1}
    )
    assert edited.status_code == 303
    assert level_of(app, world.member.person_id, world.skill_id) == 4
    removed = submit(
        client,
        page_text(client, "/"),
        "/my-skills/remove",
        {"skill_id": world.skill_id, "version": 2},
    )
    assert removed.status_code == 303
    assert level_of(app, world.member.person_id, world.skill_id) is None


def test_an_edit_from_a_stale_page_is_refused_not_overwritten(app: Flask, world: World) -> None:
    client = signed_in(app, world.subject)
    stale = page_text(client, "/")
    version = 1
    first = {"skill_id": world.skill_id, "level": 5, "version": version}
    assert submit(client, stale, "/my-skills", first).status_code == 303
    second = {"skill_id": world.skill_id, "level": 1, "version": version}
    refused = submit(client, stale, "/my-skills", second)
    assert refused.status_code == 412
    assert "changed since you loaded the page" in refused.get_data(as_text=True)
    assert level_of(app, world.subject.person_id, world.skill_id) == 5


def test_an_out_of_range_level_changes_nothing(app: Flask, world: World) -> None:
    client = signed_in(app, world.subject)
    page = page_text(client, "/")
    bad = {"skill_id": world.skill_id, "level": 9, "version": 1}
    refused = submit(client, page, "/my-skills", bad)
    assert refused.status_code == 422
    assert "level from 1 to 5" in refused.get_data(as_text=True)
    assert level_of(app, world.subject.person_id, world.skill_id) == 3


def test_a_viewer_sees_skills_but_cannot_edit_them(app: Flask, world: World) -> None:
    client = signed_in(app, world.viewer)
    page = page_text(client, "/")
    assert "Add a skill" not in page
    refused = submit(client, page, "/my-skills", {"skill_id": world.skill_id, "level": 3})
    assert refused.status_code == 403
    assert level_of(app, world.viewer.person_id, world.skill_id) is None


def test_the_catalogue_searches_by_name_and_links_to_skill_pages(app: Flask, world: World) -> None:
    client = signed_in(app, world.member)
    page = page_text(client, "/skills?q=pyth")
    assert f'href="/skills/{world.skill_id}"' in page
    assert "Python" not in page_text(client, "/skills?q=haskell").split("<tbody>")[1]
    page_text(client, "/skills?page=zero", status=400)


def test_a_skill_page_counts_people_per_level_and_sanitises_markdown(
    app: Flask, world: World
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skills.update_skill(
                session,
                skill_id=world.skill_id,
                if_match=FIRST_VERSION,
                description=f"**Snakes**, [docs](https://docs.python.org) {XSS} [x](javascript:1)",
            )
    page = page_text(signed_in(app, world.member), f"/skills/{world.skill_id}")
    assert "<strong>Snakes</strong>" in page
    assert 'href="https://docs.python.org"' in page
    assert "<script>alert" not in page and "<img" not in page
    assert 'href="javascript:' not in page
    assert "Subject Person" in page


def test_people_search_needs_every_condition(app: Flask, world: World) -> None:
    client = signed_in(app, world.member)
    found = page_text(client, f"/people?skill={world.skill_id}&level=3")
    assert "Subject Person" in found and "1 match" in found
    assert "Subject Person" not in page_text(client, f"/people?skill={world.skill_id}&level=4")


def test_people_search_names_a_bad_condition(app: Flask, world: World) -> None:
    client = signed_in(app, world.member)
    page = page_text(client, "/people?skill=999999&level=3", status=422)
    assert 'role="alert"' in page


def test_private_fields_show_only_to_those_allowed(app: Flask, world: World) -> None:
    path = f"/people/{world.subject.person_id}"
    as_member = page_text(signed_in(app, world.member), path)
    assert "Subject Person" in as_member
    assert world.subject.email not in as_member and "private note" not in as_member
    as_manager = page_text(signed_in(app, world.manager), path)
    assert world.subject.email in as_manager and "private note" in as_manager


@pytest.mark.parametrize(
    ("role", "sees_gaps"),
    [("manager", True), ("admin", True), ("viewer", False), ("member", False), ("subject", False)],
)
def test_the_team_page_shows_targets_to_all_and_gaps_to_its_managers(
    app: Flask, world: World, role: str, sees_gaps: bool
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            teams.replace_targets(
                session, team_id=world.team_id, wanted=[(world.skill_id, 4)], if_match=ANY_VERSION
            )
    page = page_text(signed_in(app, world.by_role(role)), f"/teams/{world.team_id}")
    assert "Platform" in page and "Subject Person" in page
    assert re.search(r"Python</a></td>\s*<td>4</td>", page), "target row"
    assert ("0 of 2" in page) is sees_gaps
    assert ("Levels missing" in page) is sees_gaps


def test_a_manager_verifies_from_the_queue(app: Flask, world: World) -> None:
    client = signed_in(app, world.manager)
    queue = page_text(client, "/verifications")
    assert "Subject Person" in queue
    data = {"person_id": world.subject.person_id, "skill_id": world.skill_id, "version": 1}
    assert submit(client, queue, "/verifications", data).status_code == 303
    assert "Nothing is waiting" in page_text(client, "/verifications")
    with app.app_context():
        verified = proficiencies.get_proficiency(
            db.session, world.subject.person_id, world.skill_id
        )
        assert verified.verified_by_id == world.manager.person_id


def test_members_have_no_verification_queue(app: Flask, world: World) -> None:
    client = signed_in(app, world.member)
    assert "Verifications" not in page_text(client, "/")
    page_text(client, "/verifications", status=403)


def test_user_text_is_shown_as_text_on_every_page(app: Flask, world: World) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skill = skills.create_skill(session, name=XSS[:64], category=XSS[:64])
            teams.update_team(session, team_id=world.team_id, if_match=ANY_VERSION, name=XSS[:64])
        skill_id = skill.id
    client = signed_in(app, world.member)
    for path in (
        "/skills",
        f"/skills/{skill_id}",
        f"/teams/{world.team_id}",
        f"/people/{world.subject.person_id}",
        "/people?q=Subject",
    ):
        page = page_text(client, path)
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
