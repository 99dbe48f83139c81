"""Domain errors to HTTP answers, in flask-smorest's one error shape."""
from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import BadRequest, Conflict, HTTPException, NotFound, UnprocessableEntity

from api.extensions import api
from trainhub import errors

_STATUS: list[tuple[type[errors.TrainHubError], type[HTTPException]]] = [
    (errors.NotFound, NotFound),
    (errors.InvalidTransition, BadRequest),
    (errors.Conflict, Conflict),
]


def _handle(exc: errors.TrainHubError):
    if isinstance(exc, errors.InvalidInput):
        http = UnprocessableEntity()
        http.data = {"errors": {"json": exc.errors}}
    else:
        http = next(cls() for kind, cls in _STATUS if isinstance(exc, kind))
        http.data = {"message": str(exc)}
    return api.handle_http_exception(http)


def init_app(app: Flask) -> None:
    for kind in (errors.InvalidInput, *(kind for kind, _ in _STATUS)):
        app.register_error_handler(kind, _handle)
