"""What every resource module shares: a strict blueprint, ETags, list envelopes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

import flask
import flask_smorest
from flask import jsonify, request, url_for
from flask_smorest.utils import set_status_and_headers_in_response, unpack_tuple_response
from marshmallow import RAISE, missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.wrappers import Response

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


View = Callable[..., Any]


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A resource's blueprint. Its views return bodies that ``api.presenters`` made, in
    the shape of the schema that documents them, and those are sent as they are.

    ``response(status, Schema)`` documents the answer in the OpenAPI document as
    flask-smorest does, but the body is not dumped through the schema: it is encoded
    once, by the app's JSON provider. (Marshmallow still validates every request.)
    ``tests/unit/test_presenters.py`` holds each presenter to its schema's dump.
    """

    ARGUMENTS_PARSER = StrictParser()

    def response(
        self, status_code: int, schema: Any = None, **options: Any
    ) -> Callable[[View], View]:
        document: Callable[[View], View] = super().response(status_code, schema, **options)
        if schema is None or options.get("content_type") is not None:
            return document

        def decorator(view: View) -> View:
            @wraps(view)
            def encoded(*args: Any, **kwargs: Any) -> Response:
                body, status, headers = unpack_tuple_response(view(*args, **kwargs))
                if isinstance(body, Response):
                    set_status_and_headers_in_response(body, status, headers)
                    return body
                response = jsonify(body)
                set_status_and_headers_in_response(response, status or status_code, headers)
                return response

            return document(encoded)

        return decorator


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
