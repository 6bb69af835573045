"""Time the CSV import of the largest accepted file: created, re-imported unchanged, changed.

A long-layout file of ``--lines`` distinct people, one proficiency each (level, interest,
a note with a comma, an expiry), goes through ``matrix_import.import_csv`` three times
in a fresh database: every person new, every line unchanged, every level changed (so
every row is updated and audited). Each run is one transaction, as in a request.

Usage::

    .venv/bin/python bench/import_matrix.py --lines 25000 --database-url sqlite:////tmp/import.db
    .venv/bin/python bench/import_matrix.py --lines 25000 \\
        --database-url "postgresql+psycopg://postgres@127.0.0.1/test?options=-csearch_path%3Dimport_bench"

PostgreSQL needs the schema named in ``search_path`` to exist and be empty.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from skills_service import create_app, migrations
from skills_service.database import make_engine
from skills_service.extensions import db
from skills_service.services import matrix_import, skills
from skills_service.settings import Settings

SKILLS = ("Python", "SQL", "Go")


def long_file(lines: int, level_shift: int) -> str:
    rows = [
        f"p{number}@example.org,Person {number},member,{SKILLS[number % 3]},"
        f'{(number + level_shift) % 5 + 1},yes,"note, number {number}",2030-01-01'
        for number in range(lines)
    ]
    return "email,name,role,skill,level,interested,note,expires_on\r\n" + "\r\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=Settings().import_max_lines)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    migrations.upgrade(engine)
    engine.dispose()
    settings = Settings(
        env="development",
        secret_key=secrets.token_urlsafe(32),
        database_url=args.database_url,
        instance_path=Path(tempfile.mkdtemp()),
        log_level="WARNING",
    )
    app = create_app(settings)
    with app.app_context():
        session = db.session
        with session.begin():
            for name in SKILLS:
                skills.create_skill(session, name=name, category="Engineering")
        runs = (("created", 0), ("unchanged", 0), ("levels changed", 1))
        for label, shift in runs:
            text = long_file(args.lines, shift)
            started = time.perf_counter()
            with session.begin():
                report = matrix_import.import_csv(
                    session, text, actor_id=None, max_lines=args.lines
                )
            elapsed = time.perf_counter() - started
            print(
                f"{label:>15}: {elapsed:6.2f} s  ({report.people_created} people created, "
                f"{report.proficiencies_set} proficiencies set, "
                f"{report.proficiencies_unchanged} unchanged)",
                flush=True,
            )
            session.expunge_all()


if __name__ == "__main__":
    main()
