"""Shape domain objects for the API, hiding private fields the principal may not see.

Each function makes the body its schema documents, as plain JSON values: exactly what
the schema's ``dump`` made of the same object (dates and times as ``isoformat()``
writes them, as marshmallow's ``Date`` and ``DateTime`` fields do), so that views send
it without a marshmallow dump (``api.base.Blueprint``). ``tests/unit/test_presenters.py``
compares every one with its schema.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from skills_service import policy
from skills_service.models import AuditEvent, Person, Proficiency, ProficiencyChange, Team
from skills_service.policy import Action, PersonTarget, Principal
from skills_service.services.diagnostics import PingResult
from skills_service.services.matrix_import import ImportReport
from skills_service.services.proficiencies import is_expired
from skills_service.services.search import PersonEntry
from skills_service.services.skills import SkillEntry
from skills_service.services.teams import Gap


def _iso(moment: date | datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def skill_body(skill: SkillEntry) -> dict[str, Any]:
    return {
        "id": skill.id,
        "name": skill.name,
        "category": skill.category,
        "description": skill.description,
        "aliases": list(skill.aliases),
        "deprecated": skill.deprecated,
    }


def person_body(
    person: Person | PersonEntry, team_ids: list[int], principal: Principal | None
) -> dict[str, Any]:
    target = PersonTarget(person_id=person.id, team_ids=frozenset(team_ids))
    private = policy.allows(principal, Action.READ_PRIVATE, target)
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email if private else None,
        "role": person.role,
        "active": person.active,
        "teams": team_ids,
    }


def proficiency_body(proficiency: Proficiency, *, private: bool, today: date) -> dict[str, Any]:
    return {
        "skill_id": proficiency.skill_id,
        "level": proficiency.level,
        "interested": proficiency.interested,
        "note": proficiency.note if private else None,
        "expires_on": _iso(proficiency.expires_on),
        "expired": is_expired(proficiency, today),
        "verified_by": proficiency.verified_by_id,
        "verified_at": _iso(proficiency.verified_at),
    }


def proficiency_change_body(change: ProficiencyChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "skill_id": change.skill_id,
        "action": change.action,
        "level": change.level,
        "interested": change.interested,
        "expires_on": _iso(change.expires_on),
        "verified_by": change.verified_by_id,
        "changed_by": change.changed_by_id,
        "changed_at": _iso(change.changed_at),
    }


def team_body(team: Team) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "description": team.description}


def gap_body(gap: Gap) -> dict[str, Any]:
    return {
        "skill_id": gap.skill_id,
        "skill_name": gap.skill_name,
        "target_level": gap.target_level,
        "members": gap.members,
        "meeting_target": gap.meeting_target,
        "shortfall": gap.shortfall,
        "missing_levels": gap.missing_levels,
    }


def audit_event_body(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": _iso(event.occurred_at),
        "actor_id": event.actor_id,
        "credential": event.credential,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "address": event.address,
        "request_id": event.request_id,
        "hash": event.hash,
    }


def import_report_body(report: ImportReport) -> dict[str, Any]:
    return {
        "people_created": report.people_created,
        "people_updated": report.people_updated,
        "people_unchanged": report.people_unchanged,
        "proficiencies_set": report.proficiencies_set,
        "proficiencies_unchanged": report.proficiencies_unchanged,
        "verifications_cleared": report.verifications_cleared,
        "cleared_verifications": [
            {"line": cleared.line, "email": cleared.email, "skill": cleared.skill}
            for cleared in report.cleared_verifications
        ],
        "lines": report.lines,
    }


def ping_body(result: PingResult) -> dict[str, Any]:
    return {"ip": result.ip, "reachable": result.reachable, "rtt_ms": result.rtt_ms}
