"""The extension singletons, bound to an app by ``create_app``; nothing else."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

from skills_service.database import Database

db = Database()
csrf = CSRFProtect()
