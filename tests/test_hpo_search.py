"""A trial on its own: search specs to Optuna suggestions, and the objective in an
in-memory study (no storage, no workers)."""
from __future__ import annotations

from datetime import datetime, timezone

import optuna
import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.hpo.search import Objective, TrialHooks, make_pruner, make_sampler, prepare_split, suggest
from trainhub.hyperparams import DEFAULT_SEARCH_SPACE, search_space
from trainhub.pipeline.hooks import Cancelled

UTC = timezone.utc
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def split():
    frame = generate_demo_frame("forecast_basic", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    return prepare_split(frame, target="load_kw", horizon=24, validation_split=0.2, test_split=0.1)


def test_each_spec_type_becomes_its_optuna_distribution():
    space = {
        "num_leaves": {"type": "int", "low": 8, "high": 64, "step": 8},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0, "step": 0.1},
        "learning_rate": {"type": "log_float", "low": 0.01, "high": 0.3},
        "boosting_type": {"type": "categorical", "choices": ["gbdt", "dart"]},
    }
    study = optuna.create_study(sampler=make_sampler())
    for _ in range(20):
        trial = study.ask()
        params = suggest(trial, space)
        study.tell(trial, 0.0)
        assert params["num_leaves"] in range(8, 65, 8)
        assert round(params["subsample"] * 10) == pytest.approx(params["subsample"] * 10)
        assert 0.01 <= params["learning_rate"] <= 0.3
        assert params["boosting_type"] in ("gbdt", "dart")
    distributions = study.trials[0].distributions
    assert distributions["learning_rate"].log and distributions["num_leaves"].step == 8
    assert distributions["boosting_type"].choices == ("gbdt", "dart")


def test_without_specs_the_default_space_is_searched_around_fixed_values():
    fixed, space = search_space({"num_leaves": 40, "n_estimators": 300})
    assert fixed == {"num_leaves": 40, "n_estimators": 300}
    assert set(space) == set(DEFAULT_SEARCH_SPACE) - {"num_leaves"}
    fixed, space = search_space({"learning_rate": {"type": "float", "low": 0.05, "high": 0.2}})
    assert fixed == {} and list(space) == ["learning_rate"]


def test_objective_scores_validation_rmse_and_the_pruner_cuts_bad_trials(split):
    fixed, space = search_space({"n_estimators": 200})
    objective = Objective(split, fixed=fixed, space=space, early_stopping_rounds=10, num_threads=1)
    study = optuna.create_study(direction="minimize", sampler=make_sampler(), pruner=make_pruner())
    study.optimize(objective, n_trials=20)
    states = [trial.state for trial in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 5
    # Reports land on the doubling rounds only, the same ones for every trial.
    assert {step for trial in study.trials for step in trial.intermediate_values} <= {20, 40, 80, 160}
    assert 0 < study.best_value < 200  # kW of RMSE on a load around a few hundred kW


def test_one_seed_repeats_the_same_study(split):
    fixed, space = search_space({})

    def run():
        objective = Objective(split, fixed=fixed, space=space, early_stopping_rounds=10, num_threads=1)
        study = optuna.create_study(direction="minimize", sampler=make_sampler(7), pruner=make_pruner())
        study.optimize(objective, n_trials=6)
        return [(t.params, t.value) for t in study.trials]

    assert run() == run()


def test_objective_stops_when_the_job_is_cancelled(split):
    checks = []

    def check():
        checks.append(1)
        if len(checks) == 5:
            raise Cancelled("cancelled")

    fixed, space = search_space({})
    objective = Objective(split, fixed=fixed, space=space, early_stopping_rounds=10, num_threads=1,
                          hooks=TrialHooks(check))
    study = optuna.create_study()
    with pytest.raises(Cancelled):
        objective(study.ask())
    assert len(checks) == 5  # stopped at the fifth boosting round's check, not at the end
