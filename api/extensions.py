"""The one flask-smorest Api, bound to an app by the factory."""
from __future__ import annotations

from flask_smorest import Api

api = Api()
