"""A small organisation built through the services, for API and policy tests."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from skills_service.extensions import db
from skills_service.services import proficiencies, skills, teams
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import Actor, MakeActor


@dataclass(frozen=True)
class World:
    """``subject`` is a member of ``team_id``, which ``manager`` manages."""

    viewer: Actor
    member: Actor
    manager: Actor
    admin: Actor
    subject: Actor
    skill_id: int
    team_id: int

    def by_role(self, role: str) -> Actor:
        actor: Actor = getattr(self, role)
        return actor


def build_world(app: Flask, make_actor: MakeActor) -> World:
    viewer, member = make_actor("viewer"), make_actor("member")
    manager, admin = make_actor("manager"), make_actor("admin")
    subject = make_actor("member", name="Subject Person")
    with app.app_context():
        session = db.session
        with session.begin():
            skill = skills.create_skill(session, name="Python", category="Languages")
            team = teams.create_team(session, name="Platform")
            teams.add_member(
                session,
                team_id=team.id,
                person_id=manager.person_id,
                is_manager=True,
                if_match=None,
            )
            teams.add_member(
                session,
                team_id=team.id,
                person_id=subject.person_id,
                is_manager=False,
                if_match=None,
            )
            proficiencies.upsert_proficiency(
                session,
                person_id=subject.person_id,
                skill_id=skill.id,
                data=ProficiencyInput(level=3, note="private note"),
                actor_id=subject.person_id,
                if_match=None,
            )
        return World(viewer, member, manager, admin, subject, skill.id, team.id)
