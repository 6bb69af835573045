"""The cache never serves what changed: two app instances on one database (and one
Redis), each with its own process cache, see every change on their very next request.

Every test runs on the embedded default and, when ``SKILLS_TEST_REDIS_URL`` is set,
with Redis; and on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from skills_service import caching
from skills_service.caching import versions
from skills_service.extensions import db
from skills_service.models import ApiToken, Person, Skill
from skills_service.services import people, skills, teams, tokens
from skills_service.settings import Settings
from tests.conftest import REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import SAME_ORIGIN, csrf_token, session_cookie, signed_in
from tests.integration.statements import counting

LIST = "/api/v1/skills?limit=50"
STORES = ["embedded", *(["redis"] if REDIS_URL else [])]


@dataclass(frozen=True)
class Replicas:
    one: Flask
    other: Flask
    settings: Settings

    def fresh(self, make_app: MakeApp) -> Flask:
        """A third instance whose cache is still empty: what the uncached path answers."""
        return make_app(self.settings)


@pytest.fixture(params=STORES)
def replicas(request: pytest.FixtureRequest, settings: Settings, make_app: MakeApp) -> Replicas:
    shared = changed(settings, redis_url=REDIS_URL) if request.param == "redis" else settings
    return Replicas(make_app(shared), make_app(shared), shared)


@pytest.fixture
def app(replicas: Replicas) -> Flask:
    """The instance the actors are made on (``make_actor`` uses it)."""
    return replicas.one


@pytest.fixture
def skill_id(replicas: Replicas) -> int:
    with replicas.one.app_context(), db.session.begin():
        for number in range(3):
            skills.create_skill(db.session, name=f"Rust {number}", category="Languages")
        skill = skills.create_skill(db.session, name="Python", category="Languages", aliases=["py"])
    return skill.id


def warm(replicas: Replicas, path: str, actor: Actor) -> None:
    for app in (replicas.one, replicas.other):
        for _ in range(2):
            assert app.test_client().get(path, headers=actor.headers).status_code == 200


def test_a_revoked_token_is_refused_on_the_next_request_to_the_other_instance(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    member = make_actor("member")
    warm(replicas, LIST, member)
    with replicas.one.app_context(), db.session.begin():
        token = db.session.scalars(select(ApiToken)).one()
        token.revoked_at = token.created_at
    assert replicas.other.test_client().get(LIST, headers=member.headers).status_code == 401


def test_a_deactivated_person_is_refused_on_the_next_request_to_the_other_instance(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    admin, member = make_actor("admin"), make_actor("member")
    warm(replicas, LIST, member)
    path = f"/api/v1/people/{member.person_id}"
    client = replicas.one.test_client()
    etag = client.get(path, headers=admin.headers).headers["ETag"]
    answer = client.patch(path, json={"active": False}, headers={**admin.headers, "If-Match": etag})
    assert answer.status_code == 200, answer.get_json()
    assert replicas.other.test_client().get(LIST, headers=member.headers).status_code == 401


def test_a_role_change_applies_on_the_next_request_to_the_other_instance(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    admin, other_admin = make_actor("admin"), make_actor("admin")
    warm(replicas, "/api/v1/audit?limit=5", other_admin)
    path = f"/api/v1/people/{other_admin.person_id}"
    client = replicas.one.test_client()
    etag = client.get(path, headers=admin.headers).headers["ETag"]
    answer = client.patch(
        path, json={"role": "viewer"}, headers={**admin.headers, "If-Match": etag}
    )
    assert answer.status_code == 200, answer.get_json()
    audit = replicas.other.test_client().get("/api/v1/audit?limit=5", headers=other_admin.headers)
    assert audit.status_code == 403


def browser_on(app: Flask, cookie: str) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("skills_session", cookie)
    return browser


@pytest.mark.parametrize("ending", ["/logout", "/account/sign-out-everywhere"])
def test_a_signed_out_session_is_refused_on_the_next_request_to_the_other_instance(
    replicas: Replicas, make_actor: MakeActor, ending: str
) -> None:
    member = make_actor("member")
    browser = signed_in(replicas.one, member)
    cookie = session_cookie(browser)
    assert cookie is not None
    other = browser_on(replicas.other, cookie)
    for _ in range(2):
        assert other.get("/account").status_code == 200
    token = csrf_token(browser, "/account")
    ended = browser.post(ending, data={"csrf_token": token}, headers=SAME_ORIGIN)
    assert ended.status_code in (302, 303)
    assert browser_on(replicas.other, cookie).get("/account").status_code == 302


def test_a_change_whose_snapshots_were_left_in_place_is_caught_by_the_epoch(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    """The token is revoked behind the unit of work's back and only the person's epoch
    is bumped and published: no snapshot is forgotten, yet none is served."""
    member = make_actor("member")
    warm(replicas, LIST, member)
    with replicas.one.app_context(), db.session.begin():
        db.session.execute(update(ApiToken).values(revoked_at=ApiToken.created_at))
        bumped = versions.bump(db.session.connection(), [versions.person_key(member.person_id)])
        caching.current().backend.bumped(bumped)
    for app in (replicas.one, replicas.other):
        assert app.test_client().get(LIST, headers=member.headers).status_code == 401


QUERIES = [
    LIST,
    "/api/v1/skills?limit=2",
    "/api/v1/skills?limit=2&page=2&q=rust",
    "/api/v1/skills?q=py&include_deprecated=false",
    "/api/v1/skills?category=languages",
]


@pytest.mark.parametrize("path", [*QUERIES, "item"])
def test_stored_bytes_are_the_bytes_the_uncached_path_answers(
    replicas: Replicas, make_actor: MakeActor, make_app: MakeApp, skill_id: int, path: str
) -> None:
    member = make_actor("member")
    url = f"/api/v1/skills/{skill_id}" if path == "item" else path
    client = replicas.one.test_client()
    first = client.get(url, headers=member.headers)
    with counting(replicas.one) as statements:
        stored = client.get(url, headers=member.headers)
    assert len(statements) <= 1, statements
    uncached = replicas.fresh(make_app).test_client().get(url, headers=member.headers)
    assert stored.get_data() == first.get_data() == uncached.get_data()
    assert stored.headers["ETag"] == uncached.headers["ETag"]
    assert stored.headers["Content-Type"] == uncached.headers["Content-Type"]


def test_a_viewer_receives_what_the_uncached_path_answers_a_viewer(
    replicas: Replicas, make_actor: MakeActor, make_app: MakeApp, skill_id: int
) -> None:
    """The catalogue's representation depends on nobody: the bytes an admin's and a
    manager's requests stored are exactly those a viewer is answered uncached."""
    admin, manager, viewer = make_actor("admin"), make_actor("manager"), make_actor("viewer")
    fresh = replicas.fresh(make_app).test_client()
    for url in (LIST, f"/api/v1/skills/{skill_id}"):
        for actor in (admin, manager):
            replicas.one.test_client().get(url, headers=actor.headers)
        served = replicas.one.test_client().get(url, headers=viewer.headers)
        assert served.get_data() == fresh.get(url, headers=viewer.headers).get_data()


def test_a_write_is_seen_by_the_next_read_on_either_instance(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    member, admin = make_actor("member"), make_actor("admin")
    item = f"/api/v1/skills/{skill_id}"
    warm(replicas, LIST, member)
    warm(replicas, item, member)
    etag = replicas.one.test_client().get(item, headers=admin.headers).headers["ETag"]
    renamed = replicas.one.test_client().patch(
        item, json={"name": "Python 3"}, headers={**admin.headers, "If-Match": etag}
    )
    assert renamed.status_code == 200, renamed.get_json()
    for app in (replicas.one, replicas.other):
        client = app.test_client()
        names = [skill["name"] for skill in client.get(LIST, headers=member.headers).json["items"]]
        assert "Python 3" in names and "Python" not in names
        assert client.get(item, headers=member.headers).json["name"] == "Python 3"


def test_a_skill_added_in_a_service_transaction_is_listed_at_once(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    member = make_actor("member")
    warm(replicas, LIST, member)
    with replicas.one.app_context(), db.session.begin():
        skills.create_skill(db.session, name="Zig", category="Languages")
    body = replicas.other.test_client().get(LIST, headers=member.headers).json
    assert "Zig" in [skill["name"] for skill in body["items"]]


def test_a_rolled_back_change_leaves_the_stored_list_current(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    member = make_actor("member")
    before = replicas.one.test_client().get(LIST, headers=member.headers)
    with replicas.one.app_context(), pytest.raises(RuntimeError), db.session.begin():
        db.session.get(Skill, skill_id).name = "Never"  # type: ignore[union-attr]
        db.session.flush()
        raise RuntimeError("abandoned")
    after = replicas.other.test_client().get(LIST, headers=member.headers)
    assert after.get_data() == before.get_data()
    assert after.headers["ETag"] == before.headers["ETag"]


@pytest.mark.parametrize("kind", ["list", "item"])
def test_if_none_match_is_304_only_while_the_representation_is_unchanged(
    replicas: Replicas, make_actor: MakeActor, skill_id: int, kind: str
) -> None:
    member, admin = make_actor("member"), make_actor("admin")
    item = f"/api/v1/skills/{skill_id}"
    url = LIST if kind == "list" else item
    client = replicas.one.test_client()
    etag = client.get(url, headers=member.headers).headers["ETag"]
    unchanged = replicas.other.test_client().get(
        url, headers={**member.headers, "If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == etag
    item_etag = client.get(item, headers=admin.headers).headers["ETag"]
    renamed = client.patch(
        item, json={"name": "Python 3"}, headers={**admin.headers, "If-Match": item_etag}
    )
    assert renamed.status_code == 200
    for app in (replicas.one, replicas.other):
        again = app.test_client().get(url, headers={**member.headers, "If-None-Match": etag})
        assert again.status_code == 200
        assert again.headers["ETag"] != etag
        assert "Python 3" in again.get_data(as_text=True)


def test_an_items_etag_stays_the_one_if_match_expects(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    admin = make_actor("admin")
    item = f"/api/v1/skills/{skill_id}"
    client = replicas.one.test_client()
    client.get(item, headers=admin.headers)
    etag = client.get(item, headers=admin.headers).headers["ETag"]
    deprecated = replicas.other.test_client().patch(
        item, json={"deprecated": True}, headers={**admin.headers, "If-Match": etag}
    )
    assert deprecated.status_code == 200, deprecated.get_json()


def test_a_tokens_use_is_recorded_without_a_statement_per_request(
    replicas: Replicas, make_actor: MakeActor, skill_id: int
) -> None:
    member = make_actor("member")
    client = replicas.one.test_client()
    client.get(LIST, headers=member.headers)
    with replicas.one.app_context():
        first_use = db.session.scalars(select(ApiToken.last_used_at)).one()
    assert first_use is not None
    with counting(replicas.one) as statements:
        for _ in range(5):
            client.get(LIST, headers=member.headers)
    assert not [text for text in statements if "UPDATE api_token" in text]


ME = "/api/v1/me"


def test_me_is_never_answered_with_another_principals_bytes(
    replicas: Replicas, make_actor: MakeActor
) -> None:
    admin, manager, viewer = make_actor("admin"), make_actor("manager"), make_actor("viewer")
    read_only = make_actor("member", scopes=("read",))
    client = replicas.one.test_client()
    for _ in range(2):
        for actor in (admin, manager, viewer, read_only):
            body = client.get(ME, headers=actor.headers).json
            assert (body["id"], body["role"]) == (actor.person_id, actor.role)
            assert body["scopes"] == (["read"] if actor is read_only else ["read", "write"])


def test_me_of_two_tokens_of_one_person_shows_each_tokens_scopes(
    replicas: Replicas, make_actor: MakeActor
) -> None:
    member = make_actor("member", scopes=("read",))
    with replicas.one.app_context(), db.session.begin():
        person = db.session.get(Person, member.person_id)
        assert person is not None
        second = tokens.create_token(
            db.session,
            person=person,
            name="second",
            scopes=("read", "write"),
            expires_days=1,
            max_days=1,
        ).secret
    client = replicas.one.test_client()
    for _ in range(2):
        assert client.get(ME, headers=member.headers).json["scopes"] == ["read"]
        both = client.get(ME, headers={"Authorization": f"Bearer {second}"}).json["scopes"]
        assert both == ["read", "write"]


def test_me_shows_a_new_team_and_name_on_the_next_request_to_the_other_instance(
    replicas: Replicas, make_actor: MakeActor
) -> None:
    member = make_actor("member")
    warm(replicas, ME, member)
    with replicas.one.app_context(), db.session.begin():
        team = teams.create_team(db.session, name="Platform")
        teams.add_member(
            db.session,
            team_id=team.id,
            person_id=member.person_id,
            is_manager=True,
            if_match=None,
        )
        people.get_person(db.session, member.person_id).name = "Renamed"
    body = replicas.other.test_client().get(ME, headers=member.headers).json
    assert (body["name"], body["teams"], body["managed_teams"]) == ("Renamed", [team.id], [team.id])
