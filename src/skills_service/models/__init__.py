"""Every model, imported here so the metadata is complete for migrations."""

from __future__ import annotations

from skills_service.models.account import RecoveryCode, WebSession
from skills_service.models.audit import AuditEvent, AuditHead
from skills_service.models.base import Base
from skills_service.models.person import Person
from skills_service.models.proficiency import Proficiency, ProficiencyChange
from skills_service.models.search import PersonSearch
from skills_service.models.skill import Skill, SkillAlias
from skills_service.models.team import Team, TeamMember, TeamTarget
from skills_service.models.token import ApiToken

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Person",
    "PersonSearch",
    "Proficiency",
    "ProficiencyChange",
    "RecoveryCode",
    "Skill",
    "SkillAlias",
    "Team",
    "TeamMember",
    "TeamTarget",
    "WebSession",
]
