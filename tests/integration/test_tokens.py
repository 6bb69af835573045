"""Personal access tokens: hashed at rest, scoped, expiring, revocable, strict parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from skills_service.errors import InvalidInput, NotFound
from skills_service.extensions import db
from skills_service.models import ApiToken
from skills_service.models.base import utcnow
from skills_service.services import people, teams, tokens
from tests.conftest import Actor
from tests.integration.browser import signed_in, submit

ME = "/api/v1/me"


def test_a_token_is_stored_only_as_a_hash(app: Flask, member: Actor) -> None:
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).one()
    assert member.token.startswith("sks_")
    assert member.token not in (stored.token_hash, stored.hint)
    assert stored.token_hash == tokens.hash_secret(member.token)


def test_a_valid_token_identifies_its_owner(client: FlaskClient, member: Actor) -> None:
    body = client.get(ME, headers=member.headers).json
    assert body["id"] == member.person_id
    assert body["scopes"] == ["read", "write"]


@pytest.mark.parametrize("credential", ["token", "session"])
def test_the_principal_holds_exactly_the_teams_its_person_manages(
    app: Flask, client: FlaskClient, member: Actor, credential: str
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            made = [teams.create_team(session, name=f"Team {n}") for n in range(3)]
            for team, manages in zip(made, (True, False, True), strict=True):
                teams.add_member(
                    session,
                    team_id=team.id,
                    person_id=member.person_id,
                    is_manager=manages,
                    if_match=None,
                )
            managed = sorted([made[0].id, made[2].id])
    if credential == "token":
        body = client.get(ME, headers=member.headers).json
    else:
        body = signed_in(app, member).get(ME).json
    assert body["managed_teams"] == managed
    assert sorted(body["teams"]) == sorted(team.id for team in made)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sks_not-a-real-token",
        "Bearer " + "sks_" + "A" * 43,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer " + "x" * 5000,
        "sks_abc",
    ],
)
def test_bad_credentials_are_401_with_a_challenge(
    client: FlaskClient, member: Actor, header: str
) -> None:
    response = client.get(ME, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_credentials_is_401_and_not_invalid_token(client: FlaskClient) -> None:
    response = client.get(ME)
    assert response.status_code == 401
    assert "invalid_token" not in response.headers["WWW-Authenticate"]


def test_a_revoked_token_stops_working_at_once(
    app: Flask, client: FlaskClient, member: Actor
) -> None:
    assert client.get(ME, headers=member.headers).status_code == 200
    with app.app_context():
        session = db.session
        with session.begin():
            token_id = session.scalars(select(ApiToken.id)).one()
            tokens.revoke_token(session, token_id=token_id)
    assert client.get(ME, headers=member.headers).status_code == 401


def test_an_expired_token_is_refused(app: Flask, client: FlaskClient, member: Actor) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            token = session.scalars(select(ApiToken)).one()
            token.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get(ME, headers=member.headers).status_code == 401


def test_use_is_recorded_as_last_used(app: Flask, client: FlaskClient, member: Actor) -> None:
    client.get(ME, headers=member.headers)
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
    assert token.last_used_at is not None


def test_revoking_someone_elses_token_looks_like_a_missing_one(
    app: Flask, member: Actor, admin: Actor
) -> None:
    with app.app_context():
        session = db.session
        token_id = session.scalars(
            select(ApiToken.id).where(ApiToken.person_id == admin.person_id)
        ).one()
        with pytest.raises(NotFound):
            tokens.revoke_token(session, token_id=token_id, owner_id=member.person_id)


def test_expiry_beyond_the_maximum_is_refused(app: Flask, member: Actor) -> None:
    with app.app_context():
        session = db.session
        person = people.get_person(session, member.person_id)
        with pytest.raises(InvalidInput):
            tokens.create_token(
                session, person=person, name="long", scopes=["read"], expires_days=400, max_days=365
            )


def token_events(app: Flask, admin: Actor, token_owner: Actor) -> list[dict[str, object]]:
    """The audit trail's revocations of ``token_owner``'s tokens."""
    events = app.test_client().get(
        "/api/v1/audit", query_string={"action": "api_token.updated"}, headers=admin.headers
    )
    with app.app_context():
        owned = {str(token.id) for token in tokens.tokens_of(db.session, token_owner.person_id)}
    return [
        event
        for event in events.json["items"]
        if event["target_id"] in owned and "revoked_at" in (event["after"] or {})
    ]


def sign_out_everywhere(app: Flask, member: Actor, data: dict[str, str]) -> None:
    browser = signed_in(app, member)
    page = browser.get("/account").get_data(as_text=True)
    assert 'name="revoke_tokens" value="y" checked' in page
    response = submit(browser, page, "/account/sign-out-everywhere", data)
    assert response.headers["Location"] == "/login"
    assert browser.get("/account").status_code == 302


def test_signing_out_everywhere_revokes_the_tokens_by_default(
    app: Flask, client: FlaskClient, member: Actor, admin: Actor
) -> None:
    sign_out_everywhere(app, member, {"revoke_tokens": "y"})
    assert client.get(ME, headers=member.headers).status_code == 401
    assert len(token_events(app, admin, member)) == 1


def test_signing_out_everywhere_keeps_the_tokens_when_asked(
    app: Flask, client: FlaskClient, member: Actor, admin: Actor
) -> None:
    sign_out_everywhere(app, member, {})
    assert client.get(ME, headers=member.headers).status_code == 200
    assert token_events(app, admin, member) == []


@pytest.mark.parametrize("via", ["api", "admin page"])
def test_an_admin_password_reset_revokes_the_persons_tokens(
    app: Flask, client: FlaskClient, member: Actor, admin: Actor, via: str
) -> None:
    if via == "api":
        reset = client.post(
            f"/api/v1/people/{member.person_id}/password-reset", headers=admin.headers
        )
        assert reset.status_code == 200
    else:
        browser = signed_in(app, admin)
        page = browser.get("/admin/people").get_data(as_text=True)
        reset = submit(browser, page, f"/admin/people/{member.person_id}/password-reset", {})
        assert reset.status_code == 200
    assert client.get(ME, headers=member.headers).status_code == 401
    assert client.get(ME, headers=admin.headers).status_code == 200
    assert len(token_events(app, admin, member)) == 1
