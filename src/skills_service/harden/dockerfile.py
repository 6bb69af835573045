"""Hardening rules for a Dockerfile.

The file is split into instructions the way BuildKit reads it: parser directives
(``# escape=``), comments, line continuations and heredocs. The user and the
health check are judged on the final stage, following ``FROM <earlier stage>``
back to the stage that defines them. ``--write`` makes one edit only: a final
stage without any ``USER`` gets ``USER 10001`` appended. Everything else changes
what the build does and is left to a person.

Whether a health check's ``curl`` or ``wget`` exists is a heuristic: the base
images listed in ``_MINIMAL_IMAGES`` are known to lack them, and a tool counts as
present when a stage of the final image installs it (``apt-get``/``apt``,
``apk``, ``dnf``/``microdnf``/``yum``, ``zypper``) or copies a file of that name.
Any other base image is given the benefit of the doubt.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from skills_service.harden.findings import Finding, HardenError

USER = "dockerfile-user"
HEALTHCHECK = "dockerfile-healthcheck"
HEALTHCHECK_TOOL = "dockerfile-healthcheck-tool"
BASE_PINNED = "dockerfile-base-pinned"
ADD_URL = "dockerfile-add-url"
NO_RECOMMENDS = "dockerfile-apt-no-recommends"

RULES = (USER, HEALTHCHECK, HEALTHCHECK_TOOL, BASE_PINNED, ADD_URL, NO_RECOMMENDS)

DEFAULT_USER = "10001"
HEALTHCHECK_TOOLS = frozenset({"curl", "wget"})
PACKAGE_MANAGERS = frozenset({"apt-get", "apt", "apk", "dnf", "microdnf", "yum", "zypper"})

_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\S*)\s*")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_SEGMENT_SEPARATOR = re.compile(r"&&|\|\||[;|\n]")
_SHELL_WORD = re.compile(r"[^\s;&|()'\"`]+")
_REMOTE = re.compile(r"(?:https?|git)://|git@", re.IGNORECASE)
_NO_RECOMMENDS_OPTION = re.compile(r"APT::Install-Recommends=(?:false|0)['\"]?", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    """One instruction: continuations joined, heredoc bodies appended after newlines."""

    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    line: int
    parent: Stage | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    instructions: list[Instruction] = field(default_factory=list)

    def chain(self) -> Iterator[Stage]:
        """This stage, then the earlier stages it is built ``FROM``."""
        stage: Stage | None = self
        while stage is not None:
            yield stage
            stage = stage.parent

    @property
    def base_image(self) -> str:
        """The external image at the root of the chain."""
        return list(self.chain())[-1].image


def audit(text: str) -> list[Finding]:
    """Every finding in a Dockerfile."""
    stages = parse_stages(text)
    final = stages[-1]
    findings = [
        *_base_pinned(stages),
        *_user(final, appendable=_ends_cleanly(text)),
        *_healthcheck(final),
    ]
    for stage in stages:
        for instruction in stage.instructions:
            findings.extend(_add_url(instruction))
            findings.extend(_no_recommends(instruction))
    return sorted(findings, key=lambda finding: finding.line or 0)


def fix(text: str) -> str:
    """Append ``USER 10001`` when the final stage sets no user; nothing else is changed."""
    if not any(finding.rule == USER and finding.fixable for finding in audit(text)):
        return text
    return _with_user(text)


def _with_user(text: str) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    separator = "" if not text or text.endswith(("\n", "\r")) else newline
    return f"{text}{separator}USER {DEFAULT_USER}{newline}"


def _ends_cleanly(text: str) -> bool:
    """Whether an appended line is an instruction of its own (no open continuation or heredoc)."""
    last = parse_instructions(_with_user(text))[-1]
    return (last.keyword, last.arguments) == ("USER", DEFAULT_USER)


# Parsing


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions with their first line; comments and parser directives left out."""
    lines = text.splitlines()
    escape = "\\"
    index = 0
    while index < len(lines) and (directive := _DIRECTIVE.fullmatch(lines[index].strip())):
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        index += 1
    instructions: list[Instruction] = []
    while index < len(lines):
        start = index
        logical, index = _logical_line(lines, index, escape)
        if not logical:
            continue
        keyword, _, arguments = logical.partition(" ")
        keyword = keyword.upper()
        if keyword in {"RUN", "COPY", "ADD"}:
            for strip_tabs, _, delimiter in _HEREDOC.findall(arguments):
                body, index = _heredoc(lines, index, delimiter, strip_tabs=bool(strip_tabs))
                arguments = f"{arguments}\n{body}"
        instructions.append(Instruction(keyword, arguments.strip(), start + 1))
    return instructions


def _logical_line(lines: list[str], index: int, escape: str) -> tuple[str, int]:
    """Join one instruction's continuation lines; comment and blank lines inside are dropped."""
    parts: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            if parts:
                continue
            return "", index
        body = line.rstrip()
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        break
    return "".join(parts).strip().replace("\t", " "), index


def _heredoc(lines: list[str], index: int, delimiter: str, *, strip_tabs: bool) -> tuple[str, int]:
    body: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        if (line.lstrip("\t") if strip_tabs else line).rstrip() == delimiter:
            break
        body.append(line)
    return "\n".join(body), index


def parse_stages(text: str) -> list[Stage]:
    """The build stages; ``HardenError`` when there is no ``FROM``."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in parse_instructions(text):
        if instruction.keyword == "FROM":
            stages.append(_stage(instruction, global_args, stages))
        elif not stages:
            if instruction.keyword == "ARG":
                global_args.update(_assignments(instruction.arguments, global_args))
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise HardenError("not a Dockerfile: no FROM instruction")
    return stages


def _stage(instruction: Instruction, global_args: Mapping[str, str], earlier: list[Stage]) -> Stage:
    words = [word for word in instruction.arguments.split() if not word.startswith("--")]
    if not words:
        raise HardenError(f"line {instruction.line}: FROM without an image")
    image = expand(words[0], global_args)
    name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    parent = next(
        (stage for stage in reversed(earlier) if (stage.name or "").lower() == image.lower()),
        None,
    )
    return Stage(
        image=image, name=name, line=instruction.line, parent=parent, build_args=dict(global_args)
    )


def _assignments(arguments: str, known: Mapping[str, str]) -> dict[str, str]:
    """``NAME=value`` pairs of an ARG or ENV (and ENV's legacy ``NAME value``)."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        return {}
    if words and "=" not in words[0]:
        if len(words) > 1:
            return {words[0]: expand(" ".join(words[1:]), known)}
        return {words[0]: known[words[0]]} if words[0] in known else {}
    pairs = (word.partition("=") for word in words if "=" in word)
    return {name: expand(value, known) for name, _, value in pairs}


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Substitute the build arguments and environment that have a known value."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        operator, word = match.group(2), match.group(3)
        if operator == "+":
            return word if value else ""
        if operator == "-" and not value:
            return word
        return match.group(0) if value is None else value

    return _VARIABLE.sub(substitute, text)


def _variables(stage: Stage) -> dict[str, str]:
    """ARG and ENV values along the chain, oldest first (a stage sees global ARGs it redeclares)."""
    variables: dict[str, str] = {}
    for member in reversed(list(stage.chain())):
        for instruction in member.instructions:
            if instruction.keyword in {"ARG", "ENV"}:
                known = {**member.build_args, **variables}
                variables.update(_assignments(instruction.arguments, known))
    return variables


# Rules


def _base_pinned(stages: list[Stage]) -> Iterator[Finding]:
    for stage in stages:
        image = stage.image
        where = f"FROM {image}"
        if stage.parent is not None or image.lower() == "scratch":
            continue
        if "$" in image:
            yield Finding(
                BASE_PINNED, where, "the base image is an unresolved variable", stage.line
            )
            continue
        if "@" in image:
            continue
        tag = _tag(image)
        if tag is None:
            message = "no tag means whatever latest is today; pin a version (or a digest)"
            yield Finding(BASE_PINNED, where, message, stage.line)
        elif tag == "latest":
            yield Finding(BASE_PINNED, where, "latest is not a version; pin one", stage.line)


def _tag(image: str) -> str | None:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _last(stage: Stage, keyword: str) -> Instruction | None:
    for member in stage.chain():
        for instruction in reversed(member.instructions):
            if instruction.keyword == keyword:
                return instruction
    return None


def _user(final: Stage, *, appendable: bool) -> Iterator[Finding]:
    instruction = _last(final, "USER")
    if instruction is None:
        if "nonroot" not in (_tag(final.base_image) or ""):
            yield Finding(
                USER,
                "final stage",
                f"no USER, so the container runs as the base image's user (usually root); "
                f"add USER {DEFAULT_USER} (a numeric non-root user)",
                final.line,
                fixable=appendable,
            )
        return
    user = expand(instruction.arguments, _variables(final)).split(":", 1)[0].strip()
    if user in {"root", "0"}:
        yield Finding(
            USER,
            f"USER {instruction.arguments}",
            "the final user is root; switch to a numeric non-root user",
            instruction.line,
        )


def _healthcheck(final: Stage) -> Iterator[Finding]:
    instruction = _last(final, "HEALTHCHECK")
    if instruction is None or instruction.arguments.upper() == "NONE":
        yield Finding(
            HEALTHCHECK,
            "final stage",
            "no HEALTHCHECK: the engine cannot tell a hung container from a healthy one",
            instruction.line if instruction else final.line,
        )
        return
    words = [word for word in instruction.arguments.split(" ") if word]
    while words and words[0].startswith("--"):
        words.pop(0)
    if not words or words[0].upper() != "CMD":
        return
    command = " ".join(words[1:])
    exec_form = _exec_form(command)
    where = "HEALTHCHECK"
    base = final.base_image
    missing = _missing_tools(base)
    if exec_form is None and "sh" in missing:
        yield Finding(
            HEALTHCHECK_TOOL,
            where,
            f"the shell form runs /bin/sh, which {base} does not have; use the exec form",
            instruction.line,
        )
    used = {
        PurePosixPath(word).name
        for word in (_SHELL_WORD.findall(command) if exec_form is None else exec_form)
    }
    present = _installed(final)
    for tool in sorted((used & HEALTHCHECK_TOOLS & missing) - present):
        yield Finding(
            HEALTHCHECK_TOOL,
            where,
            f"{tool} is not in {base} and no stage of the image installs it; "
            f"check with the runtime itself (e.g. python -c with urllib)",
            instruction.line,
        )


def _exec_form(command: str) -> list[str] | None:
    if not command.startswith("["):
        return None
    try:
        words = json.loads(command)
    except ValueError:
        return None
    if isinstance(words, list) and all(isinstance(word, str) for word in words):
        return [part for word in words for part in word.split()]
    return None


# Base images known to lack a tool, as (pattern on "repository:tag", what it lacks).
# Alpine's busybox has wget but no curl; distroless "debug" tags add a busybox shell.
_MINIMAL_IMAGES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"scratch"), frozenset({"curl", "wget", "sh"})),
    (re.compile(r".*distroless.*:.*debug.*"), frozenset({"curl"})),
    (re.compile(r".*(distroless|cgr\.dev/chainguard).*"), frozenset({"curl", "wget", "sh"})),
    (re.compile(r"(.*/)?alpine(:.*)?|.*:.*alpine.*"), frozenset({"curl"})),
    (re.compile(r".*:.*slim.*|(.*/)?(debian|ubuntu)(:.*)?"), frozenset({"curl", "wget"})),
)


def _missing_tools(image: str) -> frozenset[str]:
    reference = image.split("@", 1)[0].lower()
    for pattern, lacks in _MINIMAL_IMAGES:
        if pattern.fullmatch(reference):
            return lacks
    return frozenset()


def _installed(final: Stage) -> set[str]:
    """Names of packages installed, or files copied in, by the stages of the final image."""
    names: set[str] = set()
    for stage in final.chain():
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                for segment in _SEGMENT_SEPARATOR.split(instruction.arguments):
                    words = segment.split()
                    if PACKAGE_MANAGERS & set(words) and {"install", "add"} & set(words):
                        names.update(re.split(r"[=~<>]", word, maxsplit=1)[0] for word in words)
            elif instruction.keyword in {"COPY", "ADD"}:
                names.update(PurePosixPath(word).name for word in instruction.arguments.split())
    return names


def _add_url(instruction: Instruction) -> Iterator[Finding]:
    if instruction.keyword != "ADD":
        return
    words = _exec_form(instruction.arguments) or instruction.arguments.split()
    checksum = any(word.startswith("--checksum=") for word in words)
    sources = [word for word in words if not word.startswith("--")][:-1]
    for source in sources:
        if not _REMOTE.match(source):
            continue
        if checksum and source.lower().startswith(("http://", "https://")):
            continue
        yield Finding(
            ADD_URL,
            f"ADD {source}",
            "fetches a remote file unverified at build time; download and check it in a RUN "
            "(or use ADD --checksum=sha256:...)",
            instruction.line,
        )


def _no_recommends(instruction: Instruction) -> Iterator[Finding]:
    if instruction.keyword != "RUN":
        return
    for segment in _SEGMENT_SEPARATOR.split(instruction.arguments):
        words = segment.split()
        installs = "install" in words and {"apt-get", "apt"} & set(words)
        if not installs:
            continue
        if "--no-install-recommends" in words or _NO_RECOMMENDS_OPTION.search(segment):
            continue
        yield Finding(
            NO_RECOMMENDS,
            "RUN " + " ".join(words[:4]) + (" ..." if len(words) > 4 else ""),
            "apt installs recommended packages too; add --no-install-recommends",
            instruction.line,
        )
