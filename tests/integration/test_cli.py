"""The ``skills-service`` command line: the forms that scripts and operators rely on."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from skills_service.cli import cli
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.services import passwords, people
from tests.conftest import Actor, MakeActor
from tests.integration.responses import data

GOOD_PASSWORD = "correct horse battery staple"
CONSOLE_SCRIPT = Path(sys.executable).parent / "skills-service"
LONG_KEY = "chyt2wOMBGduOeLPh-nfXTRODSRSXHG1uhUjvZ7KKOU"
POSTGRES = "postgresql+psycopg://skills@db.invalid:5432/skills"


def invoke(runner: FlaskCliRunner, *args: str, input: str | None = None) -> Result:
    result: Result = runner.invoke(cli, list(args), input=input)
    return result


def find_person(app: Flask, email: str) -> Person | None:
    with app.app_context():
        return people.find_by_email(db.session, email)


def create_token(runner: FlaskCliRunner, email: str, *extra: str) -> tuple[int, str]:
    result = invoke(runner, "token", "create", email, *extra)
    assert result.exit_code == 0, result.output
    match = re.match(r"token (\d+) ", result.stdout)
    assert match is not None, result.stdout
    return int(match.group(1)), result.stdout.splitlines()[-1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# create-user


def test_create_user_reads_the_password_from_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    result = invoke(
        runner,
        "create-user",
        "New.Person@Example.org",
        "--role",
        "member",
        "--password-stdin",
        input=GOOD_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    person = find_person(app, "new.person@example.org")
    assert person is not None
    assert (person.role, person.name) == ("member", "new.person")
    assert person.password_hash is not None
    assert passwords.verify_password(person.password_hash, GOOD_PASSWORD)


def test_create_user_takes_a_display_name(app: Flask, runner: FlaskCliRunner) -> None:
    result = invoke(
        runner,
        "create-user",
        "ada@example.org",
        "--role",
        "manager",
        "--name",
        "Ada Lovelace",
        "--password-stdin",
        input=GOOD_PASSWORD + "\r\n",
    )
    assert result.exit_code == 0, result.output
    person = find_person(app, "ada@example.org")
    assert person is not None
    assert (person.name, person.role) == ("Ada Lovelace", "manager")


def test_create_user_refuses_a_too_short_password_and_creates_nothing(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = invoke(
        runner,
        "create-user",
        "short@example.org",
        "--role",
        "member",
        "--password-stdin",
        input="tiny\n",
    )
    assert result.exit_code != 0
    assert "too short" in result.stderr
    assert "Traceback" not in result.output
    assert find_person(app, "short@example.org") is None


def test_create_user_has_no_password_option(app: Flask, runner: FlaskCliRunner) -> None:
    result = invoke(
        runner, "create-user", "argv@example.org", "--role", "member", "--password", GOOD_PASSWORD
    )
    assert result.exit_code == 2
    assert "--password" in result.stderr
    assert find_person(app, "argv@example.org") is None


def test_create_user_with_a_one_time_password_prints_it_on_the_last_line(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = invoke(
        runner, "create-user", "otp@example.org", "--role", "admin", "--one-time-password"
    )
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()[-1]
    assert len(printed) >= passwords.MIN_LENGTH
    person = find_person(app, "otp@example.org")
    assert person is not None and person.password_hash is not None
    assert passwords.verify_password(person.password_hash, printed)
    assert person.must_change_password is True


def test_create_user_prompts_for_the_password_twice(app: Flask, runner: FlaskCliRunner) -> None:
    typed = f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n"
    result = invoke(runner, "create-user", "typed@example.org", "--role", "viewer", input=typed)
    assert result.exit_code == 0, result.output
    assert GOOD_PASSWORD not in result.output
    person = find_person(app, "typed@example.org")
    assert person is not None and person.password_hash is not None
    assert passwords.verify_password(person.password_hash, GOOD_PASSWORD)


def test_create_user_refuses_an_existing_email(runner: FlaskCliRunner, member: Actor) -> None:
    result = invoke(runner, "create-user", member.email.upper(), "--role", "admin", "--no-password")
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_create_user_exist_ok_leaves_an_existing_person_alone(
    app: Flask, runner: FlaskCliRunner, member: Actor
) -> None:
    result = invoke(
        runner, "create-user", member.email, "--role", "admin", "--no-password", "--exist-ok"
    )
    assert result.exit_code == 0
    person = find_person(app, member.email)
    assert person is not None and person.role == "member"


def test_create_user_refuses_an_unknown_role(app: Flask, runner: FlaskCliRunner) -> None:
    result = invoke(runner, "create-user", "root@example.org", "--role", "root", "--no-password")
    assert result.exit_code == 2
    assert find_person(app, "root@example.org") is None


# token create / list / revoke


def test_token_create_prints_the_token_alone_on_the_last_line(
    client: FlaskClient, runner: FlaskCliRunner, member: Actor
) -> None:
    _, secret = create_token(
        runner, member.email, "--scope", "read", "--scope", "write", "--expires-days", "5"
    )
    assert re.fullmatch(r"sks_[A-Za-z0-9_-]{43}", secret)
    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    assert data(me)["id"] == member.person_id
    assert data(me)["scopes"] == ["read", "write"]


def test_token_create_defaults_to_read_only(
    client: FlaskClient, runner: FlaskCliRunner, member: Actor
) -> None:
    _, secret = create_token(runner, member.email)
    assert data(client.get("/api/v1/me", headers=bearer(secret)))["scopes"] == ["read"]


def test_token_create_for_an_unknown_person_fails(runner: FlaskCliRunner) -> None:
    result = invoke(runner, "token", "create", "nobody@example.org")
    assert result.exit_code == 1
    assert "sks_" not in result.output


def test_token_create_refuses_an_expiry_beyond_the_maximum(
    runner: FlaskCliRunner, member: Actor
) -> None:
    result = invoke(runner, "token", "create", member.email, "--expires-days", "400")
    assert result.exit_code == 1
    assert "sks_" not in result.output


def test_token_list_shows_the_token_without_its_secret(
    runner: FlaskCliRunner, member: Actor
) -> None:
    token_id, secret = create_token(
        runner, member.email, "--scope", "read", "--scope", "write", "--name", "deploy-bot"
    )
    result = invoke(runner, "token", "list", member.email)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "deploy-bot" in line)
    assert row.split()[0] == str(token_id)
    assert "read write" in row
    assert row.endswith("active")
    assert secret not in result.output
    assert secret[4:20] not in result.output


def test_token_revoke_makes_the_api_answer_401(
    client: FlaskClient, runner: FlaskCliRunner, member: Actor
) -> None:
    token_id, secret = create_token(runner, member.email, "--scope", "read")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    result = invoke(runner, "token", "revoke", str(token_id))
    assert result.exit_code == 0, result.output
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    listed = invoke(runner, "token", "list", member.email).stdout
    assert listed.splitlines()[-1].endswith("revoked")


def test_token_revoke_of_an_unknown_id_fails(runner: FlaskCliRunner) -> None:
    assert invoke(runner, "token", "revoke", "987654").exit_code == 1


# export / import


@pytest.fixture
def matrix(client: FlaskClient, admin: Actor, make_actor: MakeActor) -> dict[str, int]:
    """Two skills (one formula-like) and a member with levels in both."""
    ids = {}
    for name in ("Python", "=cmd"):
        response = client.post(
            "/api/v1/skills", json={"name": name, "category": "Misc"}, headers=admin.headers
        )
        ids[name] = data(response)["id"]
    member = make_actor("member", name="+Mallory")
    for skill_id, level in ((ids["Python"], 4), (ids["=cmd"], 2)):
        client.put(
            f"/api/v1/people/{member.person_id}/skills/{skill_id}",
            json={"level": level},
            headers=admin.headers,
        )
    return {"member": member.person_id, **ids}


def test_export_writes_the_matrix_to_a_file(
    runner: FlaskCliRunner, admin: Actor, matrix: dict[str, int], tmp_path: Path
) -> None:
    target = tmp_path / "matrix.csv"
    result = invoke(runner, "export", str(target))
    assert result.exit_code == 0, result.output
    assert "exported 2 people" in result.stdout
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == ["email", "name", "role", "active", "'=cmd", "Python"]
    assert sorted(row[1] for row in rows[1:]) == ["'+Mallory", "Admin 1"]


def test_export_then_import_round_trips(
    client: FlaskClient,
    runner: FlaskCliRunner,
    admin: Actor,
    matrix: dict[str, int],
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert invoke(runner, "export", str(first)).exit_code == 0
    client.put(
        f"/api/v1/people/{matrix['member']}/skills/{matrix['Python']}",
        json={"level": 1},
        headers={**admin.headers, "If-Match": "*"},
    )
    result = invoke(runner, "import", str(first))
    assert result.exit_code == 0, result.output
    assert "0 people created, 0 updated, 2 unchanged; 1 proficiencies set, 1 unchanged" in (
        result.stdout
    )
    assert invoke(runner, "export", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()


def test_a_long_export_imports_back_changing_nothing(
    runner: FlaskCliRunner, matrix: dict[str, int], tmp_path: Path
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    exported = invoke(runner, "export", "--long", str(first))
    assert exported.exit_code == 0, exported.output
    assert "exported 3 rows" in exported.stdout
    result = invoke(runner, "import", str(first))
    assert result.exit_code == 0, result.output
    assert "0 updated, 2 unchanged; 0 proficiencies set, 2 unchanged" in result.stdout
    assert invoke(runner, "export", "--long", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()


def test_import_of_a_long_file_creates_people(
    app: Flask, runner: FlaskCliRunner, matrix: dict[str, int], tmp_path: Path
) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "email,name,role,skill,level\nlin@example.org,Lin,member,python,3\n", encoding="utf-8"
    )
    result = invoke(runner, "import", str(source))
    assert result.exit_code == 0, result.output
    assert find_person(app, "lin@example.org") is not None


def test_import_of_a_bad_file_exits_non_zero_listing_each_bad_line(
    app: Flask, runner: FlaskCliRunner, matrix: dict[str, int], tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        "email,name,role,skill,level\n"
        "ok@example.org,Fine,member,Python,3\n"
        "broken,Bad,member,Python,3\n"
        "lvl@example.org,Bad Level,member,Python,0\n",
        encoding="utf-8",
    )
    result = invoke(runner, "import", str(source))
    assert result.exit_code != 0
    assert "line 3: email:" in result.stderr
    assert "line 4: level:" in result.stderr
    assert "Traceback" not in result.output
    assert find_person(app, "ok@example.org") is None


def test_import_of_a_file_that_is_not_utf8_fails_cleanly(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes(
        "email,name,role,skill,level\nzoë@example.org,Zoë,member,,\n".encode("latin-1")
    )
    result = invoke(runner, "import", str(source))
    assert result.exit_code == 1
    assert "UTF-8" in result.stderr


def test_import_of_a_missing_file_is_a_usage_error(runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert invoke(runner, "import", str(tmp_path / "absent.csv")).exit_code == 2


# check-config and start-up guard (a real process: exit codes and streams as operators see)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Scenario:
    args: tuple[str, ...]
    env: Mapping[str, str]


SCENARIOS: dict[str, Scenario] = {
    "good": Scenario(("check-config",), {"SKILLS_SECRET_KEY": LONG_KEY}),
    "missing_key": Scenario(("check-config",), {}),
    "placeholder_key": Scenario(("check-config",), {"SKILLS_SECRET_KEY": "changeme"}),
    "short_key": Scenario(("check-config",), {"SKILLS_SECRET_KEY": "s" * 20 + "0123456789a"}),
    "debug": Scenario(("check-config",), {"SKILLS_SECRET_KEY": LONG_KEY, "SKILLS_DEBUG": "true"}),
    "sqlite": Scenario(
        ("check-config",), {"SKILLS_SECRET_KEY": LONG_KEY, "SKILLS_DATABASE_URL": "sqlite:///x.db"}
    ),
    "default_sqlite": Scenario(("check-config",), {"SKILLS_SECRET_KEY": LONG_KEY}),
    "allowed_sqlite": Scenario(
        ("check-config",),
        {
            "SKILLS_SECRET_KEY": LONG_KEY,
            "SKILLS_DATABASE_URL": "sqlite:///x.db",
            "SKILLS_ALLOW_SQLITE": "true",
        },
    ),
    "key_file": Scenario(("check-config",), {"SKILLS_SECRET_KEY_FILE": "{key_file}"}),
    "key_and_key_file": Scenario(
        ("check-config",),
        {"SKILLS_SECRET_KEY": LONG_KEY, "SKILLS_SECRET_KEY_FILE": "{key_file}"},
    ),
    "unreadable_key_file": Scenario(
        ("check-config",), {"SKILLS_SECRET_KEY_FILE": "{key_file}.missing"}
    ),
    "upgrade_without_key": Scenario(("db", "upgrade"), {}),
    "serve_with_placeholder_key": Scenario(("serve",), {"SKILLS_SECRET_KEY": "changeme"}),
}
WITH_POSTGRES = {"good", "missing_key", "placeholder_key", "short_key", "debug", "key_file"}
WITH_POSTGRES |= {"key_and_key_file", "unreadable_key_file", "upgrade_without_key"}
WITH_POSTGRES |= {"serve_with_placeholder_key"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every scenario as a real ``skills-service`` process, started together (fast)."""
    workdir = tmp_path_factory.mktemp("cli")
    key_file = workdir / "secret_key"
    key_file.write_text(LONG_KEY + "\n", encoding="utf-8")
    started = {}
    for name, scenario in SCENARIOS.items():
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "SKILLS_ENV": "production",
            **({"SKILLS_DATABASE_URL": POSTGRES} if name in WITH_POSTGRES else {}),
            **{key: value.format(key_file=key_file) for key, value in scenario.env.items()},
        }
        started[name] = subprocess.Popen(
            [str(CONSOLE_SCRIPT), *scenario.args],
            env=env,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finished = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=60)
        finished[name] = Run(process.returncode, stdout, stderr)
    return finished


def test_check_config_accepts_a_good_production_configuration(runs: dict[str, Run]) -> None:
    run = runs["good"]
    assert run.code == 0, run.stdout + run.stderr
    assert "SKILLS_SECRET_KEY: secret key is set" in run.stdout
    assert "postgresql" in run.stdout


def test_check_config_never_prints_the_secret_key(runs: dict[str, Run]) -> None:
    assert all(LONG_KEY not in run.stdout + run.stderr for run in runs.values())


def test_check_config_fails_naming_the_key_when_it_is_missing(runs: dict[str, Run]) -> None:
    run = runs["missing_key"]
    assert run.code != 0
    assert re.search(r"^error\s+SKILLS_SECRET_KEY: .*missing", run.stdout, re.MULTILINE)


def test_check_config_fails_naming_the_key_when_it_is_a_placeholder(runs: dict[str, Run]) -> None:
    run = runs["placeholder_key"]
    assert run.code != 0
    assert re.search(r"^error\s+SKILLS_SECRET_KEY: .*placeholder", run.stdout, re.MULTILINE)


def test_check_config_fails_naming_the_key_when_it_is_shorter_than_32_bytes(
    runs: dict[str, Run],
) -> None:
    run = runs["short_key"]
    assert run.code != 0
    assert re.search(r"^error\s+SKILLS_SECRET_KEY: .*shorter", run.stdout, re.MULTILINE)


def test_check_config_fails_when_debug_is_on_in_production(runs: dict[str, Run]) -> None:
    run = runs["debug"]
    assert run.code != 0
    assert re.search(r"^error\s+SKILLS_DEBUG:", run.stdout, re.MULTILINE)


@pytest.mark.parametrize("scenario", ["sqlite", "default_sqlite"])
def test_check_config_fails_for_sqlite_in_production(runs: dict[str, Run], scenario: str) -> None:
    run = runs[scenario]
    assert run.code != 0
    assert re.search(
        r"^error\s+SKILLS_DATABASE_URL: .*SKILLS_ALLOW_SQLITE", run.stdout, re.MULTILINE
    )


def test_check_config_accepts_sqlite_in_production_when_explicitly_allowed(
    runs: dict[str, Run],
) -> None:
    run = runs["allowed_sqlite"]
    assert run.code == 0, run.stdout + run.stderr
    assert "error" not in run.stdout


def test_check_config_reads_the_key_from_a_file(runs: dict[str, Run]) -> None:
    run = runs["key_file"]
    assert run.code == 0, run.stdout + run.stderr
    assert "SKILLS_SECRET_KEY: secret key is set" in run.stdout


def test_setting_the_key_and_its_file_variant_is_an_error(runs: dict[str, Run]) -> None:
    run = runs["key_and_key_file"]
    assert run.code != 0
    assert "SKILLS_SECRET_KEY_FILE" in run.stderr
    assert "Traceback" not in run.stderr


def test_db_upgrade_refuses_to_start_without_a_key_in_one_line(runs: dict[str, Run]) -> None:
    run = runs["upgrade_without_key"]
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "SKILLS_SECRET_KEY" in run.stderr


def test_an_unreadable_key_file_is_one_clear_line(runs: dict[str, Run]) -> None:
    run = runs["unreadable_key_file"]
    assert run.code == 2
    assert run.stderr.strip().splitlines() == [
        next(line for line in run.stderr.splitlines() if "SKILLS_SECRET_KEY_FILE" in line)
    ]
    assert "cannot read" in run.stderr


def test_serve_refuses_to_start_with_a_placeholder_key(runs: dict[str, Run]) -> None:
    run = runs["serve_with_placeholder_key"]
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "SKILLS_SECRET_KEY" in run.stderr


def test_demo_data_if_empty_loads_once_then_leaves_the_data_alone(
    app: Flask, runner: FlaskCliRunner
) -> None:
    first = invoke(runner, "demo-data", "--people", "12", "--if-empty")
    assert first.exit_code == 0, first.output
    assert "demo data:" in first.stdout
    second = invoke(runner, "demo-data", "--people", "12", "--if-empty")
    assert second.exit_code == 0, second.output
    assert "not loaded" in second.stdout


def test_create_user_exist_ok_creates_a_person_who_does_not_exist_yet(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = invoke(
        runner,
        "create-user",
        "first@example.org",
        "--role",
        "admin",
        "--one-time-password",
        "--exist-ok",
    )
    assert result.exit_code == 0, result.output
    assert find_person(app, "first@example.org") is not None
    assert len(result.stdout.strip().splitlines()[-1]) >= 20


def test_the_make_run_sequence_works_on_a_new_database_and_again_on_a_restart(
    app: Flask, runner: FlaskCliRunner
) -> None:
    sequence = [
        ["db", "upgrade"],
        ["demo-data", "--people", "12", "--if-empty"],
        ["create-user", "admin@example.org", "--role", "admin", "--name", "Administrator",
         "--one-time-password", "--exist-ok"],
    ]  # fmt: skip
    for _ in range(2):
        for command in sequence:
            result = invoke(runner, *command)
            assert result.exit_code == 0, (command, result.output)
    person = find_person(app, "admin@example.org")
    assert person is not None and person.must_change_password
