"""Teams, membership, target levels and gap analysis.

A team, its members and its targets form one aggregate with one version: every
change to any of them bumps it, so one ETag guards them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVarTuple, cast

from sqlalchemy import Row, Select, and_, case, func, select, update
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from skills_service.models import Person, Proficiency, Skill, Team, TeamMember, TeamTarget
from skills_service.services.common import Page, check_version, clean_text, name_key
from skills_service.services.people import get_person
from skills_service.services.search import counts_on

NAME_MAX = 64
DESCRIPTION_MAX = 2000
MAX_TARGETS = 200


@dataclass(frozen=True)
class MemberRow:
    person: Person
    is_manager: bool


@dataclass(frozen=True)
class Gap:
    skill_id: int
    skill_name: str
    target_level: int
    members: int
    meeting_target: int
    shortfall: int
    missing_levels: int


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"Team {team_id} does not exist.")
    return team


def teams_by_id(session: Session, team_ids: Sequence[int]) -> Sequence[Team]:
    """The teams with these ids, by name, in one query."""
    return session.scalars(select(Team).where(Team.id.in_(team_ids)).order_by(Team.name_key)).all()


def list_teams(session: Session, *, page: int, limit: int, text: str | None = None) -> Page[Team]:
    conditions = []
    if text and text.strip():
        conditions.append(Team.name_key.contains(name_key(text.strip()), autoescape=True))
    total = session.scalar(select(func.count()).select_from(Team).where(*conditions)) or 0
    items = session.scalars(
        select(Team)
        .where(*conditions)
        .order_by(Team.name_key)
        .offset((page - 1) * limit)
        .limit(limit)
    ).all()
    return Page(items=items, total=total, page=page, limit=limit)


def create_team(session: Session, *, name: str, description: str = "") -> Team:
    clean_name = clean_text(name, field="name", max_length=NAME_MAX)
    _ensure_name_free(session, clean_name, team_id=None)
    team = Team(
        name=clean_name,
        name_key=name_key(clean_name),
        description=_clean_description(description),
    )
    session.add(team)
    session.flush()
    return team


def update_team(
    session: Session,
    *,
    team_id: int,
    if_match: str | None,
    name: str | None = None,
    description: str | None = None,
) -> Team:
    team = get_team(session, team_id)
    check_version(team.version, if_match)
    if name is not None:
        clean_name = clean_text(name, field="name", max_length=NAME_MAX)
        _ensure_name_free(session, clean_name, team_id=team.id)
        team.name, team.name_key = clean_name, name_key(clean_name)
    if description is not None:
        team.description = _clean_description(description)
    session.flush()
    return team


def delete_team(session: Session, *, team_id: int, if_match: str | None) -> None:
    team = get_team(session, team_id)
    check_version(team.version, if_match)
    session.delete(team)
    session.flush()


def members(session: Session, team_id: int) -> Sequence[MemberRow]:
    get_team(session, team_id)
    rows = session.execute(
        select(Person, TeamMember.is_manager)
        .join(TeamMember, TeamMember.person_id == Person.id)
        .where(TeamMember.team_id == team_id)
        .order_by(TeamMember.is_manager.desc(), Person.name_key)
    ).all()
    return [MemberRow(person=person, is_manager=is_manager) for person, is_manager in rows]


_Columns = TypeVarTuple("_Columns")


def managing(statement: Select[*_Columns]) -> Select[*_Columns, int | None]:
    """``statement``, which selects a ``Person``, with the id of each team they manage.

    One row per managed team, or one row with ``None`` for a person who manages none;
    ``managed_ids`` reads them back. The principal needs a person's managed teams on
    every request: joined in, they cost no round trip of their own.
    """
    joined = statement.outerjoin(
        TeamMember, and_(TeamMember.person_id == Person.id, TeamMember.is_manager.is_(True))
    ).add_columns(TeamMember.team_id.label("managed_team_id"))
    return cast("Select[*_Columns, int | None]", joined)


def managed_ids(rows: Sequence[Row[*tuple[Any, ...]]]) -> frozenset[int]:
    return frozenset(row.managed_team_id for row in rows if row.managed_team_id is not None)


def add_member(
    session: Session, *, team_id: int, person_id: int, is_manager: bool, if_match: str | None
) -> Team:
    """Add someone, or change whether they manage the team."""
    team = get_team(session, team_id)
    get_person(session, person_id)
    _bump(session, team, if_match, required=False)
    membership = session.get(TeamMember, (team_id, person_id))
    if membership is None:
        session.add(TeamMember(team_id=team_id, person_id=person_id, is_manager=is_manager))
    else:
        membership.is_manager = is_manager
    session.flush()
    return team


def remove_member(session: Session, *, team_id: int, person_id: int, if_match: str | None) -> Team:
    team = get_team(session, team_id)
    membership = session.get(TeamMember, (team_id, person_id))
    if membership is None:
        raise NotFound(f"Person {person_id} is not a member of team {team_id}.")
    _bump(session, team, if_match, required=True)
    session.delete(membership)
    session.flush()
    return team


def targets(session: Session, team_id: int) -> Sequence[tuple[TeamTarget, Skill]]:
    get_team(session, team_id)
    rows = session.execute(
        select(TeamTarget, Skill)
        .join(Skill, Skill.id == TeamTarget.skill_id)
        .where(TeamTarget.team_id == team_id)
        .order_by(Skill.name_key)
    ).all()
    return [(target, skill) for target, skill in rows]


def replace_targets(
    session: Session, *, team_id: int, wanted: Sequence[tuple[int, int]], if_match: str | None
) -> Team:
    """Set the whole target list at once (a PUT of the collection of (skill, level))."""
    team = get_team(session, team_id)
    levels = dict(wanted)
    if len(levels) != len(wanted):
        raise InvalidInput("A skill appears twice.", {"items": ["Each skill at most once."]})
    if len(levels) > MAX_TARGETS:
        raise InvalidInput("Too many targets.", {"items": [f"At most {MAX_TARGETS}."]})
    errors: dict[str, list[str]] = {}
    known = set(session.scalars(select(Skill.id).where(Skill.id.in_(levels))))
    for skill_id, level in levels.items():
        if skill_id not in known:
            errors.setdefault("items", []).append(f"Skill {skill_id} does not exist.")
        if not 1 <= level <= 5:
            errors.setdefault("items", []).append(f"Level for skill {skill_id} must be 1 to 5.")
    if errors:
        raise InvalidInput("The targets are not valid.", errors)
    _bump(session, team, if_match, required=True)
    # Row by row rather than one DELETE, so the audit trail sees each target change.
    current = {
        target.skill_id: target
        for target in session.scalars(select(TeamTarget).where(TeamTarget.team_id == team_id))
    }
    for skill_id, target in current.items():
        if skill_id not in levels:
            session.delete(target)
        else:
            target.level = levels[skill_id]
    session.add_all(
        TeamTarget(team_id=team_id, skill_id=skill_id, level=level)
        for skill_id, level in levels.items()
        if skill_id not in current
    )
    session.flush()
    return team


def gaps(
    session: Session, *, team_id: int, today: date, include_expired: bool = False
) -> list[Gap]:
    """Per target skill: members at or above target and the shortfall, in one query."""
    get_team(session, team_id)
    member_count = (
        session.scalar(
            select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)
        )
        or 0
    )
    held_conditions = [
        Proficiency.skill_id == TeamTarget.skill_id,
        Proficiency.person_id == TeamMember.person_id,
    ]
    if not include_expired:
        held_conditions.append(counts_on(Proficiency.expires_on, today))
    level = func.coalesce(Proficiency.level, 0)
    is_member = TeamMember.person_id.is_not(None)
    rows = session.execute(
        select(
            TeamTarget.skill_id,
            Skill.name,
            TeamTarget.level,
            func.count(case((level >= TeamTarget.level, 1))).label("meeting"),
            func.coalesce(
                func.sum(
                    case(
                        (and_(is_member, level < TeamTarget.level), TeamTarget.level - level),
                        else_=0,
                    )
                ),
                0,
            ).label("missing"),
        )
        .select_from(TeamTarget)
        .join(Skill, Skill.id == TeamTarget.skill_id)
        .outerjoin(TeamMember, TeamMember.team_id == TeamTarget.team_id)
        .outerjoin(Proficiency, and_(*held_conditions))
        .where(TeamTarget.team_id == team_id)
        .group_by(TeamTarget.skill_id, Skill.name, TeamTarget.level)
        .order_by(Skill.name)
    ).all()
    result = []
    for skill_id, skill_name, target_level, meeting, missing in rows:
        result.append(
            Gap(
                skill_id=skill_id,
                skill_name=skill_name,
                target_level=target_level,
                members=member_count,
                meeting_target=int(meeting),
                shortfall=member_count - int(meeting),
                missing_levels=int(missing),
            )
        )
    return result


def _bump(session: Session, team: Team, if_match: str | None, *, required: bool) -> None:
    """Compare-and-swap the aggregate version, so concurrent writers cannot both win."""
    if required or if_match is not None:
        check_version(team.version, if_match)
    result = session.execute(
        update(Team)
        .where(Team.id == team.id, Team.version == team.version)
        .values(version=Team.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise PreconditionFailed("The team has changed since it was read; fetch it again.")
    session.refresh(team)


def _ensure_name_free(session: Session, name: str, *, team_id: int | None) -> None:
    existing = session.scalar(select(Team.id).where(Team.name_key == name_key(name)))
    if existing is not None and existing != team_id:
        raise Conflict("A team with that name already exists.")


def _clean_description(description: str) -> str:
    text = description.strip()
    if len(text) > DESCRIPTION_MAX:
        raise InvalidInput(
            "The description is too long.",
            {"description": [f"At most {DESCRIPTION_MAX} characters."]},
        )
    return text
