"""Two live replicas on loopback: one winner among concurrent writers, shared limits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from skills_service.settings import Settings
from tests.conftest import PASSWORD, REDIS_URL, MakeActor, MakeApp, changed
from tests.integration.browser import CSRF_FIELD, set_password
from tests.integration.world import World, build_world

WRITERS = 20
TIMEOUT = 30


def serve(app: Flask) -> BaseWSGIServer:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@pytest.fixture
def replicas(settings: Settings, make_app: MakeApp) -> Iterator[list[str]]:
    """Two app instances on one database (and one Redis when configured)."""
    shared = changed(settings, redis_url=REDIS_URL) if REDIS_URL else settings
    servers = [serve(make_app(shared)), serve(make_app(shared))]
    yield [f"http://127.0.0.1:{server.server_port}" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def token_on(browser: requests.Session, url: str) -> str:
    page = browser.get(url, timeout=TIMEOUT)
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def account(browser: requests.Session, base: str) -> int:
    return browser.get(base + "/account", allow_redirects=False, timeout=TIMEOUT).status_code


def test_concurrent_writers_with_one_etag_across_replicas_make_one_winner(
    replicas: list[str], world: World
) -> None:
    path = f"/api/v1/people/{world.subject.person_id}/skills/{world.skill_id}"
    headers = {**world.subject.headers}
    with requests.Session() as http:
        current = http.get(replicas[0] + path, headers=headers, timeout=TIMEOUT)
    etag = current.headers["ETag"]
    start = threading.Barrier(WRITERS)

    def write(number: int) -> int:
        with requests.Session() as http:
            start.wait(timeout=TIMEOUT)
            response = http.put(
                replicas[number % 2] + path,
                json={"level": 1 + number % 5, "note": f"writer {number}"},
                headers={**headers, "If-Match": etag},
                timeout=TIMEOUT,
            )
            return response.status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(write, range(WRITERS)))
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1)
    with requests.Session() as http:
        final = http.get(replicas[1] + path, headers=headers, timeout=TIMEOUT)
        history = http.get(
            f"{replicas[0]}/api/v1/people/{world.subject.person_id}/history",
            headers=headers,
            timeout=TIMEOUT,
        )
    assert final.headers["ETag"] != etag
    sets = [
        entry
        for entry in history.json()["items"]
        if entry["skill_id"] == world.skill_id and entry["action"] == "set"
    ]
    assert len(sets) == 2, "the world's own level and exactly one writer's"
    assert sets[0]["level"] == final.json()["level"]
    assert final.json()["note"].startswith("writer")


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_replicas_share_rate_limits_and_session_revocation(
    settings: Settings, make_app: MakeApp, world: World
) -> None:
    shared = changed(
        settings,
        redis_url=REDIS_URL,
        ratelimit_default="6/minute",
        ratelimit_per_address="1000/minute",
    )
    servers = [serve(make_app(shared)), serve(make_app(shared))]
    urls = [f"http://127.0.0.1:{server.server_port}" for server in servers]
    try:
        token = {"Authorization": f"Bearer sks_{uuid.uuid4().hex:0<43}"}
        with requests.Session() as http:
            statuses = [
                http.get(urls[n % 2] + "/api/v1/me", headers=token, timeout=TIMEOUT).status_code
                for n in range(7)
            ]
        assert statuses == [401] * 6 + [429]

        set_password(make_app(shared), world.member.person_id, PASSWORD)
        browser = requests.Session()
        browser.headers.update({"Origin": urls[0], "Sec-Fetch-Site": "same-origin"})
        signed_in = browser.post(
            urls[0] + "/login",
            data={
                "email": world.member.email,
                "password": PASSWORD,
                "csrf_token": token_on(browser, urls[0] + "/login"),
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert signed_in.status_code == 302
        assert (
            browser.get(urls[1] + "/account", allow_redirects=False, timeout=TIMEOUT).status_code
            == 200
        )
        browser.headers["Origin"] = urls[1]
        ended = browser.post(
            urls[1] + "/account/sign-out-everywhere",
            data={"csrf_token": token_on(browser, urls[1] + "/account")},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert ended.status_code in (302, 303)
        assert (
            browser.get(urls[0] + "/account", allow_redirects=False, timeout=TIMEOUT).status_code
            == 302
        )
        browser.close()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
