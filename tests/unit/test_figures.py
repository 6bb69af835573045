"""Figures draw every name as typed: nothing in them is markup Plotly would interpret."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any

import plotly.graph_objects as go
import pytest

from skills_service.dashboard import figures
from skills_service.services.analytics import (
    CategoryCoverage,
    HeatmapCell,
    MonthActivity,
    SkillLevels,
)
from skills_service.services.teams import Gap

HOSTILE_NAMES = [
    '<a href="https://evil.example">x</a>',
    "<b>bold</b>",
    "line<br>break",
    "&lt;b&gt;entity",
    "&#60;a href=x&#62;numeric",
    '<span style="font-size:80px">big</span>',
    'Tom & Jerry\'s "team"',
]
EXTRA = "<extra></extra>"
"""The one tag the figures themselves put in hover templates (hides the trace box)."""


def texts(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a figure's JSON, with the key that holds it."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for child_key, child in node.items():
            yield from texts(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from texts(child, key)


def built_from(name: str) -> dict[str, go.Figure]:
    levels = [SkillLevels(name, (1, 2, 3, 4, 5))]
    return {
        "levels": figures.levels_by_skill(levels),
        "top": figures.top_skills(levels),
        "coverage": figures.coverage([CategoryCoverage(name, 1, 2)]),
        "trend": figures.trend([MonthActivity(name, 3, 1)]),
        "heatmap": figures.heatmap([HeatmapCell(name, name, 4)]),
        "gaps": figures.gaps([Gap(1, name, 3, 4, 2, 2, 3)]),
    }


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("chart", list(built_from("x")))
def test_no_text_in_a_figure_is_markup_plotly_would_interpret(name: str, chart: str) -> None:
    document = json.loads(built_from(name)[chart].to_json())
    for key, text in texts(document):
        plain = text.replace(EXTRA, "") if key == "hovertemplate" else text
        assert "<" not in plain and ">" not in plain, (key, text)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("chart", list(built_from("x")))
def test_a_name_is_drawn_exactly_as_typed(name: str, chart: str) -> None:
    document = json.loads(built_from(name)[chart].to_json())
    labels = [html.unescape(text) for key, text in texts(document) if key in ("x", "y")]
    assert name in labels


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("&lt;", "&amp;lt;"),
        ("<br>", "&lt;br&gt;"),
        ("a & b", "a &amp; b"),
        ('say "hi"', 'say "hi"'),
    ],
)
def test_plain_text_escapes_what_plotly_decodes_and_nothing_else(typed: str, sent: str) -> None:
    assert figures.plain_text(typed) == sent
