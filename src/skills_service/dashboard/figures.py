"""Plotly figures from the dashboard's aggregates (pure: rows in, figure out).

Plotly reads a subset of HTML in every string it draws (``<a href>``, ``<b>``,
``<br>``, ``<span style>``, entities), so every text a figure carries goes through
``plain_text`` first: names then show as typed and never become links or markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go

from skills_service.services.analytics import (
    CategoryCoverage,
    HeatmapCell,
    MonthActivity,
    SkillLevels,
)
from skills_service.services.teams import Gap

LEVEL_NAMES = ("1 awareness", "2 beginner", "3 practitioner", "4 advanced", "5 expert")
LEVEL_COLOURS = ("#c6d3f5", "#93abec", "#5f83e0", "#2f5bc9", "#1b3a8c")
FONT = {"family": "system-ui, sans-serif", "size": 13, "color": "#1d2330"}


def plain_text(text: str) -> str:
    """``text`` as Plotly shows it verbatim: ``&``, ``<`` and ``>`` as entities.

    Plotly splits a string at tags, then decodes entities in the text between them,
    so an escaped name is drawn as typed. Quotes stay as they are: Plotly knows no
    ``&quot;`` and would show it.
    """
    return html.escape(text, quote=False)


def plain_texts(texts: Iterable[str]) -> list[str]:
    return [plain_text(text) for text in texts]


def _layout(figure: go.Figure, title: str, *, empty: bool) -> go.Figure:
    figure.update_layout(
        title={"text": plain_text(title), "x": 0},
        font=FONT,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        legend={"orientation": "h", "y": -0.15},
    )
    if empty:
        figure.add_annotation(text="No data for this selection", showarrow=False, font=FONT)
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
    return figure


def levels_by_skill(rows: Sequence[SkillLevels]) -> go.Figure:
    skills = plain_texts(row.skill for row in reversed(rows))
    figure = go.Figure(
        [
            go.Bar(
                name=LEVEL_NAMES[level],
                y=skills,
                x=[row.per_level[level] for row in reversed(rows)],
                orientation="h",
                marker_color=LEVEL_COLOURS[level],
            )
            for level in range(5)
        ]
    )
    figure.update_layout(barmode="stack", height=max(320, 28 * len(rows) + 120))
    return _layout(figure, "People per level, most held skills", empty=not rows)


def top_skills(rows: Sequence[SkillLevels], *, limit: int = 10) -> go.Figure:
    ranked = list(rows)[:limit]
    figure = go.Figure(
        go.Bar(
            x=plain_texts(row.skill for row in ranked),
            y=[row.holders for row in ranked],
            marker_color=LEVEL_COLOURS[3],
        )
    )
    return _layout(figure, "Top skills by holders", empty=not ranked)


def coverage(rows: Sequence[CategoryCoverage]) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=plain_texts(row.category for row in rows),
            y=[round(100 * row.people / row.of, 1) if row.of else 0 for row in rows],
            marker_color=LEVEL_COLOURS[2],
            hovertemplate="%{x}: %{y}% of people<extra></extra>",
        )
    )
    figure.update_yaxes(title="% of people at level 3+", range=[0, 100])
    return _layout(figure, "Coverage by category", empty=not rows)


def trend(rows: Sequence[MonthActivity]) -> go.Figure:
    months = plain_texts(row.month for row in rows)
    figure = go.Figure(
        [
            go.Scatter(
                x=months, y=[row.changes for row in rows], name="changes", mode="lines+markers"
            ),
            go.Scatter(
                x=months,
                y=[row.verifications for row in rows],
                name="verified",
                mode="lines+markers",
            ),
        ]
    )
    figure.update_xaxes(type="category")
    return _layout(figure, "Proficiency changes per month", empty=not rows)


def heatmap(cells: Sequence[HeatmapCell]) -> go.Figure:
    people = sorted({cell.person for cell in cells})
    skills = sorted({cell.skill for cell in cells})
    levels = {(cell.person, cell.skill): cell.level for cell in cells}
    figure = go.Figure(
        go.Heatmap(
            x=plain_texts(skills),
            y=plain_texts(people),
            z=[[levels.get((person, skill)) for skill in skills] for person in people],
            zmin=0,
            zmax=5,
            colorscale=[[0, "#f4f6fa"], [1, LEVEL_COLOURS[4]]],
            hovertemplate="%{y} · %{x}: level %{z}<extra></extra>",
        )
    )
    figure.update_layout(height=max(320, 22 * len(people) + 140))
    return _layout(figure, "Team heatmap: members by skill", empty=not cells)


def gaps(rows: Sequence[Gap]) -> go.Figure:
    skills = plain_texts(row.skill_name for row in rows)
    figure = go.Figure(
        [
            go.Bar(
                name="at or above target",
                x=skills,
                y=[row.meeting_target for row in rows],
                marker_color="#1b6e3a",
            ),
            go.Bar(
                name="short of target",
                x=skills,
                y=[row.shortfall for row in rows],
                marker_color="#a4161a",
            ),
        ]
    )
    figure.update_layout(barmode="stack")
    return _layout(figure, "Target vs actual", empty=not rows)
