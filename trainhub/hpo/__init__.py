"""Hyperparameter optimisation: one Optuna study per job, spread over the workers.

search.py holds what a trial does (sample, fit, report, score) and knows no storage;
service.py runs the study on PostgreSQL across the job's run and its helper tasks.
"""
from trainhub.hpo.service import (
    Found, HelperOutcome, optimise, run_helper, send_helpers, storage_url, study_name,
)

__all__ = ["Found", "HelperOutcome", "optimise", "run_helper", "send_helpers", "storage_url", "study_name"]
