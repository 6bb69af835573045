"""The skills catalogue: names unique case-insensitively across names and aliases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Select, bindparam, exists, func, or_, select, true
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, NotFound
from skills_service.models import Proficiency, ProficiencyChange, Skill, SkillAlias, TeamTarget
from skills_service.services import summaries
from skills_service.services.common import (
    NUL_MESSAGE,
    Page,
    ascii_int,
    check_version,
    clean_text,
    name_key,
    page_rows,
)

NAME_MAX = 64
CATEGORY_MAX = 64
DESCRIPTION_MAX = 5000
MAX_ALIASES = 20


@dataclass(frozen=True, slots=True)
class SkillEntry:
    """A skill as it is shown: read as plain columns, without the ORM's bookkeeping."""

    id: int
    name: str
    category: str
    description: str
    deprecated: bool
    aliases: tuple[str, ...]
    """In the order of their keys."""


def entry(skill: Skill) -> SkillEntry:
    aliases = sorted(skill.aliases, key=lambda alias: alias.alias_key)
    return SkillEntry(
        id=skill.id,
        name=skill.name,
        category=skill.category,
        description=skill.description,
        deprecated=skill.deprecated,
        aliases=tuple(alias.alias for alias in aliases),
    )


def get_skill(session: Session, skill_id: int) -> Skill:
    skill = session.get(Skill, skill_id)
    if skill is None:
        raise NotFound(f"Skill {skill_id} does not exist.")
    return skill


def skill_ids_named(session: Session, names_or_ids: Sequence[str]) -> dict[str, int]:
    """Skill ids by numeric id, name or alias (case-insensitive), in one or two queries.

    Names that match no skill are left out of the answer.
    """
    numbers = {term: ascii_int(term) for term in names_or_ids}
    ids = {term: number for term, number in numbers.items() if number}
    keys = {term: name_key(term.strip()) for term, number in numbers.items() if number is None}
    rows = session.execute(
        _named_statement(), {"ids": sorted(set(ids.values())), "keys": sorted(set(keys.values()))}
    ).all()
    known_ids = {skill_id for skill_id, _ in rows}
    by_key = {key: skill_id for skill_id, key in rows}
    unnamed = set(keys.values()) - by_key.keys()
    if unnamed:
        aliases = session.execute(
            select(SkillAlias.alias_key, SkillAlias.skill_id).where(
                SkillAlias.alias_key.in_(unnamed)
            )
        )
        by_key.update({alias_key: skill_id for alias_key, skill_id in aliases})
    found = {term: skill_id for term, skill_id in ids.items() if skill_id in known_ids}
    found.update({term: by_key[key] for term, key in keys.items() if key in by_key})
    return found


@cache
def _named_statement() -> Select[int, str]:
    """Built once: every search by skill names reads it; both lists are expanding."""
    return select(Skill.id, Skill.name_key).where(
        or_(
            Skill.id.in_(bindparam("ids", expanding=True)),
            Skill.name_key.in_(bindparam("keys", expanding=True)),
        )
    )


def names_of(session: Session, skill_ids: Sequence[int]) -> dict[int, str]:
    """Skill names by id, in one query."""
    rows = session.execute(select(Skill.id, Skill.name).where(Skill.id.in_(skill_ids)))
    return {skill_id: name for skill_id, name in rows}


def categories(session: Session) -> list[str]:
    """Every category in the catalogue, alphabetically."""
    return list(session.scalars(select(Skill.category).distinct().order_by(Skill.category)))


def list_skills(
    session: Session,
    *,
    page: int,
    limit: int,
    text: str | None = None,
    category: str | None = None,
    include_deprecated: bool = True,
) -> Page[SkillEntry]:
    conditions = []
    if text:
        key = name_key(text.strip())
        alias_match = exists().where(
            SkillAlias.skill_id == Skill.id, SkillAlias.alias_key.contains(key, autoescape=True)
        )
        conditions.append(or_(Skill.name_key.contains(key, autoescape=True), alias_match))
    if category:
        conditions.append(func.lower(Skill.category) == category.strip().lower())
    if not include_deprecated:
        conditions.append(Skill.deprecated.is_(False))
    rows, total = page_rows(
        session,
        select(Skill.id, Skill.name, Skill.category, Skill.description, Skill.deprecated)
        .where(*conditions)
        .order_by(Skill.name_key, Skill.id),
        page=page,
        limit=limit,
    )
    aliases = _alias_names(session, [row.id for row in rows])
    items = [
        SkillEntry(
            id=row.id,
            name=row.name,
            category=row.category,
            description=row.description,
            deprecated=row.deprecated,
            aliases=aliases.get(row.id, ()),
        )
        for row in rows
    ]
    return Page(items=items, total=total, page=page, limit=limit)


def _alias_names(session: Session, skill_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    if not skill_ids:
        return {}
    names: defaultdict[int, list[str]] = defaultdict(list)
    for skill_id, alias in session.execute(_aliases_statement(), {"skill_ids": skill_ids}):
        names[skill_id].append(alias)
    return {skill_id: tuple(aliases) for skill_id, aliases in names.items()}


@cache
def _aliases_statement() -> Select[int, str]:
    """Built once: every listing reads it; the ids are an expanding parameter."""
    return (
        select(SkillAlias.skill_id, SkillAlias.alias)
        .where(SkillAlias.skill_id.in_(bindparam("skill_ids", expanding=True)))
        .order_by(SkillAlias.skill_id, SkillAlias.alias_key)
    )


def create_skill(
    session: Session,
    *,
    name: str,
    category: str,
    description: str = "",
    aliases: Sequence[str] = (),
) -> Skill:
    clean_name = clean_text(name, field="name", max_length=NAME_MAX)
    skill = Skill(
        name=clean_name,
        name_key=name_key(clean_name),
        category=clean_text(category, field="category", max_length=CATEGORY_MAX),
        description=_clean_description(description),
    )
    _ensure_names_free(session, [clean_name], skill_id=None)
    skill.aliases = _aliases(session, aliases, skill_name=clean_name, skill_id=None)
    session.add(skill)
    session.flush()
    return skill


def update_skill(
    session: Session,
    *,
    skill_id: int,
    if_match: str | None,
    name: str | None = None,
    category: str | None = None,
    description: str | None = None,
    aliases: Sequence[str] | None = None,
    deprecated: bool | None = None,
) -> Skill:
    skill = get_skill(session, skill_id)
    check_version(skill.version, if_match)
    old_category = skill.category
    if name is not None:
        clean_name = clean_text(name, field="name", max_length=NAME_MAX)
        _ensure_names_free(session, [clean_name], skill_id=skill.id)
        skill.name, skill.name_key = clean_name, name_key(clean_name)
    if category is not None:
        skill.category = clean_text(category, field="category", max_length=CATEGORY_MAX)
    if description is not None:
        skill.description = _clean_description(description)
    if deprecated is not None:
        skill.deprecated = deprecated
    if aliases is not None:
        skill.aliases = []
        session.flush()
        skill.aliases = _aliases(session, aliases, skill_name=skill.name, skill_id=skill.id)
    session.flush()
    if skill.category != old_category:
        summaries.skill_recategorised(session, skill_id=skill.id, old_category=old_category)
    return skill


def delete_skill(session: Session, *, skill_id: int, if_match: str | None) -> None:
    """Hard delete, only for a skill nobody has ever used; otherwise deprecate it."""
    skill = get_skill(session, skill_id)
    check_version(skill.version, if_match)
    used = session.scalar(
        select(
            exists().where(Proficiency.skill_id == skill_id)
            | exists().where(ProficiencyChange.skill_id == skill_id)
            | exists().where(TeamTarget.skill_id == skill_id)
        )
    )
    if used:
        raise Conflict("The skill is in use; deprecate it instead of deleting it.")
    session.delete(skill)
    session.flush()


def _clean_description(description: str) -> str:
    text = description.replace("\r\n", "\n").strip()
    if len(text) > DESCRIPTION_MAX:
        raise InvalidInput(
            "The description is too long.",
            {"description": [f"At most {DESCRIPTION_MAX} characters."]},
        )
    if "\x00" in text:
        raise InvalidInput(
            "The description contains a NUL character.",
            {"description": [NUL_MESSAGE]},
        )
    return text


def _aliases(
    session: Session, raw: Sequence[str], *, skill_name: str, skill_id: int | None
) -> list[SkillAlias]:
    if len(raw) > MAX_ALIASES:
        raise InvalidInput("Too many aliases.", {"aliases": [f"At most {MAX_ALIASES}."]})
    cleaned: dict[str, str] = {}
    for alias in raw:
        text = clean_text(alias, field="aliases", max_length=NAME_MAX)
        key = name_key(text)
        if key != name_key(skill_name):
            cleaned.setdefault(key, text)
    _ensure_names_free(session, list(cleaned.values()), skill_id=skill_id)
    return [SkillAlias(alias=text, alias_key=key) for key, text in cleaned.items()]


def _ensure_names_free(session: Session, names: Sequence[str], *, skill_id: int | None) -> None:
    """Refuse a name or alias that another skill already uses as its name or an alias."""
    keys = [name_key(name) for name in names]
    if not keys:
        return
    other = Skill.id != skill_id if skill_id is not None else true()
    clash = session.scalar(
        select(Skill.name).where(Skill.name_key.in_(keys), other).limit(1)
    ) or session.scalar(
        select(Skill.name).join(SkillAlias).where(SkillAlias.alias_key.in_(keys), other).limit(1)
    )
    if clash is not None:
        raise Conflict(f"The name is already used by the skill {clash!r}.")
