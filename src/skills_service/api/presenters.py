"""Shape domain objects for the API, hiding private fields the principal may not see."""

from __future__ import annotations

from datetime import date
from typing import Any

from skills_service import policy
from skills_service.models import Person, Proficiency
from skills_service.policy import Action, PersonTarget, Principal
from skills_service.services.proficiencies import is_expired


def person_body(person: Person, team_ids: list[int], principal: Principal | None) -> dict[str, Any]:
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
        "expires_on": proficiency.expires_on,
        "expired": is_expired(proficiency, today),
        "verified_by": proficiency.verified_by_id,
        "verified_at": proficiency.verified_at,
    }
