"""The ``skills-service`` command group (a Flask CLI group)."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from skills_service import create_app, harden, migrations
from skills_service.errors import DomainError, ImportRejected
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.security import audit_context
from skills_service.services import audit, matrix, matrix_import, people, summaries, tokens
from skills_service.services import demo_data as demo
from skills_service.settings import ConfigError, Settings, Severity

EXIT_CONFIG = 2
EXIT_UNUSABLE_FILE = 2


def _app_factory() -> Flask:
    audit_context.acting_as(audit.Context(credential="cli"))
    return create_app()


def _settings() -> Settings:
    settings: Settings = current_app.config["SKILLS_SETTINGS"]
    return settings


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


cli = FlaskGroup(
    name="skills-service",
    create_app=_app_factory,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    help="Operate skills-service: database, users, tokens, data, serving.",
)


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database schema to the latest revision."""
    settings = _settings()
    if settings.uses_sqlite:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(db.engine())
    click.echo(f"database at revision {migrations.HEAD}")


@cli.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["viewer", "member", "manager", "admin"]))
@click.option("--name", default=None, help="Display name (default: the part before @).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--one-time-password",
    is_flag=True,
    help="Generate a password, print it once; it must be changed at first sign-in.",
)
@click.option("--no-password", is_flag=True, help="No local password (single sign-on only).")
@click.option("--exist-ok", is_flag=True, help="Succeed quietly when the person already exists.")
def create_user(
    email: str,
    role: str,
    name: str | None,
    password_stdin: bool,
    one_time_password: bool,
    no_password: bool,
    exist_ok: bool,
) -> None:
    """Create a person with a local account. The password is never an argument."""
    session = db.session
    if exist_ok:
        try:
            with session.begin():
                existing = people.find_by_email(session, email)
        except DomainError as exc:
            _fail(exc.detail)
        if existing is not None:
            click.echo(f"{email} already exists; unchanged")
            return
    password: str | None
    if no_password:
        password = None
    elif one_time_password:
        password = secrets.token_urlsafe(18)
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session.begin():
            person = people.create_person(
                session,
                email=email,
                name=name or people.normalise_email(email).split("@", 1)[0],
                role=role,
                password=password,
                must_change_password=one_time_password,
            )
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"created {person.email} (id {person.id}, role {person.role})")
    if one_time_password:
        click.echo(f"one-time password for {person.email} (change it at first sign-in):")
        click.echo(password)


@cli.group("token")
def token_group() -> None:
    """Personal access tokens."""


@token_group.command("create")
@click.argument("email")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["read", "write"]),
    help="Repeat for several (default: read).",
)
@click.option("--expires-days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--name", default="cli", show_default=True)
def token_create(email: str, scopes: tuple[str, ...], expires_days: int, name: str) -> None:
    """Create a token; the token itself is the last line of output, shown once."""
    session = db.session
    try:
        with session.begin():
            issued = tokens.create_token(
                session,
                person=people.get_by_email(session, email),
                name=name,
                scopes=scopes,
                expires_days=expires_days,
                max_days=_settings().token_max_days,
            )
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(
        f"token {issued.token.id} for {email}, scopes {issued.token.scopes}, "
        f"expires {issued.token.expires_at:%Y-%m-%d}"
    )
    click.echo(issued.secret)


@token_group.command("list")
@click.argument("email")
def token_list(email: str) -> None:
    """List a person's tokens (never their secrets)."""
    session = db.session
    try:
        person = people.get_by_email(session, email)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(
        f"{'id':>6}  {'name':<20} {'hint':<10} {'scopes':<11} {'expires':<10} "
        f"{'last used':<16} state"
    )
    for token in tokens.tokens_of(session, person.id):
        state = "revoked" if token.revoked_at else "active"
        last = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(
            f"{token.id:>6}  {token.name:<20} {token.hint + '…':<10} {token.scopes:<11} "
            f"{token.expires_at:%Y-%m-%d} {last:<16} {state}"
        )


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    session = db.session
    try:
        with session.begin():
            token = tokens.revoke_token(session, token_id=token_id)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"token {token.id} revoked")


@cli.command("demo-data")
@click.option(
    "--people", "people_count", default=300, type=click.IntRange(1, 200_000), show_default=True
)
@click.option("--seed", default=7, show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing when the catalogue has skills.")
def demo_data(people_count: int, seed: int, if_empty: bool) -> None:
    """Load a realistic demo organisation into an empty database."""
    session = db.session
    if if_empty:
        with session.begin():
            empty = demo.catalogue_is_empty(session)
        if not empty:
            click.echo("demo data not loaded: the database already has data")
            return
    try:
        with (
            session.begin(),
            click.progressbar(length=people_count, label="people", file=sys.stderr) as bar,
        ):
            summary = demo.generate_demo_organisation(
                session,
                people=people_count,
                seed=seed,
                progress=lambda done: bar.update(done - bar.pos),
            )
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(
        f"demo data: {summary.skills} skills, {summary.people} people, {summary.teams} teams, "
        f"{summary.proficiencies} proficiencies"
    )


@cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "actor_email", default=None, help="Whose name the changes are recorded in.")
def import_command(path: Path, actor_email: str | None) -> None:
    """Import people and proficiencies from CSV (all-or-nothing)."""
    session = db.session
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        _fail("the file is not UTF-8 text")
    try:
        with session.begin():
            actor = people.get_by_email(session, actor_email) if actor_email else None
            with click.progressbar(
                length=text.count("\n"), label="importing", file=sys.stderr
            ) as bar:
                report = matrix_import.import_csv(
                    session,
                    text,
                    actor_id=actor.id if actor else None,
                    max_lines=current_app.config["SKILLS_SETTINGS"].import_max_lines,
                    progress=lambda done: bar.update(done - bar.pos),
                )
    except ImportRejected as exc:
        for line_error in exc.line_errors:
            click.echo(
                f"line {line_error.line}: {line_error.column}: {line_error.message}", err=True
            )
        _fail(exc.detail)
    except DomainError as exc:
        _fail(exc.detail)
    for cleared in report.cleared_verifications:
        click.echo(
            f"line {cleared.line}: {cleared.email}: {cleared.skill}: verification ended", err=True
        )
    click.echo(
        f"imported: {report.people_created} people created, {report.people_updated} "
        f"updated, {report.people_unchanged} unchanged; {report.proficiencies_set} "
        f"proficiencies set, {report.proficiencies_unchanged} unchanged, "
        f"{report.verifications_cleared} verifications ended"
    )


@cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option(
    "--long",
    "long_layout",
    is_flag=True,
    help="One row per person and skill with every attribute (imports back exactly).",
)
def export_command(path: Path, long_layout: bool) -> None:
    """Export the skills matrix to CSV (formula-injection safe)."""
    session = db.session
    count = 0
    layout = matrix.Layout.LONG if long_layout else matrix.Layout.WIDE
    unit = "rows" if long_layout else "people"
    with path.open("w", encoding="utf-8", newline="") as out:
        for line in matrix.write_csv(matrix.export_rows(session, layout)):
            out.write(line)
            count += 1
            if count % 10_000 == 0:
                click.echo(f"exported {count - 1} {unit}", err=True)
    click.echo(f"exported {max(count - 1, 0)} {unit} to {path}")


@cli.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain from the first event; exit 1 at the first broken link."""
    session = db.session
    with session.begin():
        result = audit.verify(session)
    if not result.intact:
        _fail(f"audit trail broken at event {result.broken_at}: {result.reason}")
    click.echo(f"audit trail intact: {result.events} events, head {result.head_hash}")


@cli.group("dashboard")
def dashboard_group() -> None:
    """The dashboard's running totals."""


@dashboard_group.command("fold")
def dashboard_fold() -> None:
    """Fold the totals' delta logs into their counts (the dashboard also does it itself)."""
    session = db.session
    with session.begin():
        moved = summaries.fold(session, today=utcnow().date())
    click.echo(f"folded {moved} delta rows")


@dashboard_group.command("recount")
def dashboard_recount() -> None:
    """Count the totals afresh from every proficiency (after changing data by hand)."""
    session = db.session
    with session.begin():
        summaries.rebuild(session, today=utcnow().date())
    click.echo("dashboard totals recounted")


@cli.command("check-config", with_appcontext=False)
def check_config() -> None:
    """Print every finding about the configuration; exit 1 on any error."""
    try:
        settings = Settings.from_environ()
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    findings = settings.findings()
    for finding in findings:
        click.echo(f"{finding.severity.value:<8} {finding.setting}: {finding.message}")
    if any(finding.severity is Severity.ERROR for finding in findings):
        sys.exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number or 'no'} {noun}{'' if number == 1 else 's'}"


@cli.command("harden", with_appcontext=False)
@click.option("--check", is_flag=True, help="Report the findings; exit 1 when there are any.")
@click.option(
    "--write", is_flag=True, help="Fix what is safe (keeping FILE.bak), then report the rest."
)
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
def harden_command(check: bool, write: bool, paths: tuple[Path, ...]) -> None:
    """Audit or fix the hardening of compose files, Dockerfiles and daemon.json.

    A directory stands for the files in it that harden knows by name (Dockerfile*,
    *.Dockerfile, compose*.y*ml, docker-compose*.y*ml, daemon.json); its
    subdirectories are not entered (name each one), hidden files and FILE.bak
    backups are skipped, and a directory without any such file is an error.

    Exit 0 when nothing is left to fix, 1 when findings remain, 2 when a file
    cannot be read or is of an unknown kind (then no file is changed).
    """
    if check == write:
        raise click.UsageError("give exactly one of --check or --write")
    files, unusable = _harden_files(paths)
    targets: list[harden.Target] = []
    for path in files:
        try:
            targets.append(harden.load(path))
        except harden.HardenError as exc:
            unusable = True
            click.echo(f"error: {path}: {exc}", err=True)
    if unusable:
        sys.exit(EXIT_UNUSABLE_FILE)
    remaining: list[tuple[str, harden.Finding]] = []
    for target in targets:
        findings = target.findings
        if write:
            try:
                result = harden.fix(target)
            except harden.HardenError as exc:
                _fail(f"{target.path}: {exc}", EXIT_UNUSABLE_FILE)
            findings = result.remaining
            if result.backup is not None:
                click.echo(
                    f"{target.path}: fixed {_count(result.fixed, 'finding')}, "
                    f"original kept as {result.backup}"
                )
        remaining.extend((str(target.path), finding) for finding in findings)
    if remaining:
        for line in harden.format_table(remaining):
            click.echo(line)
    summary = _count(len(remaining), "finding")
    if write and remaining:
        summary += " left to fix by hand"
    summary += f" in {_count(len(targets), 'file')}"
    fixable = sum(finding.fixable for _, finding in remaining)
    if check and fixable:
        summary += f" ({fixable} fixable with --write)"
    click.echo(summary)
    if remaining:
        sys.exit(1)


def _harden_files(paths: tuple[Path, ...]) -> tuple[list[Path], bool]:
    """The files the paths name, each once, and whether a directory could not be used.

    The same file named twice (or by a directory and by name) would be fixed twice
    from one reading.
    """
    unique: dict[Path, Path] = {}
    unusable = False
    for path in paths:
        try:
            found = harden.files_in(path) if path.is_dir() else [path]
        except harden.HardenError as exc:
            click.echo(f"error: {path}: {exc}", err=True)
            unusable = True
            continue
        for file in found:
            unique.setdefault(file.resolve(), file)
    return list(unique.values()), unusable


def gunicorn_command(host: str, port: int, workers: int | None) -> list[str]:
    """The gunicorn that ``serve`` becomes, with the service's configuration."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:skills_service.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        *(["--workers", str(workers)] if workers is not None else []),
        "skills_service.wsgi:app",
    ]


@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=click.IntRange(1, 65535), show_default=True)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes  [default: $WEB_CONCURRENCY, else 2]",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve with gunicorn (the configuration is checked first)."""
    try:
        Settings.from_environ().guard()
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    argv = gunicorn_command(host, port, workers)
    # Workers write their metrics here, so that a scrape of any one sums them all.
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="skills-service-metrics-")
    )
    # A fixed argument vector replaces this process; no shell is involved.
    os.execv(sys.executable, argv)  # noqa: S606  # nosec B606


def main() -> None:
    """Console entry point: a configuration error is one line on stderr and exit 2."""
    try:
        cli.main()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
