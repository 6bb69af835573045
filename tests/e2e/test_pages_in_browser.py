"""The pages in real Chromium: sign in, edit, search, and nothing runs that should not."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from skills_service.extensions import db
from skills_service.services import people, proficiencies, skills, teams
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import PASSWORD, MakeActor
from tests.e2e.conftest import Watched
from tests.integration.browser import set_password
from tests.integration.world import World, build_world

XSS = '<img src=x onerror=alert("xss")><script>alert("xss")</script>'


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    built = build_world(app, make_actor)
    for actor in (built.subject, built.manager, built.admin):
        set_password(app, actor.person_id, PASSWORD)
    return built


def sign_in(watched: Watched, live_url: str, email: str) -> None:
    page = watched.page
    page.goto(live_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_url + "/")


def visit_all(watched: Watched, live_url: str, pages: dict[str, str]) -> None:
    """Open each page, expect a 200, and keep a screenshot under its name."""
    for name, path in pages.items():
        response = watched.page.goto(live_url + path)
        assert response is not None and response.status == 200, path
        watched.page.wait_for_load_state("networkidle")
        watched.screenshot(name)


def test_sign_in_and_edit_a_level_inline(
    app: Flask, world: World, live_url: str, watched: Watched
) -> None:
    watched.page.goto(live_url + "/login")
    watched.screenshot("login")
    sign_in(watched, live_url, world.subject.email)
    page = watched.page
    page.get_by_label("Level for Python").select_option("5")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert page.get_by_label("Level for Python").input_value() == "5"
    with app.app_context():
        held = proficiencies.get_proficiency(db.session, world.subject.person_id, world.skill_id)
        assert held.level == 5
    watched.screenshot("my-skills")
    watched.assert_clean()


def test_search_people_by_skill_and_level(world: World, live_url: str, watched: Watched) -> None:
    sign_in(watched, live_url, world.manager.email)
    page = watched.page
    page.get_by_role("link", name="People").click()
    page.get_by_label("Skill 1").select_option(label="Python")
    page.get_by_label("At least").first.select_option("3")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("heading", name="1 match").wait_for()
    page.get_by_role("link", name="Subject Person").click()
    page.get_by_role("heading", name="Subject Person").wait_for()
    assert "private note" in page.content()
    watched.screenshot("person")
    watched.assert_clean()


def test_every_main_page_renders_without_a_csp_violation_or_sideways_scroll_on_a_phone(
    world: World, live_url: str, watched: Watched
) -> None:
    sign_in(watched, live_url, world.manager.email)
    pages = {
        "catalogue": "/skills",
        "skill": f"/skills/{world.skill_id}",
        "people": f"/people?skill={world.skill_id}&level=1",
        "team": f"/teams/{world.team_id}",
        "verifications": "/verifications",
        "account": "/account",
        "api-docs": "/api/v1/docs",
    }
    visit_all(watched, live_url, pages)
    watched.assert_clean()
    assert_no_sideways_scroll_on_a_phone(watched, live_url, ["/", *pages.values()])


def assert_no_sideways_scroll_on_a_phone(watched: Watched, live_url: str, paths: list[str]) -> None:
    """At 390 px the skill page's table of levels pushed the whole page sideways; a
    wide table scrolls within itself instead."""
    watched.page.set_viewport_size({"width": 390, "height": 800})
    for path in paths:
        watched.page.goto(live_url + path)
        overflow = watched.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, f"{path} scrolls sideways by {overflow} px"


def test_the_admin_pages_render_without_a_csp_violation(
    world: World, live_url: str, watched: Watched
) -> None:
    sign_in(watched, live_url, world.admin.email)
    pages = {
        "admin-people": "/admin/people",
        "admin-teams": "/admin/teams",
        "admin-team": f"/admin/teams/{world.team_id}",
        "admin-skill": f"/admin/skills/{world.skill_id}",
        "admin-data": "/admin/data",
        "admin-tokens": "/admin/tokens",
        "admin-audit": "/admin/audit",
    }
    visit_all(watched, live_url, pages)
    watched.assert_clean()


def test_stored_script_in_every_user_field_stays_text(
    app: Flask, world: World, live_url: str, watched: Watched
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skill = skills.create_skill(
                session, name=XSS[:64], category="Languages", description=XSS
            )
            teams.update_team(session, team_id=world.team_id, if_match="*", name=XSS[:64])
            people.update_person(
                session, person_id=world.subject.person_id, if_match="*", name=XSS[:64]
            )
            proficiencies.upsert_proficiency(
                session,
                person_id=world.subject.person_id,
                skill_id=skill.id,
                data=ProficiencyInput(level=4, note=XSS),
                actor_id=world.subject.person_id,
                if_match=None,
            )
        skill_id = skill.id
    sign_in(watched, live_url, world.manager.email)
    for path in (
        "/skills",
        f"/skills/{skill_id}",
        f"/teams/{world.team_id}",
        f"/people/{world.subject.person_id}",
        f"/people?skill={skill_id}&level=1",
        "/verifications",
    ):
        watched.page.goto(live_url + path)
        watched.page.wait_for_load_state("networkidle")
        body = watched.page.inner_text("main")
        assert re.search(r'<img src=x onerror=alert\("xss"\)>', body), path
        assert watched.page.locator("main img").count() == 0, path
        assert watched.page.locator("main script").count() == 0, path
    watched.screenshot("stored-xss-as-text")
    watched.assert_clean()


def test_the_dashboard_draws_its_charts_under_the_csp(
    world: World, live_url: str, watched: Watched
) -> None:
    sign_in(watched, live_url, world.manager.email)
    page = watched.page
    page.goto(live_url + "/dashboard/")
    page.locator("#levels .main-svg").first.wait_for()
    page.locator("#coverage .main-svg").first.wait_for()
    assert page.locator("#levels .bars path").count() > 0
    page.locator("#team").click()
    page.get_by_role("option", name="Platform").click()
    page.locator("#heatmap .main-svg").first.wait_for()
    page.locator("#gaps .main-svg").first.wait_for()
    page.wait_for_load_state("networkidle")
    watched.screenshot("dashboard")
    watched.assert_clean()


LINK_NAME = '<a href="https://evil.example/">Python</a>'
MARKUP_NAME = "<b>Subject</b><br>Person"


def test_names_in_charts_are_drawn_as_text_never_as_links(
    app: Flask, world: World, live_url: str, watched: Watched
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skills.update_skill(session, skill_id=world.skill_id, if_match="*", name=LINK_NAME)
            people.update_person(
                session, person_id=world.subject.person_id, if_match="*", name=MARKUP_NAME
            )
            teams.replace_targets(
                session, team_id=world.team_id, wanted=[(world.skill_id, 4)], if_match="*"
            )
    sign_in(watched, live_url, world.manager.email)
    page = watched.page
    page.goto(live_url + "/dashboard/")
    page.locator("#team").click()
    page.get_by_role("option", name="Platform").click()
    for chart in ("levels", "top", "heatmap", "gaps"):
        page.locator(f"#{chart} .main-svg").first.wait_for()
    page.wait_for_load_state("networkidle")
    watched.screenshot("dashboard-names-as-text")
    assert page.locator(".js-plotly-plot svg a").count() == 0
    assert page.locator(".js-plotly-plot svg tspan[style*='font-weight']").count() == 0
    assert page.locator("#levels svg text", has_text=LINK_NAME).count() > 0
    assert page.locator("#heatmap svg text", has_text=MARKUP_NAME).count() > 0
    watched.assert_clean()
