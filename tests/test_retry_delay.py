"""The first retry delay: 2 minutes, or PAYROLL_RETRY_DELAY_SECONDS (the soak's short delays)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payroll_etl.airflow.dag_factory import build_dag, retry_delay
from payroll_etl.config import load_config


def test_tasks_wait_two_minutes_unless_the_environment_says_otherwise(monkeypatch):
    pipeline = load_config()
    cfg = pipeline.employers[0]
    monkeypatch.delenv("PAYROLL_RETRY_DELAY_SECONDS", raising=False)
    assert {t.retry_delay for t in build_dag(cfg, pipeline).tasks} == {timedelta(minutes=2)}
    monkeypatch.setenv("PAYROLL_RETRY_DELAY_SECONDS", "3")
    assert {t.retry_delay for t in build_dag(cfg, pipeline).tasks} == {timedelta(seconds=3)}


@pytest.mark.parametrize("raw", ["soon", "-1"])
def test_a_retry_delay_that_is_not_seconds_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv("PAYROLL_RETRY_DELAY_SECONDS", raw)
    with pytest.raises(ValueError, match="PAYROLL_RETRY_DELAY_SECONDS must be a number of seconds"):
        retry_delay()
