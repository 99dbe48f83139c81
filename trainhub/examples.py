"""The seed's example job request: the demo job, the CLI's default, tests and benches."""
from __future__ import annotations

import copy
from typing import Any

SEED_JOB_REQUEST: dict[str, Any] = {
    "tenant_id": "tenant-123",
    "model_type": "forecast",
    "model_name": "load_forecast",
    "config": {
        "start_date": "2025-01-01T00:00:00Z",
        "end_date": "2025-10-01T00:00:00Z",
        "feature_set": "forecast_basic",
        "target_variable": "load_kw",
        "horizon": 24,
        "enable_hpo": False,
        "validation_split": 0.2,
        "test_split": 0.1,
    },
    "priority": "normal",
}


def job_request(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the seed request without tenant_id (the API key's tenant is
    used), with top-level fields replaced by `overrides`."""
    body = copy.deepcopy(SEED_JOB_REQUEST)
    del body["tenant_id"]
    body.update(overrides)
    return body
