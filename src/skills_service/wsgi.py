"""The WSGI entry point for gunicorn: ``skills_service.wsgi:app``."""

from __future__ import annotations

import sys

from skills_service import create_app
from skills_service.settings import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.stderr.write(f"error: {exc}\n")
    sys.exit(2)
