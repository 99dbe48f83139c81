"""A small REST client for the TrainHub API, used by the CLI's client commands."""
from __future__ import annotations

from typing import Any

import requests


class ApiError(Exception):
    """A request failed; the message is one line a person can act on."""


class TrainHubClient:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError:
            raise ApiError(f"cannot reach the TrainHub API at {self.base_url} "
                           "(is it running? set TRAINHUB_API_URL)") from None
        except requests.Timeout:
            raise ApiError(f"the TrainHub API at {self.base_url} did not answer in {self.timeout:.0f}s") from None
        if resp.status_code == 401:
            raise ApiError("the API key was refused: set TRAINHUB_API_KEY to a key from "
                           "`trainhub tenants create NAME`")
        if resp.status_code >= 400:
            raise ApiError(_describe(resp))
        return resp.json() if resp.content else None

    def start_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/ai/training/jobs/start", json=body)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/ai/training/jobs/{job_id}")

    def list_jobs(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        return self.request("GET", "/ai/training/jobs", params=params)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/ai/training/jobs/{job_id}")

    def logs(self, job_id: str, *, tail: int = 100) -> dict[str, Any]:
        return self.request("GET", f"/ai/training/jobs/{job_id}/logs", params={"tail": tail})


def _describe(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"
    if "errors" in body:
        return f"HTTP {resp.status_code}: " + "; ".join(_flatten(body["errors"]))
    return f"HTTP {resp.status_code}: {body.get('message') or body.get('status')}"


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        out: list[str] = []
        for key, value in errors.items():
            # Drop the webargs location level ("json", "query"): people know where they sent it.
            name = prefix if key in {"json", "query", "form", "files"} and not prefix else (
                f"{prefix}.{key}" if prefix else str(key))
            out.extend(_flatten(value, name))
        return out
    if isinstance(errors, list):
        return [f"{prefix}: {e}" if prefix else str(e) for e in errors]
    return [f"{prefix}: {errors}"]
