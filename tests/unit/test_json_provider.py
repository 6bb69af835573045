"""The app's JSON provider writes, in orjson, what Flask's default provider wrote."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider, JSONProvider
from markupsafe import Markup

from skills_service import json_provider


@dataclasses.dataclass
class Reading:
    taken_at: datetime
    value: float


VALUES: dict[str, Any] = {
    "nested": {"b": [1, 2.5, None, True], "a": {"z": "Zoë ✓ 😀", "y": ""}},
    "dates": {"on": date(2026, 2, 28), "at": datetime(2026, 2, 3, 4, 5, 6, 789, tzinfo=UTC)},
    "naive time": datetime(2026, 2, 3, 4, 5, 6),
    "dataclass": Reading(datetime(2026, 1, 1, tzinfo=UTC), 0.1),
    "decimal and uuid": [Decimal("1.10"), uuid.UUID(int=7)],
    "markup": Markup("<b>&amp;</b>"),
    "integer keys": {2: "two", 1: "one"},
    "integer past 64 bits": {"result": 2**200},
    "lone surrogate": {"text": "\ud800"},
}


def written(provider: JSONProvider, value: Any) -> Any:
    return json.loads(provider.dumps(value))


@pytest.mark.parametrize("kind", VALUES)
def test_a_value_reads_back_as_the_default_provider_wrote_it(kind: str) -> None:
    app = Flask(__name__)
    default = DefaultJSONProvider(app)
    json_provider.init_app(app)
    assert written(app.json, VALUES[kind]) == written(default, VALUES[kind])


def test_an_answer_is_compact_utf8_with_sorted_keys() -> None:
    app = Flask(__name__)
    json_provider.init_app(app)
    with app.app_context():
        response = app.json.response({"b": "é", "a": 1})
    assert response.get_data() == '{"a":1,"b":"é"}\n'.encode()
    assert response.mimetype == "application/json"


def test_options_of_a_caller_are_kept() -> None:
    app = Flask(__name__)
    json_provider.init_app(app)
    assert (
        app.json.dumps({"b": 1, "a": 2}, indent=2, sort_keys=False) == '{\n  "b": 1,\n  "a": 2\n}'
    )
