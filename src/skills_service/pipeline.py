"""The request pipeline: every control a request passes, as one before and one after hook.

Each control (request id and access log, size limits, rate limits, principal, CSRF,
route policy, security headers, problems, the session's save) registers its step
here instead of as a Flask hook of its own. Flask looks up and wraps every hook it
calls (``ensure_sync``), which for twenty hooks costs more than most of the steps
themselves; here the steps are plain calls in a list, run by the pipeline's two hooks.

Order is Flask's: before-steps run in the order they were added, after-steps in the
reverse order, so a control added first (the access log) sees the request first and
the finished response last. A before-step that returns a response ends the request
there, as a ``before_request`` hook would.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response
from werkzeug.wrappers import Response as AnyResponse

EXTENSION_KEY = "skills_service.pipeline"

BeforeStep = Callable[[], AnyResponse | None]
AfterStep = Callable[[Response], Response]


class Pipeline:
    def __init__(self) -> None:
        self.before_steps: list[BeforeStep] = []
        self.after_steps: list[AfterStep] = []

    def before_request(self) -> AnyResponse | None:
        for step in self.before_steps:
            response = step()
            if response is not None:
                return response
        return None

    def after_request(self, response: Response) -> Response:
        for step in self.after_steps:
            response = step(response)
        return response


def _pipeline(app: Flask) -> Pipeline:
    pipeline: Pipeline = app.extensions[EXTENSION_KEY]
    return pipeline


def before(app: Flask, step: BeforeStep) -> None:
    """Run ``step`` before the view, after the steps added before it."""
    _pipeline(app).before_steps.append(step)


def after(app: Flask, step: AfterStep) -> None:
    """Run ``step`` on the response, before the after-steps added before it."""
    _pipeline(app).after_steps.insert(0, step)


def init_app(app: Flask) -> None:
    """Before any control adds its steps."""
    pipeline = Pipeline()
    app.extensions[EXTENSION_KEY] = pipeline
    app.before_request(pipeline.before_request)
    app.after_request(pipeline.after_request)
