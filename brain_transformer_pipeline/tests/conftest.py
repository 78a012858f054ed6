"""Fixtures of the transformer pipeline's tests."""

from __future__ import annotations

import sys

import pytest

from brain_data.tests.helpers import free_port, init_repos, make_settings, serving
from brain_transformer_pipeline.config import Settings


@pytest.fixture(scope="session")
def transform_url(tmp_path_factory):
    """A real transform service (``python -m brain_transform_service``) on a free port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("transform-logs") / "transform.log"
    with serving([sys.executable, "-m", "brain_transform_service"],
                 f"http://127.0.0.1:{port}", log_path,
                 env={"BRAIN_TRANSFORM_PORT": str(port)}) as url:
        yield url


@pytest.fixture
def data_settings(tmp_path):
    """brain_data settings with both repositories initialised on local remotes."""
    settings = make_settings(tmp_path)
    init_repos(settings)
    return settings


@pytest.fixture
def pipeline_settings(data_settings, transform_url):
    return Settings(raw_repo=data_settings.raw_repo, feature_repo=data_settings.feature_repo,
                    transform_url=transform_url, batch_size=4)
