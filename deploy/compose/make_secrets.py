"""Create the secret files that compose.yaml mounts, with random values.

Usage: python3 deploy/compose/make_secrets.py [DIRECTORY]  (default: beside this file)

Existing secrets are kept, so running it again changes nothing; the URLs and the
Redis ACL are written again from the passwords they contain. Both Redis instances
(sessions and counters, and the chart cache) read the same ACL file. The directory is
readable by its owner only. The files themselves are readable by everyone who can
reach them, because compose bind-mounts them as they are and each container reads
them as its own user (10001 for the app, 999 for PostgreSQL and Redis).
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from pathlib import Path

RANDOM_SECRETS = {
    "secret_key": 48,
    "metrics_token": 32,
    "oidc_client_secret": 32,
    "postgres_password": 32,
    "redis_password": 32,
}


def write(path: Path, content: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(content, encoding="utf-8")
    partial.chmod(0o644)
    partial.replace(path)


def make_secrets(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    values: dict[str, str] = {}
    for name, size in RANDOM_SECRETS.items():
        path = directory / name
        if not path.exists() or not path.read_text(encoding="utf-8").strip():
            write(path, secrets.token_urlsafe(size) + "\n")
        values[name] = path.read_text(encoding="utf-8").strip()
    postgres, redis = values["postgres_password"], values["redis_password"]
    write(
        directory / "database_url",
        f"postgresql+psycopg://skills:{postgres}@postgres:5432/skills\n",
    )
    write(directory / "redis_url", f"redis://skills:{redis}@redis:6379/0\n")
    write(directory / "cache_redis_url", f"redis://skills:{redis}@redis-cache:6379/0\n")
    redis_hash = hashlib.sha256(redis.encode()).hexdigest()
    write(
        directory / "redis_acl",
        "user default off resetpass -@all\n"
        "user healthcheck on nopass -@all +ping\n"
        f"user skills on #{redis_hash} ~* &* +@all\n",
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "secrets"
    make_secrets(target)
    sys.stdout.write(f"secrets in {target}\n")
