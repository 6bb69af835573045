"""What a rule reports, and the table ``skills-service harden`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class HardenError(Exception):
    """A file that cannot be audited: unreadable, of an unknown kind or not parseable."""


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``where`` names the part of the file, ``line`` is 1-based."""

    rule: str
    where: str
    message: str
    line: int | None = None
    fixable: bool = False

    @property
    def text(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


HEADERS = ("LOCATION", "RULE", "FIXABLE", "MESSAGE")


def format_table(rows: Sequence[tuple[str, Finding]]) -> list[str]:
    """Lines of an aligned table of ``(file name, finding)`` rows, headers first."""
    cells = [
        (
            f"{name}:{finding.line}" if finding.line is not None else name,
            finding.rule,
            "yes" if finding.fixable else "no",
            finding.text,
        )
        for name, finding in rows
    ]
    widths = [max(len(row[column]) for row in [HEADERS, *cells]) for column in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in [HEADERS, *cells]
    ]
