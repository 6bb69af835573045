"""Aggregates for the dashboard, computed by the database.

Every function returns a few hundred rows at most, whatever the size of the
organisation: the counting happens in SQL (GROUP BY), never by loading people or
proficiencies into Python. Only active people and unexpired proficiencies count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, distinct, exists, func, select
from sqlalchemy.orm import Session

from skills_service.errors import InvalidInput
from skills_service.models import Person, Proficiency, ProficiencyChange, Skill, Team, TeamMember
from skills_service.services import summaries
from skills_service.services.search import counts_on
from skills_service.services.teams import get_team, targets

TREND_MONTHS = 12
HEATMAP_SKILLS = 15


@dataclass(frozen=True)
class Scope:
    """Which people count: everyone active, or one team; and which skills: all or a category."""

    today: date
    team_id: int | None = None
    category: str | None = None


def existing_scope(
    session: Callable[[], Session], *, today: date, team_id: int | None, category: str | None
) -> Scope:
    """A scope that names only a team and a category that exist.

    Charts are cached by scope, so refusing names that do not exist keeps the set of
    cache keys as small as the catalogue and the list of teams. ``session`` is asked
    for only when there is a name to look up: the org-wide scope needs no connection.
    """
    if team_id is not None and session().get(Team, team_id) is None:
        raise InvalidInput("The team does not exist.", {"team": ["Choose a team from the list."]})
    if category is not None and not session().scalar(
        select(exists().where(Skill.category == category))
    ):
        raise InvalidInput(
            "The category does not exist.", {"category": ["Choose a category from the list."]}
        )
    return Scope(today=today, team_id=team_id, category=category)


@dataclass(frozen=True)
class SkillLevels:
    skill: str
    per_level: tuple[int, int, int, int, int]

    @property
    def holders(self) -> int:
        return sum(self.per_level)


@dataclass(frozen=True)
class CategoryCoverage:
    category: str
    people: int
    of: int


@dataclass(frozen=True)
class MonthActivity:
    month: str
    changes: int
    verifications: int


@dataclass(frozen=True)
class HeatmapCell:
    person: str
    skill: str
    level: int


_Columns = TypeVarTuple("_Columns")


def _counted(statement: Select[*_Columns], scope: Scope) -> Select[*_Columns]:
    """Restrict a query over Proficiency (joined to Skill and Person) to the scope."""
    statement = statement.where(Person.active, counts_on(Proficiency.expires_on, scope.today))
    if scope.category:
        statement = statement.where(func.lower(Skill.category) == scope.category.lower())
    if scope.team_id is not None:
        members = select(TeamMember.person_id).where(TeamMember.team_id == scope.team_id)
        statement = statement.where(Proficiency.person_id.in_(members))
    return statement


def skill_levels(session: Session, scope: Scope, *, limit: int = 15) -> list[SkillLevels]:
    """The most held skills in scope, with how many people hold each at each level.

    Org-wide the running totals answer (``services.summaries``); for a team, its
    members' proficiencies are counted.
    """
    if scope.team_id is None:
        rows = summaries.skill_levels(session, today=scope.today, category=scope.category)
    else:
        rows = session.execute(
            _counted(
                select(Skill.name, Proficiency.level, func.count())
                .select_from(Proficiency)
                .join(Skill, Skill.id == Proficiency.skill_id)
                .join(Person, Person.id == Proficiency.person_id)
                .group_by(Skill.name, Proficiency.level),
                scope,
            )
        ).all()
    per_skill: dict[str, list[int]] = {}
    for name, level, count in rows:
        per_skill.setdefault(str(name), [0] * 5)[int(level) - 1] = int(count)
    ranked = sorted(per_skill.items(), key=lambda item: (-sum(item[1]), item[0]))[:limit]
    return [SkillLevels(name, (c[0], c[1], c[2], c[3], c[4])) for name, c in ranked]


def category_coverage(session: Session, scope: Scope) -> list[CategoryCoverage]:
    """Per category: people with at least one of its skills at the coverage level or above.

    Org-wide the running totals answer; for a team, its members' proficiencies are
    counted.
    """
    population = select(func.count()).select_from(Person).where(Person.active)
    if scope.team_id is not None:
        population = population.where(
            Person.id.in_(select(TeamMember.person_id).where(TeamMember.team_id == scope.team_id))
        )
    total = session.scalar(population) or 0
    if scope.team_id is None:
        rows = summaries.category_coverage(session, today=scope.today, category=scope.category)
    else:
        rows = session.execute(
            _counted(
                select(Skill.category, func.count(distinct(Proficiency.person_id)))
                .select_from(Proficiency)
                .join(Skill, Skill.id == Proficiency.skill_id)
                .join(Person, Person.id == Proficiency.person_id)
                .where(Proficiency.level >= summaries.COVERAGE_LEVEL)
                .group_by(Skill.category)
                .order_by(Skill.category),
                scope,
            )
        ).all()
    return [CategoryCoverage(str(category), int(count), total) for category, count in rows]


def _month(column: SQLColumnExpression[datetime], dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def monthly_activity(session: Session, scope: Scope) -> list[MonthActivity]:
    """Proficiency changes and verifications per month, for the last year."""
    first_month = scope.today.year * 12 + scope.today.month - TREND_MONTHS
    since = datetime(first_month // 12, first_month % 12 + 1, 1, tzinfo=UTC)
    month = _month(ProficiencyChange.changed_at, session.get_bind().dialect.name)
    statement = (
        select(
            month,
            func.count(),
            func.count(ProficiencyChange.verified_by_id),
        )
        .select_from(ProficiencyChange)
        .join(Skill, Skill.id == ProficiencyChange.skill_id)
        .where(ProficiencyChange.changed_at >= since)
        .group_by(month)
        .order_by(month)
    )
    if scope.category:
        statement = statement.where(func.lower(Skill.category) == scope.category.lower())
    if scope.team_id is not None:
        members = select(TeamMember.person_id).where(TeamMember.team_id == scope.team_id)
        statement = statement.where(ProficiencyChange.person_id.in_(members))
    return [
        MonthActivity(str(label), int(changes), int(verified))
        for label, changes, verified in session.execute(statement)
    ]


def team_heatmap(session: Session, *, team_id: int, today: date) -> list[HeatmapCell]:
    """Each member's level in the team's target skills (or its most held skills)."""
    get_team(session, team_id)
    skill_ids: Sequence[int] = [target.skill_id for target, _ in targets(session, team_id)]
    members = select(TeamMember.person_id).where(TeamMember.team_id == team_id)
    if not skill_ids:
        skill_ids = session.scalars(
            select(Proficiency.skill_id)
            .where(Proficiency.person_id.in_(members))
            .group_by(Proficiency.skill_id)
            .order_by(func.count().desc(), Proficiency.skill_id)
            .limit(HEATMAP_SKILLS)
        ).all()
    rows = session.execute(
        select(Person.name, Skill.name, Proficiency.level)
        .select_from(Proficiency)
        .join(Person, Person.id == Proficiency.person_id)
        .join(Skill, Skill.id == Proficiency.skill_id)
        .where(
            Proficiency.person_id.in_(members),
            Proficiency.skill_id.in_(skill_ids),
            Person.active,
            counts_on(Proficiency.expires_on, today),
        )
        .order_by(Person.name, Skill.name)
    ).all()
    return [HeatmapCell(str(person), str(skill), int(level)) for person, skill, level in rows]
