"""PNG plots of an experiment: its learning curve and its forecast against the actual
values of the test window.

Figures are built with matplotlib's object API on the Agg canvas, never pyplot: pyplot
keeps global figure state, which threads of a web server would share. matplotlib is
imported on first use, so processes that never draw (workers) do not pay for it.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from trainhub import experiments
from trainhub.errors import NotFound

LEARNING_CURVE_SERIES = ("train_loss", "validation_loss")
# The forecast plot's lower panel zooms into the last week of the window.
ZOOM_HOURS = 7 * 24
_DPI = 110


class _RenderedCache:
    """PNGs of completed experiments, which never change, so each is drawn once per
    process (a draw takes a few hundred milliseconds); looked up only after the
    experiment was read under the caller's tenant scope."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[UUID, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_draw(self, key: tuple[UUID, str], cacheable: bool, draw: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        png = draw()
        if cacheable:
            with self._lock:
                self._entries[key] = png
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return png


rendered = _RenderedCache(64)


def learning_curve_png(session: Session, *, experiment_id: UUID, tenant_scope: str | None) -> bytes:
    detail = experiments.get_experiment(session, experiment_id=experiment_id, tenant_scope=tenant_scope)
    return rendered.get_or_draw((experiment_id, "learning_curve"), detail.status == "completed",
                                lambda: _draw_learning_curve(session, detail))


def forecast_png(session: Session, *, experiment_id: UUID, tenant_scope: str | None) -> bytes:
    detail = experiments.get_experiment(session, experiment_id=experiment_id, tenant_scope=tenant_scope)
    return rendered.get_or_draw((experiment_id, "forecast"), detail.status == "completed",
                                lambda: _draw_forecast(session, detail))


def _draw_learning_curve(session: Session, detail: experiments.ExperimentDetail) -> bytes:
    experiment_id, tenant_scope = detail.experiment_id, detail.tenant_id
    curves = {}
    for name in LEARNING_CURVE_SERIES:
        if name in detail.metric_names:
            series = experiments.metric_series(session, experiment_id=experiment_id,
                                               tenant_scope=tenant_scope, name=name)
            curves[name] = ([p.step for p in series.points], [p.value for p in series.points])
    if not curves:
        raise NotFound(f"Experiment {experiment_id} has no learning curve: only boosted models record "
                       f"per-iteration loss ({detail.model_type} models do not, or it has not trained yet)")
    best = detail.final_metrics.get("best_iteration")
    return render_learning_curve(curves, best_iteration=best, title=_title(detail))


def _draw_forecast(session: Session, detail: experiments.ExperimentDetail) -> bytes:
    window = experiments.get_test_window(session, experiment_id=detail.experiment_id,
                                         tenant_scope=detail.tenant_id)
    return render_forecast(window, model_type=detail.model_type, metrics=detail.final_metrics,
                           title=_title(detail))


def _title(detail: experiments.ExperimentDetail) -> str:
    return f"{detail.model_name} · {detail.model_id or detail.experiment_id}"


def _figure(height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _time_axis(ax) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_learning_curve(curves: dict[str, tuple[list[int], list[float]]], *, best_iteration: Any,
                          title: str) -> bytes:
    """Loss per boosting round (LightGBM's l2 on the training and validation rows)."""
    figure = _figure(4.8)
    ax = figure.add_subplot()
    styles = {"train_loss": ("tab:blue", "train"), "validation_loss": ("tab:orange", "validation")}
    for name, (steps, values) in curves.items():
        color, label = styles.get(name, (None, name))
        ax.plot(np.asarray(steps) + 1, values, color=color, label=label, linewidth=1.6)
    if isinstance(best_iteration, (int, float)) and best_iteration > 0:
        ax.axvline(best_iteration, color="0.4", linestyle="--", linewidth=1,
                   label=f"best iteration ({int(best_iteration)})")
    values = np.concatenate([np.asarray(v, dtype=float) for _, v in curves.values()])
    positive = values[values > 0]
    # Loss falls by orders of magnitude in the first rounds; a log axis keeps the
    # later rounds, where early stopping decides, readable.
    if len(positive) == len(values) and positive.max() / positive.min() > 20:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("boosting iteration")
    ax.set_ylabel("loss (mean squared error)")
    ax.set_title(f"Learning curve — {title}", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _png(figure)


def render_forecast(window: experiments.TestWindow, *, model_type: str, metrics: dict[str, Any],
                    title: str) -> bytes:
    """Forecast: predicted against actual over the whole test window, and the last week
    up close. Anomaly: the series with its most anomalous hours marked, and the scores."""
    ts = pd.to_datetime(pd.Series(window.ts), utc=True) + pd.Timedelta(hours=window.horizon)
    actual = np.asarray(window.actual, dtype=float)
    predicted = np.asarray(window.predicted, dtype=float)
    figure = _figure(7.2)
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 2))
    if model_type == "forecast":
        summary = ", ".join(f"{k.upper()} {metrics[k]:.3g}" for k in ("mae", "rmse", "mape", "r2")
                            if isinstance(metrics.get(k), (int, float)))
        for ax, part in ((top, slice(None)), (bottom, slice(-ZOOM_HOURS, None))):
            ax.plot(ts[part], actual[part], color="black", linewidth=1.0, label="actual")
            ax.plot(ts[part], predicted[part], color="tab:orange", linewidth=1.0, alpha=0.9,
                    label=f"forecast ({window.horizon} h ahead)")
            ax.set_ylabel(window.target)
            ax.grid(True, alpha=0.3)
            _time_axis(ax)
        top.set_title(f"Forecast vs actual on the test window — {title}\n{summary}", fontsize=11)
        top.legend(loc="upper left")
        bottom.set_title("last 7 days", fontsize=10)
    else:
        rate = metrics.get("anomaly_rate")
        share = rate if isinstance(rate, (int, float)) and 0 < rate < 1 else 0.01
        threshold = np.quantile(predicted, 1 - share)
        flagged = predicted >= threshold
        top.plot(ts, actual, color="black", linewidth=0.8, label=window.target)
        top.scatter(ts[flagged], actual[flagged], color="tab:red", s=14, zorder=3,
                    label=f"flagged: the top {share:.1%} of scores")
        top.set_ylabel(window.target)
        top.legend(loc="upper left")
        top.set_title(f"Anomaly scores on the test window — {title}", fontsize=11)
        bottom.plot(ts, predicted, color="tab:purple", linewidth=0.8)
        bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=1)
        bottom.set_ylabel("anomaly score")
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            _time_axis(ax)
    bottom.set_xlabel("time (UTC)")
    return _png(figure)
