"""Injection payloads get a clean answer: never a 5xx, never a half-written change."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from skills_service.extensions import db
from skills_service.models import AuditEvent, Skill
from skills_service.observability.logging import JsonFormatter
from tests.conftest import Actor
from tests.integration.browser import page_text, signed_in

PAYLOADS = {
    "sql-quote": "' OR '1'='1' --",
    "sql-stacked": "1; DROP TABLE person; --",
    "sql-union": "x' UNION SELECT password_hash FROM person --",
    "shell-substitution": "$(cat /etc/passwd)",
    "shell-backticks": "`id`",
    "shell-chain": "a; rm -rf / #",
    "path-traversal": "../../../../etc/passwd",
    "path-traversal-encoded": "..%2f..%2f..%2fetc%2fpasswd",
    "header-injection": "x\r\nSet-Cookie: stolen=1",
    "nul": "abc\x00def",
    "bidi-override": "admin\u202egnp.exe",
    "oversized-unicode": "\U0001d54f" * 5000,
    "template": "{{ config.SECRET_KEY }}",
    "script": "<script>alert(1)</script>",
}


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        session = db.session
        skills = session.scalar(select(func.count()).select_from(Skill)) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        session.rollback()
        return skills, events


def clean(response: object) -> int:
    status: int = response.status_code  # type: ignore[attr-defined]
    assert status < 500, response.get_data(as_text=True)[:300]  # type: ignore[attr-defined]
    if status >= 400 and response.mimetype != "text/html":  # type: ignore[attr-defined]
        assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    return status


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payloads_in_queries_are_answered_cleanly(
    client: FlaskClient, admin: Actor, payload: str
) -> None:
    for path, params in [
        ("/api/v1/skills", {"q": payload}),
        ("/api/v1/people", {"q": payload}),
        ("/api/v1/people", {"skill": f"{payload}:3"}),
        ("/api/v1/audit", {"action": payload}),
        ("/api/v1/diagnostics/hello", {"name": payload}),
        ("/api/v1/diagnostics/calculate", {"expr": payload}),
    ]:
        status = clean(client.get(path, query_string=params, headers=admin.headers))
        assert status in (200, 400, 404, 414, 422), (path, status)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_payload_as_a_name_is_stored_as_text_or_refused_with_nothing_written(
    app: Flask, client: FlaskClient, admin: Actor, payload: str
) -> None:
    client.get("/api/v1/me", headers=admin.headers)  # the token's first use is recorded
    before = counts(app)
    response = client.post(
        "/api/v1/skills",
        json={"name": payload, "category": "Hostile", "description": payload},
        headers=admin.headers,
    )
    status = clean(response)
    if status == 201:
        assert response.json["description"] == payload.replace("\r\n", "\n")
        assert counts(app)[0] == before[0] + 1
    else:
        assert status == 422
        assert "name" in response.json["errors"]
        assert counts(app) == before


def test_a_forged_request_id_is_replaced_not_echoed(client: FlaskClient, admin: Actor) -> None:
    for forged in ("abc; Set-Cookie: x=1", "../../etc/passwd", "a" * 100, "<script>", "é" * 20):
        response = client.get("/api/v1/me", headers={**admin.headers, "X-Request-ID": forged})
        assert response.headers["X-Request-ID"] != forged
        assert "x=1" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payloads_in_page_queries_are_answered_cleanly(
    app: Flask, admin: Actor, payload: str
) -> None:
    browser = signed_in(app, admin)
    for path in ("/people", "/skills", "/admin/people", "/admin/audit"):
        response = browser.get(path, query_string={"q": payload, "action": payload})
        assert clean(response) in (200, 400, 414), path
        if response.status_code == 200:
            assert "<script>alert(1)</script>" not in response.get_data(as_text=True)


def test_no_secret_reaches_the_logs_whatever_is_sent(
    app: Flask, client: FlaskClient, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    browser = signed_in(app, admin)
    with caplog.at_level(logging.DEBUG):
        for payload in PAYLOADS.values():
            client.get("/api/v1/skills", query_string={"q": payload}, headers=admin.headers)
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {admin.token}x"})
        page_text(browser, "/account")
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert admin.token not in logged
    cookie = browser.get_cookie("skills_session")
    assert cookie is not None and cookie.value not in logged


def test_a_nul_character_is_refused_before_it_reaches_the_database(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    """PostgreSQL cannot hold NUL: found by fuzzing as a 500 on ``?skill=``."""
    for path in ("/api/v1/people?skill=a%00b:3", "/api/v1/skills?q=%00", "/api/v1/audit?x%00=1"):
        body = client.get(path, headers=admin.headers)
        assert clean(body) == 400
        assert "NUL" in body.json["detail"]
    created = client.post(
        "/api/v1/skills",
        json={"name": "Fine", "category": "Data", "description": "bad\x00byte"},
        headers=admin.headers,
    )
    assert clean(created) == 422
    assert created.json["errors"]["description"] == ["Must not contain NUL characters."]
    browser = signed_in(app, admin)
    assert browser.get("/people?q=a%00b").status_code == 400


UNICODE_DIGITS = {"superscript": "\u00b2", "arabic-indic": "\u0663", "fullwidth": "\uff13"}


@pytest.mark.parametrize("digit", UNICODE_DIGITS.values(), ids=UNICODE_DIGITS.keys())
def test_digits_of_other_scripts_are_refused_wherever_a_number_is_read(
    app: Flask, client: FlaskClient, admin: Actor, digit: str
) -> None:
    """``str.isdigit`` accepts them and ``int`` then raises (or reads them): found as 500s."""
    created = client.post(
        "/api/v1/skills", json={"name": "Rust", "category": "Languages"}, headers=admin.headers
    )
    skill_url = f"/api/v1/skills/{created.json['id']}"
    for path in (
        f"/api/v1/people?skill=Rust:{digit}",
        f"/api/v1/people?skill={digit}",
        f"/api/v1/skills?page={digit}",
        f"/api/v1/skills?limit={digit}",
    ):
        assert clean(client.get(path, headers=admin.headers)) in (400, 422), path
    renamed = client.patch(
        skill_url,
        json={"description": "x"},
        headers={**admin.headers, "If-Match": f'"{digit}"'},
    )
    assert clean(renamed) == 412
    imported = client.post(
        "/api/v1/import",
        data=f"email,name,role,skill,level\r\nada@example.org,Ada,member,Rust,{digit}\r\n",
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert clean(imported) == 422
    assert imported.json["line_errors"][0]["column"] == "level"
    browser = signed_in(app, admin)
    for page in (f"/skills?page={digit}", f"/admin/audit?actor={digit}"):
        assert clean(browser.get(page)) == 400, page
    assert "Bad skill condition" in page_text(browser, f"/people?skill=Rust&level={digit}", 422)


def test_a_five_thousand_digit_number_is_refused_not_converted(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    huge = "9" * 5000
    for path in (f"/api/v1/people?skill=x:{huge}", f"/api/v1/skills?page={huge}"):
        assert clean(client.get(path, headers=admin.headers)) in (400, 414, 422), path
    assert clean(signed_in(app, admin).get(f"/skills?page={huge}")) in (400, 414)
