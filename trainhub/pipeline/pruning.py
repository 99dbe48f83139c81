"""Report a LightGBM fit's validation loss to whoever decides about pruning.

Pure: the callback knows nothing of Optuna or storage. It hands (round, validation
RMSE) to a `report` function that answers "stop this fit?"; the HPO service passes
one that does `trial.report` + `trial.should_prune` against the shared study.

Which rounds report is the one real decision here. Every report is a round trip to
the study's storage (measured on the 2-core box: ~8.5 ms for report + should_prune on
PostgreSQL against ~7 ms of boosting per round on ten years of hourly rows), so
reporting every round nearly doubles a trial. Reporting on a doubling schedule —
rounds 20, 40, 80, 160, 320, … — costs a handful of round trips per trial whatever
n_estimators is (three for the default 100), and every trial reports at the *same*
rounds, which is what a median pruner needs: it compares trials only at steps they
both reported. Each check can still cut at least half of the rounds a bad trial had
left to go. The first report waits for round 20 because before it a small learning
rate looks hopeless whatever it would become, and pruning it then teaches the sampler
the wrong lesson.
"""
from __future__ import annotations

import math
from collections.abc import Callable

# The first round that reports; later reports double it.
FIRST_REPORT_ROUND = 20


class Pruned(Exception):
    """The fit was stopped because `report` said its trial is not worth finishing."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"pruned at round {step} with validation RMSE {value:.6g}")
        self.step, self.value = step, value


def is_report_round(step: int, first: int = FIRST_REPORT_ROUND) -> bool:
    """True for rounds first, 2·first, 4·first, … (rounds counted from 1)."""
    if step < first or step % first:
        return False
    multiple = step // first
    return multiple & (multiple - 1) == 0


def pruning_callback(report: Callable[[int, float], bool], *, first: int = FIRST_REPORT_ROUND,
                     dataset: str = "validation", metric: str = "l2") -> Callable:
    """A LightGBM callback: on report rounds, pass the validation RMSE (the square
    root of l2, so it reads in the target's unit) to `report`; raise Pruned if it
    returns True. Needs `dataset` among the fit's eval sets with `metric` evaluated."""

    def callback(env) -> None:
        step = env.iteration + 1
        if not is_report_round(step, first):
            return
        for data_name, eval_name, value, _ in env.evaluation_result_list or ():
            if data_name == dataset and eval_name == metric:
                rmse = math.sqrt(value) if metric == "l2" else value
                if report(step, rmse):
                    raise Pruned(step, rmse)
                return
        raise ValueError(f"no {metric} on {dataset!r} to report; evaluated: "
                         f"{[(d, m) for d, m, *_ in env.evaluation_result_list or ()]}")

    return callback
