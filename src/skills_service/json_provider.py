"""The app's JSON provider (``app.json``): Flask's conventions, written by orjson.

Whatever ``jsonify``, ``flask.json.dumps`` and the API send is written here, in one
call to orjson, and reads back as exactly what Flask's default provider wrote: keys
sorted, dates as HTTP dates, dataclasses as objects, ``Decimal`` and ``UUID`` as
strings, anything with ``__html__`` as its markup. The bytes differ only where the
default escaped a non-ASCII character (``\\u00e9``) and orjson writes it in UTF-8,
which is the same JSON.

What orjson does not write is handed to the default provider, so nothing changes for
it: a call with options of its own (the OpenAPI document is written with
``indent=2``), the indented answers of debug mode, and a value orjson refuses (an
integer past 64 bits, as a calculation may return, or a lone surrogate).
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
"""Dates and dataclasses go to ``default``, to be written as Flask writes them."""


class OrjsonProvider(DefaultJSONProvider):
    def encode(self, obj: Any) -> bytes:
        """``obj`` as compact JSON in UTF-8."""
        try:
            return orjson.dumps(obj, default=self.default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return super().dumps(obj, separators=(",", ":")).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self.encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return cast(Response, super().response(*args, **kwargs))
        body = self.encode(self._prepare_response_obj(args, kwargs))
        response_class = cast(type[Response], self._app.response_class)
        return response_class(body + b"\n", mimetype=self.mimetype)


def init_app(app: Flask) -> None:
    app.json = OrjsonProvider(app)
