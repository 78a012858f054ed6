"""Fixtures of brain_data's tests: initialised repositories, moto's S3 server."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

from brain_data.tests.helpers import free_port, init_repos, make_settings, serving


@pytest.fixture
def settings(tmp_path):
    """brain_data settings under tmp_path, both repositories initialised, local remotes."""
    values = make_settings(tmp_path)
    init_repos(values)
    return values


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    """moto's S3 API server (``moto_server``, a child process) on a free port; its URL."""
    port = free_port()
    argv = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
            "-p", str(port)]
    log_path = tmp_path_factory.mktemp("moto-logs") / "moto.log"
    with serving(argv, f"http://127.0.0.1:{port}", log_path, health="/", timeout_s=30) as url:
        yield url


@pytest.fixture
def s3_bucket(moto_s3, monkeypatch, request):
    """A fresh bucket on moto; dummy AWS credentials in this test process only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "brain-test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "brain-test-secret-key")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = "brain-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    response = httpx.put(f"{moto_s3}/{bucket}")
    assert response.status_code == 200, response.text
    return bucket


@pytest.fixture(params=["local", "s3"])
def remote_settings(request, tmp_path):
    """Settings with both repositories initialised; remotes a folder, or moto's S3."""
    if request.param == "local":
        settings = make_settings(tmp_path)
    else:
        endpoint = request.getfixturevalue("moto_s3")
        bucket = request.getfixturevalue("s3_bucket")
        settings = make_settings(tmp_path, raw_remote=f"s3://{bucket}/raw",
                                 feature_remote=f"s3://{bucket}/features",
                                 s3_endpoint_url=endpoint)
    init_repos(settings)
    return settings
