"""Every model, imported here so the metadata is complete for migrations."""

from __future__ import annotations

from skills_service.models.account import RecoveryCode, WebSession
from skills_service.models.audit import AuditEvent, AuditHead
from skills_service.models.base import Base
from skills_service.models.dashboard import (
    CategoryCoverageCount,
    CategoryCoverageDelta,
    SkillLevelCount,
    SkillLevelDelta,
)
from skills_service.models.data_version import DataVersion
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
    "CategoryCoverageCount",
    "CategoryCoverageDelta",
    "DataVersion",
    "Person",
    "PersonSearch",
    "Proficiency",
    "ProficiencyChange",
    "RecoveryCode",
    "Skill",
    "SkillAlias",
    "SkillLevelCount",
    "SkillLevelDelta",
    "Team",
    "TeamMember",
    "TeamTarget",
    "WebSession",
]
