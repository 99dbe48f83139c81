"""/ai/training/feature-sets: upload a tenant's time series, list, inspect, redefine, delete."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from werkzeug.exceptions import RequestEntityTooLarge

from api import auth
from api.db import session
from api.schemas.feature_sets import (
    DefinitionUpdateSchema, FeatureSetListSchema, FeatureSetSchema, ListQuerySchema, LoadReportSchema,
    TenantQuerySchema, UploadQuerySchema,
)
from trainhub import features, ingest
from trainhub.errors import InvalidInput
from trainhub.tenants import resolve_tenant

blp = Blueprint("feature_sets", __name__, url_prefix="/ai/training/feature-sets",
                description="Feature sets: the tenant's own time series that jobs train on")

_CHUNK = 1 << 20
_UPLOAD_BODY = {
    "description": "A CSV or Parquet file: the raw request body, or the multipart field 'file'.",
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
    },
}


@blp.route("")
class FeatureSets(MethodView):
    @blp.arguments(ListQuerySchema(), location="query")
    @blp.response(200, FeatureSetListSchema)
    def get(self, query):
        """List feature sets with their row counts, series, time ranges and gaps"""
        return features.list_feature_sets(session(), tenant_scope=auth.tenant_scope(), **query)


@blp.route("/<name>")
class FeatureSetByName(MethodView):
    @blp.arguments(TenantQuerySchema(), location="query")
    @blp.response(200, FeatureSetSchema)
    @blp.alt_response(404, description="No such feature set")
    def get(self, query, name: str):
        """One feature set with its per-series summary; a demo set is generated on first use"""
        db = session()
        return features.describe_feature_set(db, tenant_id=_tenant(query), name=name, materialise_demo=True)

    @blp.arguments(TenantQuerySchema(), location="query")
    @blp.arguments(DefinitionUpdateSchema())
    @blp.response(200, FeatureSetSchema)
    @blp.alt_response(404, description="No such feature set")
    def patch(self, query, body, name: str):
        """Replace the feature definition (calendar, holidays, lags, rolling, exogenous)"""
        return features.update_definition(session(), tenant_id=_tenant(query), name=name,
                                          definition=body["definition"])

    @blp.arguments(TenantQuerySchema(), location="query")
    @blp.response(204)
    @blp.alt_response(404, description="No such feature set")
    def delete(self, query, name: str):
        """Delete a feature set and its rows"""
        features.delete_feature_set(session(), tenant_id=_tenant(query), name=name)


@blp.route("/<name>/data")
class FeatureSetData(MethodView):
    @blp.arguments(UploadQuerySchema(), location="query")
    @blp.response(201, LoadReportSchema, description="The set was created by this load")
    @blp.alt_response(200, schema=LoadReportSchema, description="Rows appended to an existing set")
    @blp.alt_response(413, description="Upload larger than TRAINHUB_MAX_UPLOAD_BYTES")
    @blp.alt_response(422, description="Invalid file: the errors name columns and rows")
    @blp.doc(requestBody=_UPLOAD_BODY)
    def post(self, query, name: str):
        """Load a CSV or Parquet file into a feature set (created on first load)"""
        db = session()
        tenant_id = _tenant(query)
        with _upload_to_temp_file() as (path, filename_format):
            report = ingest.load_file(
                db, tenant_id=tenant_id, name=name, path=path, file_format=query["format"] or filename_format,
                target_column=query["target_column"], timestamp_column=query["timestamp_column"],
                series_column=query["series_column"], frequency=query["frequency"],
                definition=query["definition"],
            )
        return report, 201 if report.created else 200


def _tenant(query) -> str:
    return resolve_tenant(session(), auth.principal(), query["tenant_id"])


@contextlib.contextmanager
def _upload_to_temp_file() -> Iterator[tuple[Path, str | None]]:
    """Stream the upload to a temporary file (never whole into memory); yield its path and
    the format its file name says, if any. The upload limit replaces the API's small
    request limit for this request alone."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    request.max_content_length = limit
    descriptor, temporary = tempfile.mkstemp(prefix="trainhub-upload-")
    filename_format = None
    try:
        with os.fdopen(descriptor, "wb") as out:
            if request.mimetype == "multipart/form-data":
                upload = request.files.get("file")
                if upload is None:
                    raise InvalidInput({"file": ["Send the data as the multipart field 'file'."]})
                suffix = Path(upload.filename or "").suffix.lower().lstrip(".")
                filename_format = suffix if suffix in ingest.FORMATS else None
                shutil.copyfileobj(upload.stream, out, _CHUNK)
            else:
                shutil.copyfileobj(request.stream, out, _CHUNK)
            size = out.tell()
        if size == 0:
            raise InvalidInput({"file": ["The request has no data: send a CSV or Parquet file as the body."]})
        yield Path(temporary), filename_format
    except RequestEntityTooLarge:
        abort(413, message=f"The upload exceeds {limit} bytes (TRAINHUB_MAX_UPLOAD_BYTES).")
    finally:
        os.unlink(temporary)
