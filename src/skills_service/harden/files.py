"""The file system side of ``harden``: what kind a file is, reading it, fixing it in place.

A fix is written only when it changes the text, after a copy of the original is
kept next to it (``NAME.bak``, or ``NAME.bak.1``, ``NAME.bak.2``... when that
exists: an earlier backup is never overwritten). The new text goes to a temporary
file in the same directory that then replaces the original, so a crash leaves the
old file or the new one, never half of each.
"""

from __future__ import annotations

import enum
import os
import re
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skills_service.harden import compose, daemon, dockerfile
from skills_service.harden.findings import Finding, HardenError

MAX_BACKUPS = 100

_COMPOSE_NAME = re.compile(r"(?:docker-)?compose(?:\.[\w-]+)*\.ya?ml", re.IGNORECASE)
_YAML_NAME = re.compile(r".*\.ya?ml", re.IGNORECASE)
_BACKUP_NAME = re.compile(r"\.bak(?:\.\d+)?$")


class Kind(enum.Enum):
    COMPOSE = "compose file"
    DOCKERFILE = "Dockerfile"
    DAEMON = "daemon.json"


_AUDITS: dict[Kind, Callable[[str], list[Finding]]] = {
    Kind.COMPOSE: compose.audit,
    Kind.DOCKERFILE: dockerfile.audit,
    Kind.DAEMON: daemon.audit,
}
_FIXES: dict[Kind, Callable[[str], str]] = {
    Kind.COMPOSE: compose.fix,
    Kind.DOCKERFILE: dockerfile.fix,
    Kind.DAEMON: daemon.fix,
}


@dataclass(frozen=True)
class Target:
    """A file read and audited: its kind, its text and what is wrong with it."""

    path: Path
    kind: Kind
    text: str
    findings: list[Finding]


@dataclass(frozen=True)
class FixResult:
    target: Target
    backup: Path | None
    remaining: list[Finding]

    @property
    def fixed(self) -> int:
        return len(self.target.findings) - len(self.remaining)


def kind_by_name(name: str) -> Kind | None:
    """The kind a file's name alone gives it, if any."""
    lowered = name.lower()
    if lowered == "daemon.json":
        return Kind.DAEMON
    if (
        lowered == "dockerfile"
        or lowered.endswith(".dockerfile")
        or (lowered.startswith("dockerfile.") and not lowered.endswith(".dockerignore"))
    ):
        return Kind.DOCKERFILE
    if _COMPOSE_NAME.fullmatch(name):
        return Kind.COMPOSE
    return None


def kind_of(path: Path, text: str) -> Kind:
    """The kind of a file by its name, or for other YAML by a ``services`` mapping."""
    by_name = kind_by_name(path.name)
    if by_name is not None:
        return by_name
    if _YAML_NAME.fullmatch(path.name) and compose.is_compose(text):
        return Kind.COMPOSE
    raise HardenError(
        "not a file harden knows: expected a compose file (compose.yaml, docker-compose.yml "
        "or YAML with services:), a Dockerfile (Dockerfile, *.Dockerfile, Dockerfile.*) "
        "or daemon.json"
    )


def files_in(directory: Path) -> list[Path]:
    """The files of ``directory`` itself that harden knows by name, sorted; at least one.

    Subdirectories are not entered: a tree holds copies, fixtures and vendored files
    that are not the deployment's own, so each directory to check is named. Hidden
    files and harden's own backups (``NAME.bak``, ``NAME.bak.N``) are left out, so a
    ``--write`` does not make the next run audit the originals it kept. A directory
    with none of them is an error, so that a mistyped path never passes a check.
    """
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise HardenError(f"cannot read it: {exc.strerror or exc}") from exc
    known = [
        entry
        for entry in entries
        if not entry.name.startswith(".")
        and not _BACKUP_NAME.search(entry.name)
        and kind_by_name(entry.name) is not None
        and entry.is_file()
    ]
    if not known:
        raise HardenError("no file harden knows in this directory")
    return known


def load(path: Path) -> Target:
    """Read and audit a file; ``HardenError`` says why it cannot be."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HardenError("not UTF-8 text") from exc
    except OSError as exc:
        raise HardenError(f"cannot read it: {exc.strerror or exc}") from exc
    kind = kind_of(path, text)
    return Target(path=path, kind=kind, text=text, findings=_AUDITS[kind](text))


def fix(target: Target) -> FixResult:
    """Fix what can be fixed safely, keeping a backup; a clean file is not touched."""
    fixed = _FIXES[target.kind](target.text)
    if fixed == target.text:
        return FixResult(target, None, target.findings)
    remaining = _AUDITS[target.kind](fixed)
    path = target.path.resolve()
    try:
        if path.read_bytes() != target.text.encode("utf-8"):
            raise HardenError("the file changed while it was being checked; run again")
        backup = _backup(path, target.text)
        _replace(path, fixed)
    except OSError as exc:
        raise HardenError(f"cannot write it: {exc.strerror or exc}") from exc
    if not target.path.is_symlink():
        backup = target.path.with_name(backup.name)
    return FixResult(target, backup, remaining)


def _backup(path: Path, text: str) -> Path:
    for number in range(MAX_BACKUPS):
        candidate = path.with_name(f"{path.name}.bak" + (f".{number}" if number else ""))
        try:
            with candidate.open("x", encoding="utf-8", newline="") as out:
                out.write(text)
        except FileExistsError:
            continue
        os.chmod(candidate, stat.S_IMODE(path.stat().st_mode))
        return candidate
    raise HardenError(f"{MAX_BACKUPS} backups exist already; remove old ones")


def _replace(path: Path, text: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
