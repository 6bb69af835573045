"""Fill a database with an organisation big enough to show how search and gaps scale.

The defaults give 100,000 people with 20 proficiencies each (2,000,000 rows), 150
skills in 10 categories and about 2,000 teams of about 50 members with 5-10 target
levels each. The data is shaped like a real organisation rather than uniform noise,
because the query plans depend on it: a few skills are held by many people and most
by few, people know the skills of their team's field better than others, levels
bunch at 2-3, about 5% of proficiencies carry a certification expiry (a third of
those already past) and about 20% are verified by the team's manager.

The schema comes from the real migrations, so the benchmark measures the indexes
the service ships with. Rows go in through the fastest path each backend offers:
COPY on PostgreSQL (into a dedicated ``skills_bench`` schema, dropped first so runs
repeat), large ``executemany`` batches in one transaction on SQLite.

Usage::

    .venv/bin/python bench/generate.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/generate.py --database-url sqlite:///bench/results/bench.sqlite3
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from skills_service.database import make_engine
from skills_service.migrations import upgrade
from skills_service.models import (
    Base,
    CategoryCoverageCount,
    CategoryCoverageDelta,
    PersonSearch,
    SkillLevelCount,
    SkillLevelDelta,
)
from skills_service.services import search_index, summaries
from skills_service.services.common import name_key

URL_ENV = "SKILLS_BENCH_DATABASE_URL"
BENCH_SCHEMA = "skills_bench"

DEFAULT_PEOPLE = 100_000
DEFAULT_PER_PERSON = 20
DEFAULT_SEED = 20_251_123
TEAM_SIZE = (35, 65)
TARGETS_PER_TEAM = (5, 10)
PROGRESS_EVERY = 250_000
SQLITE_BATCH = 50_000

# Probability of each level 1..5. Skills in one's own field sit a level higher.
LEVELS = (1, 2, 3, 4, 5)
OWN_FIELD_LEVEL_WEIGHTS = (5, 20, 35, 28, 12)
OTHER_LEVEL_WEIGHTS = (22, 36, 27, 11, 4)
TARGET_LEVEL_WEIGHTS = (2, 25, 45, 23, 5)
OWN_FIELD_BOOST = 6.0
TARGETS_FROM_OWN_FIELD = 0.7
VERIFIED_SHARE = 0.20
EXPIRING_SHARE = 0.05
EXPIRY_DAYS = (-365, 730)
INTERESTED_SHARE = 0.15
INACTIVE_SHARE = 0.03


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def parse_catalogue(source: str) -> dict[str, tuple[str, ...]]:
    """``{category: skill names}`` from lines of ``Category: a, b`` (indented lines go on)."""
    catalogue: dict[str, tuple[str, ...]] = {}
    category = ""
    for line in source.strip().splitlines():
        if not line.startswith(" "):
            category, _, line = line.partition(":")
        names = tuple(name.strip() for name in line.split(",") if name.strip())
        catalogue[category] = catalogue.get(category, ()) + names
    return catalogue


# One category a line: "Category: skill, skill, ...". Real names, because short ones
# such as "C" and "Go" are exactly what the catalogue's name rules must cope with.
CATALOGUE_TEXT = """
Languages: Python, Java, JavaScript, TypeScript, Go, Rust, C, C++, C#, Kotlin, Swift, Ruby,
  PHP, Scala, SQL
Frontend: React, Angular, Vue.js, Svelte, HTML, CSS, Sass, Tailwind CSS, Webpack, Vite,
  Next.js, Redux, Accessibility, Web Performance, Storybook
Backend: Flask, Django, FastAPI, Spring Boot, Node.js, Express, Ruby on Rails, ASP.NET Core,
  GraphQL, REST API Design, gRPC, Kafka, RabbitMQ, Celery, Microservices
Data: PostgreSQL, MySQL, SQLite, MongoDB, Redis, Elasticsearch, Cassandra, Snowflake,
  BigQuery, dbt, Apache Spark, Airflow, Pandas, Data Modelling, ETL
Cloud: AWS, Azure, Google Cloud, Kubernetes, Docker, Terraform, Helm, Serverless,
  CloudFormation, Pulumi, OpenStack, Cloud Networking, IAM, Cost Optimisation, Multi-cloud
Operations: Linux, Bash, Git, GitHub Actions, GitLab CI, Jenkins, Ansible, Prometheus,
  Grafana, OpenTelemetry, Incident Response, SRE, Nginx, Observability, Release Engineering
Security: Threat Modelling, OWASP Top 10, Penetration Testing, Cryptography, OAuth 2.0,
  OpenID Connect, SAST, Dependency Auditing, Secure Code Review, Network Security,
  Identity Management, Vulnerability Management, Security Incident Handling,
  Container Security, Compliance
Testing: Unit Testing, Integration Testing, pytest, JUnit, Selenium, Playwright, Cypress,
  Property-based Testing, Load Testing, Contract Testing, Test Automation, Mutation Testing,
  TDD, Exploratory Testing, Accessibility Testing
Machine Learning: Machine Learning, Deep Learning, PyTorch, TensorFlow, scikit-learn, NLP,
  Computer Vision, Statistics, MLOps, LLM Applications, Recommender Systems, Time Series,
  Experiment Design, Feature Engineering, Data Visualisation
Product and Leadership: Agile, Scrum, Kanban, Product Discovery, Technical Writing,
  Mentoring, Stakeholder Management, Roadmapping, UX Research, Interaction Design, Figma,
  Public Speaking, Hiring, Negotiation, Project Management
"""

FIRST_NAMES = words("""
Ada Alan Amara Ana Arjun Astrid Bea Carlos Chen Chloe Dmitri Elena Emeka Fatima Grace Hana
Ines Ivan Jamal Jonas Kai Karin Lars Leila Linus Maya Mei Mohammed Nadia Noah Olga Omar
Priya Rafael Sara Sofia Tariq Yuki Zainab Zoe
""")
LAST_NAMES = words("""
Abe Andersson Bauer Bianchi Costa Dubois Eze Fischer García Haddad Hansen Ivanova Jensen
Kim Kowalski Larsen López Martin Müller Nakamura Nguyen Novak O'Brien Okafor Patel Petrov
Rossi Santos Schmidt Silva Singh Smith Tanaka Torres Varga Wang Weber Wilson Yilmaz Zhang
""")


CATALOGUE = parse_catalogue(CATALOGUE_TEXT)

Row = tuple[Any, ...]


@dataclass(frozen=True)
class TableRows:
    """The rows of one table, in the order of ``columns``, produced lazily."""

    table: str
    columns: tuple[str, ...]
    rows: Iterable[Row]


@dataclass(frozen=True)
class Organisation:
    """Who is in which team and what each team aims for; everything rows derive from."""

    categories: tuple[str, ...]
    skill_category: tuple[int, ...]  # index into categories, per skill id - 1
    team_category: tuple[int, ...]  # per team id - 1
    team_of: tuple[int, ...]  # team id per person id - 1
    managers: tuple[int, ...]  # manager's person id per team id - 1
    targets: tuple[tuple[tuple[int, int], ...], ...]  # (skill id, level) per team id - 1


@dataclass
class GenerationReport:
    """Row counts and the seconds each phase took, for the benchmark table."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


class Loader(Protocol):
    """Bulk-loads rows into one table inside the loader's open transaction."""

    def load(self, rows: TableRows) -> int: ...


def progress(message: str) -> None:
    print(f"[generate] {message}", file=sys.stderr, flush=True)


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def bench_url(url: str) -> str:
    """The URL the benchmark really uses: on PostgreSQL, psycopg 3 and the bench schema.

    The schema goes into ``search_path`` through the libpq ``options`` parameter, so
    the migrations and the service functions run unchanged, unaware of the schema.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    bench = parsed.set(drivername="postgresql+psycopg").update_query_dict(
        {"options": f"-csearch_path={BENCH_SCHEMA}"}
    )
    return bench.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def reset_database(url: str) -> None:
    """Start from nothing, so a second run gives the same database as the first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        _reset_postgresql_schema(parsed)
    elif parsed.get_backend_name() == "sqlite":
        _reset_sqlite_file(parsed)
    else:
        raise SystemExit(f"unsupported database backend: {parsed.get_backend_name()}")


def _reset_postgresql_schema(parsed: URL) -> None:
    engine = make_engine(parsed.set(drivername="postgresql+psycopg").render_as_string(False))
    try:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
    finally:
        engine.dispose()


def _reset_sqlite_file(parsed: URL) -> None:
    if not parsed.database or parsed.database == ":memory:":
        raise SystemExit("the SQLite benchmark needs a file database, e.g. sqlite:///bench.db")
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_sqlite_files(path)


def remove_sqlite_files(path: Path) -> None:
    """The database and the journal files SQLite keeps beside it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def plan_organisation(rng: random.Random, people: int) -> Organisation:
    """Teams of 35-65 drawn from a shuffled staff list, each with a field and targets.

    Shuffling means a team's members are scattered through the tables, as they are
    after years of hiring, rather than stored next to each other.
    """
    categories = tuple(CATALOGUE)
    skill_category = tuple(index for index, names in enumerate(CATALOGUE.values()) for _ in names)
    staff = list(range(1, people + 1))
    rng.shuffle(staff)
    team_sizes = _team_sizes(rng, people)
    team_of = [0] * people
    managers: list[int] = []
    start = 0
    for team_id, size in enumerate(team_sizes, start=1):
        members = staff[start : start + size]
        start += size
        managers.append(members[0])
        for person_id in members:
            team_of[person_id - 1] = team_id
    team_category = tuple(rng.randrange(len(categories)) for _ in team_sizes)
    targets = tuple(_team_targets(rng, category, skill_category) for category in team_category)
    return Organisation(
        categories=categories,
        skill_category=skill_category,
        team_category=team_category,
        team_of=tuple(team_of),
        managers=tuple(managers),
        targets=targets,
    )


def _team_sizes(rng: random.Random, people: int) -> list[int]:
    smallest, largest = TEAM_SIZE
    sizes: list[int] = []
    remaining = people
    while remaining > 0:
        size = min(remaining, rng.randint(smallest, largest))
        if remaining - size < smallest:
            size = remaining
        sizes.append(size)
        remaining -= size
    return sizes


def _team_targets(
    rng: random.Random, category: int, skill_category: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    own = [skill_id for skill_id, cat in enumerate(skill_category, start=1) if cat == category]
    others = [skill_id for skill_id, cat in enumerate(skill_category, start=1) if cat != category]
    count = rng.randint(*TARGETS_PER_TEAM)
    from_own = min(len(own), round(count * TARGETS_FROM_OWN_FIELD))
    chosen = rng.sample(own, from_own) + rng.sample(others, count - from_own)
    levels = rng.choices(LEVELS, weights=TARGET_LEVEL_WEIGHTS, k=count)
    return tuple(sorted(zip(chosen, levels, strict=True)))


def skill_rows(now: datetime) -> TableRows:
    rows = (
        (skill_id, name, name_key(name), category, "", False, now, now, 1)
        for skill_id, (category, name) in enumerate(
            ((category, name) for category, names in CATALOGUE.items() for name in names),
            start=1,
        )
    )
    columns = (
        "id",
        "name",
        "name_key",
        "category",
        "description",
        "deprecated",
        "created_at",
        "updated_at",
        "version",
    )
    return TableRows("skill", columns, rows)


def person_rows(rng: random.Random, org: Organisation, now: datetime) -> TableRows:
    managers = set(org.managers)

    def rows() -> Iterator[Row]:
        for person_id in range(1, len(org.team_of) + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            email = _email(first, last, person_id)
            role = "admin" if person_id == 1 else "manager" if person_id in managers else "member"
            active = person_id in managers or rng.random() >= INACTIVE_SHARE
            yield (person_id, name, name_key(name), email, role, active, None, False, now, now, 1)

    columns = (
        "id",
        "name",
        "name_key",
        "email",
        "role",
        "active",
        "password_hash",
        "must_change_password",
        "created_at",
        "updated_at",
        "version",
    )
    return TableRows("person", columns, rows())


def _email(first: str, last: str, person_id: int) -> str:
    """A unique ASCII address such as ``zoe.obrien.42@example.com``."""
    local = f"{first}.{last}".replace("'", "")
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return f"{ascii_local.lower()}.{person_id}@example.com"


def team_rows(org: Organisation, now: datetime) -> TableRows:
    rows = (
        (team_id, name, name_key(name), "", now, 1)
        for team_id, name in enumerate(
            (
                f"{org.categories[category]} {number:04d}"
                for number, category in enumerate(org.team_category, start=1)
            ),
            start=1,
        )
    )
    return TableRows(
        "team", ("id", "name", "name_key", "description", "created_at", "version"), rows
    )


def member_rows(org: Organisation) -> TableRows:
    managers = set(org.managers)
    rows = (
        (team_id, person_id, person_id in managers)
        for person_id, team_id in enumerate(org.team_of, start=1)
    )
    return TableRows("team_member", ("team_id", "person_id", "is_manager"), rows)


def target_rows(org: Organisation) -> TableRows:
    rows = (
        (team_id, skill_id, level)
        for team_id, targets in enumerate(org.targets, start=1)
        for skill_id, level in targets
    )
    return TableRows("team_target", ("team_id", "skill_id", "level"), rows)


def proficiency_rows(
    rng: random.Random, org: Organisation, per_person: int, today: date, now: datetime
) -> TableRows:
    """``per_person`` distinct skills each, favouring popular skills and one's own field."""
    popularity = _skill_popularity(rng, len(org.skill_category))
    cumulative = [
        _cumulative(
            [
                weight * (OWN_FIELD_BOOST if org.skill_category[index] == category else 1.0)
                for index, weight in enumerate(popularity)
            ]
        )
        for category in range(len(org.categories))
    ]
    skill_ids = range(1, len(org.skill_category) + 1)

    def rows() -> Iterator[Row]:
        for person_id, team_id in enumerate(org.team_of, start=1):
            team_field = org.team_category[team_id - 1]
            verifier = _verifier(org, person_id, team_id)
            for skill_id in _distinct_skills(rng, skill_ids, cumulative[team_field], per_person):
                own = org.skill_category[skill_id - 1] == team_field
                weights = OWN_FIELD_LEVEL_WEIGHTS if own else OTHER_LEVEL_WEIGHTS
                level = rng.choices(LEVELS, weights=weights)[0]
                expires_on = (
                    today + timedelta(days=rng.randint(*EXPIRY_DAYS))
                    if rng.random() < EXPIRING_SHARE
                    else None
                )
                verified = rng.random() < VERIFIED_SHARE
                yield (
                    person_id,
                    skill_id,
                    level,
                    rng.random() < INTERESTED_SHARE,
                    "",
                    expires_on,
                    verifier if verified else None,
                    now - timedelta(days=rng.randint(1, 700)) if verified else None,
                    now,
                    1,
                )

    columns = (
        "person_id",
        "skill_id",
        "level",
        "interested",
        "note",
        "expires_on",
        "verified_by_id",
        "verified_at",
        "updated_at",
        "version",
    )
    return TableRows("proficiency", columns, rows())


def _skill_popularity(rng: random.Random, count: int) -> list[float]:
    """Zipf-like weights over a shuffled catalogue: a few skills everyone has, a long tail."""
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    return [1.0 / rank**0.8 for rank in ranks]


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, result = 0.0, []
    for weight in weights:
        total += weight
        result.append(total)
    return result


def _distinct_skills(
    rng: random.Random, skill_ids: Sequence[int], cumulative: list[float], count: int
) -> list[int]:
    """Weighted sampling without replacement: draw with replacement and drop repeats."""
    chosen: dict[int, None] = {}
    while len(chosen) < count:
        for skill_id in rng.choices(skill_ids, cum_weights=cumulative, k=count * 2):
            chosen.setdefault(skill_id)
            if len(chosen) == count:
                break
    return sorted(chosen)


def _verifier(org: Organisation, person_id: int, team_id: int) -> int:
    """The team's manager verifies; a manager is verified by the next team's manager."""
    manager = org.managers[team_id - 1]
    if manager != person_id:
        return manager
    return org.managers[team_id % len(org.managers)]


def with_progress(rows: TableRows, every: int = PROGRESS_EVERY) -> TableRows:
    """Report every ``every`` rows, because the big table takes a while."""

    def counted() -> Iterator[Row]:
        start = time.perf_counter()
        for count, row in enumerate(rows.rows, start=1):
            if count % every == 0:
                progress(f"{rows.table}: {count:,} rows ({time.perf_counter() - start:.1f} s)")
            yield row

    return TableRows(rows.table, rows.columns, counted())


class PostgresCopyLoader:
    """Binary COPY FROM STDIN through psycopg 3, typed from the live table's columns.

    Binary COPY costs the client about a fifth of the CPU of text COPY, which
    matters because on two cores Python generating rows is the other half of the
    work.
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def load(self, rows: TableRows) -> int:
        statement = sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)").format(
            table=sql.Identifier(rows.table),
            columns=sql.SQL(", ").join(sql.Identifier(column) for column in rows.columns),
        )
        types = self._column_types(rows)
        count = 0
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows.rows:
                copy.write_row(row)
                count += 1
        return count

    def _column_types(self, rows: TableRows) -> list[str]:
        found = dict(
            self.connection.execute(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (rows.table,),
            ).fetchall()
        )
        return [found[column] for column in rows.columns]


@contextmanager
def constraints_deferred(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """Drop foreign keys and secondary indexes for the load, recreate them after.

    This is what pg_restore does, for the same reason: checking three foreign keys
    row by row and growing a second index in random order cost several times more
    than the COPY itself, while building the index once and validating each key with
    one join afterwards is quick. Primary keys and unique constraints stay, so the
    load still rejects duplicates. Everything runs in the load's transaction: if it
    fails, the schema is left as the migrations made it.
    """
    foreign_keys = connection.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ).fetchall()
    indexes = connection.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace AND NOT EXISTS ("
        "   SELECT 1 FROM pg_constraint k"
        "   WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))"
    ).fetchall()
    for table, name, _definition in foreign_keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    for name, _definition in indexes:
        connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    yield
    progress(f"rebuilding {len(indexes)} indexes and {len(foreign_keys)} foreign keys")
    for _name, definition in indexes:
        connection.execute(sql.SQL(definition))
    for table, name, definition in foreign_keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
            )
        )


class SqliteBatchLoader:
    """``executemany`` in large batches, with values converted as SQLAlchemy would.

    Going through the raw sqlite3 connection skips SQLAlchemy's per-row overhead; the
    bind processors of each column's type keep the stored format (timestamps, dates,
    booleans) exactly what the ORM writes and expects to read back.
    """

    def __init__(self, connection: sqlite3.Connection, engine: Engine) -> None:
        self.connection = connection
        self.engine = engine

    def load(self, rows: TableRows) -> int:
        columns = ", ".join(f'"{column}"' for column in rows.columns)
        marks = ", ".join("?" for _ in rows.columns)
        statement = f'INSERT INTO "{rows.table}" ({columns}) VALUES ({marks})'
        convert = self._converter(rows)
        count = 0
        batch: list[Row] = []
        for row in rows.rows:
            batch.append(convert(row))
            if len(batch) == SQLITE_BATCH:
                count += self._flush(statement, batch)
        return count + self._flush(statement, batch)

    def _flush(self, statement: str, batch: list[Row]) -> int:
        self.connection.executemany(statement, batch)
        flushed = len(batch)
        batch.clear()
        return flushed

    def _converter(self, rows: TableRows) -> Callable[[Row], Row]:
        dialect = self.engine.dialect
        table = Base.metadata.tables[rows.table]
        processors = [
            table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
            for column in rows.columns
        ]
        active = [(index, processor) for index, processor in enumerate(processors) if processor]

        def convert(row: Row) -> Row:
            values = list(row)
            for index, processor in active:
                if values[index] is not None:
                    values[index] = processor(values[index])
            return tuple(values)

        return convert


def organisation_tables(
    seed: int, people: int, per_person: int, today: date, now: datetime
) -> Iterator[TableRows]:
    """Every table's rows, parents first.

    Each table draws from its own generator seeded from ``seed`` and the table's
    name, so the data is reproducible whatever order the rows are consumed in.
    """

    def rng(stream: str) -> random.Random:
        return random.Random(f"{seed}:{stream}")

    org = plan_organisation(rng("organisation"), people)
    yield skill_rows(now)
    yield person_rows(rng("person"), org, now)
    yield team_rows(org, now)
    yield member_rows(org)
    yield target_rows(org)
    yield with_progress(proficiency_rows(rng("proficiency"), org, per_person, today, now))


def load_tables(loader: Loader, tables: Iterable[TableRows], report: GenerationReport) -> None:
    for rows in tables:
        start = time.perf_counter()
        count = loader.load(rows)
        elapsed = time.perf_counter() - start
        report.rows[rows.table] = count
        report.seconds[f"load {rows.table}"] = elapsed
        progress(f"{rows.table}: {count:,} rows loaded in {elapsed:.1f} s")


def load_postgresql(engine: Engine, tables: Iterable[TableRows], report: GenerationReport) -> None:
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, psycopg.Connection)
        with constraints_deferred(connection):
            load_tables(PostgresCopyLoader(connection), tables, report)
            rebuild_start = time.perf_counter()  # leaving the block rebuilds them
        report.seconds["indexes and keys"] = time.perf_counter() - rebuild_start
        connection.commit()
    finally:
        raw.close()
    count_dashboard_totals(engine, report)
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        search_index.rebuild(session)
    report.seconds["people search index"] = time.perf_counter() - start
    progress(f"people search index built in {report.seconds['people search index']:.1f} s")
    start = time.perf_counter()
    finish_postgresql(engine, [*report.rows, *DASHBOARD_TOTALS, PersonSearch.__tablename__])
    report.seconds["vacuum analyze, checkpoint"] = time.perf_counter() - start


def finish_postgresql(engine: Engine, tables: Sequence[str]) -> None:
    """Leave the database as a live one would be before anything is timed.

    The id sequences move past the loaded rows. ANALYZE gives the planner real
    statistics; VACUUM sets the visibility map, as autovacuum would on a live table,
    so index-only scans are judged fairly. Tables are named one by one: a bare VACUUM
    would walk, and wait on locks in, every other schema of a shared database.
    Finally a CHECKPOINT writes the load out now, rather than in the background
    while the first queries are being timed.
    """
    progress("vacuum analyze, checkpoint")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("person", "skill", "team"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
        names = ", ".join(f'"{BENCH_SCHEMA}"."{table}"' for table in tables)
        connection.execute(text(f"VACUUM (ANALYZE) {names}"))
        try:
            connection.execute(text("CHECKPOINT"))
        except DBAPIError:
            progress("no CHECKPOINT (needs superuser or pg_checkpoint); timings may be noisier")


DASHBOARD_TOTALS = tuple(
    model.__tablename__
    for model in (SkillLevelCount, SkillLevelDelta, CategoryCoverageCount, CategoryCoverageDelta)
)


def count_dashboard_totals(engine: Engine, report: GenerationReport) -> None:
    """Fill the dashboard's running totals from the loaded rows, as the service keeps them."""
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        summaries.rebuild(session, today=datetime.now(UTC).date())
    report.seconds["dashboard totals"] = time.perf_counter() - start
    progress(f"dashboard totals counted in {report.seconds['dashboard totals']:.1f} s")


def load_sqlite(engine: Engine, tables: Iterable[TableRows], report: GenerationReport) -> None:
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        # A large page cache keeps the two proficiency indexes in memory while they grow.
        connection.execute("PRAGMA cache_size = -262144")
        load_tables(SqliteBatchLoader(connection, engine), tables, report)
        connection.commit()
    finally:
        raw.close()
    count_dashboard_totals(engine, report)
    with engine.connect() as checkpoint:
        checkpoint.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def generate(
    url: str,
    *,
    people: int = DEFAULT_PEOPLE,
    per_person: int = DEFAULT_PER_PERSON,
    seed: int = DEFAULT_SEED,
) -> GenerationReport:
    """Recreate the schema at ``url`` and fill it; returns what was loaded and how fast."""
    skills = sum(len(names) for names in CATALOGUE.values())
    if not 1 <= per_person <= skills:
        raise SystemExit(f"--per-person must be between 1 and {skills}")
    if people < 1:
        raise SystemExit("--people must be at least 1")
    target = bench_url(url)
    report = GenerationReport()
    progress(f"target {redacted(target)}: {people:,} people x {per_person} proficiencies")
    start = time.perf_counter()
    reset_database(url)
    engine = make_engine(target)
    try:
        upgrade(engine)
        report.seconds["schema"] = time.perf_counter() - start
        now = datetime.now(UTC)
        tables = organisation_tables(seed, people, per_person, now.date(), now)
        if is_postgresql(target):
            load_postgresql(engine, tables, report)
        else:
            load_sqlite(engine, tables, report)
    finally:
        engine.dispose()
    progress(f"done in {report.total_seconds:.1f} s")
    return report


def default_url() -> str | None:
    return os.environ.get(URL_ENV)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url", default=default_url(), help=f"SQLAlchemy URL (default: ${URL_ENV})"
    )
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--per-person", type=int, default=DEFAULT_PER_PERSON)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error(f"give --database-url or set {URL_ENV}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = generate(
        args.database_url, people=args.people, per_person=args.per_person, seed=args.seed
    )
    for table, count in report.rows.items():
        print(f"{table}\t{count}")
    print(f"seconds\t{report.total_seconds:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
