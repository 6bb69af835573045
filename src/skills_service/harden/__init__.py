"""Audit and fix the container hardening of a compose file, a Dockerfile and daemon.json.

The rules are pure functions over a file's text, one module per kind of file
(``compose``, ``dockerfile``, ``daemon``); ``files`` is the only module that reads
or writes the file system. No Flask here: ``skills-service harden`` needs neither
the app nor its configuration.
"""

from __future__ import annotations

from skills_service.harden.files import FixResult, Kind, Target, files_in, fix, load
from skills_service.harden.findings import Finding, HardenError, format_table

__all__ = [
    "Finding",
    "FixResult",
    "HardenError",
    "Kind",
    "Target",
    "files_in",
    "fix",
    "format_table",
    "load",
]
