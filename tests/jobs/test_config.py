"""Celery's configuration from the environment: what the deployments' health checks rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.envconfig import Env
from app.jobs.config import celery_config

pytestmark = pytest.mark.database_free


def test_on_redis_worker_and_beat_answer_remote_control_pings() -> None:
    """`celery inspect ping` to worker@<host> and celerybeat@<host> is the compose health
    check and the Kubernetes probe of both."""
    config = celery_config(Env({"REDIS_URL": "redis://redis:6379/0"}))
    assert config["worker_enable_remote_control"] is True
    assert config["beat_enable_remote_control"] is True


def test_on_the_filesystem_broker_remote_control_stays_off(tmp_path: Path) -> None:
    env = Env({"CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path / "broker")})
    config = celery_config(env)
    assert config["broker_url"] == "filesystem://"
    assert config["worker_enable_remote_control"] is False
    assert config["beat_enable_remote_control"] is False
