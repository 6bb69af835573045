"""The analytics dashboard: Plotly Dash mounted at ``/dashboard/`` on the Flask app.

It sits behind the same sign-in and route policy as every page (its routes are in
``policy.ROUTE_ACTIONS``). Callbacks are pure functions of their inputs and the
signed-in principal; team charts are shown only to who may see that team
(``Action.VIEW_TEAM_ANALYTICS``). Dash's renderer sends the CSRF token from a
cookie in a header, so its callbacks pass the same CSRF check as forms; its one
inline script is allowed by hash, never by ``'unsafe-inline'``. Finished charts are
cached and refreshed in the background (``charts.ChartCache``), because the org-wide
aggregates are slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, dcc, html
from flask import Flask, Response, current_app, request
from flask_wtf.csrf import generate_csrf

from skills_service import pipeline, policy, redis_client
from skills_service.auth.principal import current_principal, require_principal
from skills_service.dashboard import protocol
from skills_service.dashboard.charts import ChartCache, Charts, cache_key, chart_figures
from skills_service.errors import InvalidInput
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import DASHBOARD_PREFIX, Action, Principal, Role, TeamTarget
from skills_service.security import headers
from skills_service.services import analytics, skills, summaries, teams
from skills_service.services.common import MAX_ID

CSRF_COOKIE = "skills_dashboard_csrf"
CACHE_KEY = "skills_service.dashboard_cache"
LAYOUT_ENDPOINT = DASHBOARD_PREFIX + "_dash-layout"
ALL_TEAMS_LIMIT = 5000
GRAPH_CONFIG = dcc.Graph.Config(displaylogo=False, responsive=True)


def _team_options(principal: Principal) -> list[dict[str, Any]]:
    session = db.session
    if principal.role is Role.ADMIN:
        found = teams.list_teams(session, page=1, limit=ALL_TEAMS_LIMIT).items
    else:
        found = teams.teams_by_id(session, sorted(principal.managed_team_ids))
    return [{"label": team.name, "value": team.id} for team in found]


def _graph(graph_id: str, figure: dict[str, Any] | None = None) -> dcc.Graph:
    """A chart; until its callback answers, an empty figure, never ``null``: the graph's
    resize handler reads ``figure.layout`` and fails on ``null`` when it runs first."""
    drawn = figure if figure is not None else {"data": [], "layout": {}}
    return dcc.Graph(id=graph_id, figure=drawn, config=GRAPH_CONFIG, className="chart")


def layout() -> html.Div:
    """The page for the signed-in principal, when Dash serves it (``_dash-layout``).

    Dash also calls this once on whatever request reaches the app first, to
    validate the layout; that request may be anyone's, on any route, so it gets the
    empty skeleton and the database is not touched.
    """
    principal = current_principal()
    if principal is None or request.endpoint != LAYOUT_ENDPOINT:
        return page([], [])
    return page(_team_options(principal), skills.categories(db.session))


def page(team_options: list[dict[str, Any]], categories: list[str]) -> html.Div:
    return html.Div(
        className="dash-page",
        children=[
            html.Header(
                className="dash-header",
                children=[
                    html.A("skills-service", href="/", className="brand"),
                    html.H1("Dashboard"),
                ],
            ),
            html.Div(
                className="filters",
                children=[
                    html.Label("Team", htmlFor="team"),
                    dcc.Dropdown(
                        id="team",
                        options=team_options,
                        placeholder="Whole organisation",
                        disabled=not team_options,
                    ),
                    html.Label("Category", htmlFor="category"),
                    dcc.Dropdown(
                        id="category",
                        options=[{"label": name, "value": name} for name in categories],
                        placeholder="All categories",
                    ),
                ],
            ),
            html.Div(
                className="charts",
                children=[_graph(name) for name in ("levels", "top", "coverage", "trend")],
            ),
            html.Div(id="team-charts", className="charts"),
        ],
    )


def _scope(team_id: object, category: object) -> analytics.Scope:
    """Validate what the browser sent; a team is shown only to who may see it.

    Only teams and categories that exist pass, so the charts cached per scope have
    a bounded number of keys whatever a client sends.
    """
    if team_id is not None and (
        not isinstance(team_id, int) or isinstance(team_id, bool) or not 1 <= team_id <= MAX_ID
    ):
        raise InvalidInput("The team is not valid.", {"team": ["Choose a team from the list."]})
    if category is not None and (not isinstance(category, str) or len(category) > 64):
        raise InvalidInput("The category is not valid.", {"category": ["Choose from the list."]})
    if team_id is not None:
        policy.require(require_principal(), Action.VIEW_TEAM_ANALYTICS, TeamTarget(team_id))
    return analytics.existing_scope(
        lambda: db.session, today=utcnow().date(), team_id=team_id, category=category or None
    )


def update_charts(team_id: object, category: object) -> tuple[Any, ...]:
    scope = _scope(team_id, category)
    cache: ChartCache = current_app.extensions[CACHE_KEY]
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def compute() -> Charts:
        """In an app context of its own: it may run after this request has ended.

        Org-wide charts read the running totals; folding their logs first keeps
        what they read to a few hundred rows.
        """
        with app.app_context():
            if scope.team_id is None:
                with db.session.begin():
                    summaries.fold(db.session, today=scope.today)
            return chart_figures(db.session, scope)

    charts = cache.get_or_compute(cache_key(scope), scope.today, compute)
    org, team = charts[:4], charts[4:]
    team_charts = [_graph("heatmap", team[0]), _graph("gaps", team[1])] if team else []
    return (*org, team_charts)


def _set_csrf_cookie(response: Response, *, secure: bool) -> Response:
    """Give the dashboard page the token Dash's renderer sends back as ``X-CSRFToken``."""
    if request.path == DASHBOARD_PREFIX and current_principal() is not None:
        response.set_cookie(
            CSRF_COOKIE,
            generate_csrf(),
            path=DASHBOARD_PREFIX,
            secure=secure,
            httponly=False,
            samesite="Strict",
        )
    return response


COMPONENT_SUITES_ENDPOINT = (
    DASHBOARD_PREFIX + "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"
)
"""Dash's bundled scripts: fingerprinted, the same for everyone, so caching them is safe."""


def init_app(app: Flask, *, production: bool, cache_seconds: int) -> None:
    dash_app = Dash(
        __name__,
        server=False,
        url_base_pathname=DASHBOARD_PREFIX,
        assets_folder=str(Path(__file__).parent / "assets"),
        serve_locally=True,
        title="Dashboard · skills-service",
        update_title="",
        csrf_token_name=CSRF_COOKIE,
    )
    dash_app.init_app(app)
    # The skeleton validates callback ids without calling ``layout`` outside a request
    # (Dash annotates the attribute by its ``None`` default, hence the ignore).
    dash_app.validation_layout = page([], [])  # type: ignore[assignment]
    dash_app.layout = layout
    dash_app.callback(
        Output("levels", "figure"),
        Output("top", "figure"),
        Output("coverage", "figure"),
        Output("trend", "figure"),
        Output("team-charts", "children"),
        Input("team", "value"),
        Input("category", "value"),
    )(update_charts)
    app.extensions[CACHE_KEY] = ChartCache(
        app.extensions.get(redis_client.CACHE_EXTENSION_KEY), ttl_seconds=cache_seconds
    )
    headers.allow(app, DASHBOARD_PREFIX, script_hashes=dash_app.csp_hashes(), inline_styles=True)
    headers.allow_caching(app, COMPONENT_SUITES_ENDPOINT, "_dashboard_dash_assets.static")
    pipeline.after(app, lambda response: _set_csrf_cookie(response, secure=production))
    protocol.init_app(app, dash_app)
