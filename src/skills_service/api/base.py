"""What every resource module shares: a strict blueprint, ETags, list envelopes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flask
import flask_smorest
from flask import request, url_for
from marshmallow import RAISE, missing
from webargs.flaskparser import FlaskParser, is_json_request

from skills_service.services.common import Page, etag_for


class StrictParser(FlaskParser):
    """Unknown query parameters are rejected like unknown body fields; JSON bodies are read
    by the app's one bounded JSON reader (``security.json_body``), not webargs' own."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return missing
        return req.get_json(force=True)


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = StrictParser()


def if_match() -> str | None:
    return request.headers.get("If-Match")


def if_none_match() -> str | None:
    return request.headers.get("If-None-Match")


def etag_headers(version: int) -> dict[str, str]:
    return {"ETag": etag_for(version)}


def envelope(page: Page[Any], items: Sequence[Any]) -> dict[str, Any]:
    """The list body; ``next`` repeats the query with the following page number."""
    next_url = None
    if page.has_next and request.endpoint is not None:
        query: dict[str, Any] = dict(request.args.lists())
        query["page"] = [str(page.page + 1)]
        next_url = url_for(request.endpoint, **(request.view_args or {}), **query)
    return {
        "items": items,
        "total": page.total,
        "page": page.page,
        "limit": page.limit,
        "next": next_url,
    }
