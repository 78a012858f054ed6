"""Settings of the drift service: defaults, the push URL secret, consistency checks."""

import pytest
from pydantic import ValidationError

from brain_drift.config import Settings

TOKEN = "Zq81XyTokenValue"
URL = f"https://kuma.example/api/push/{TOKEN}?status=up&msg=OK&ping="


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = Settings()
    assert (settings.port, settings.window_size, settings.min_sessions) == (8003, 20, 10)
    assert settings.push_url is None
    assert settings.resolved_reference_path.name == "reference.parquet"


def test_the_push_url_is_a_secret(tmp_path):
    settings = Settings(push_url=URL)
    assert settings.push_url.get_secret_value() == URL
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert Settings(push_url="  ").push_url is None  # compose passes an empty value


def test_the_push_url_from_a_file(tmp_path):
    secret = tmp_path / "push_url"
    secret.write_text(URL + "\n")
    assert Settings(push_url_file=secret).push_url.get_secret_value() == URL
    secret.write_text("")
    assert Settings(push_url_file=secret).push_url is None
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(push_url_file=tmp_path / "missing")
    with pytest.raises(ValidationError, match="not both"):
        Settings(push_url=URL, push_url_file=secret)


def test_a_bad_push_url_is_refused_without_echoing_it():
    with pytest.raises(ValidationError, match="http:// or https://") as err:
        Settings(push_url=f"ftp://kuma.example/api/push/{TOKEN}")
    assert TOKEN not in str(err.value)


def test_inconsistent_values_are_refused():
    with pytest.raises(ValidationError, match="min_sessions"):
        Settings(window_size=5, min_sessions=10)
    with pytest.raises(ValidationError, match="recovery_alpha"):
        Settings(family_alpha=0.1, recovery_alpha=0.05)


def test_a_csv_reference_is_found(tmp_path):
    (tmp_path / "reference.csv").write_text("x\n")
    assert Settings(reports_dir=tmp_path).resolved_reference_path == tmp_path / "reference.csv"
    chosen = tmp_path / "elsewhere.parquet"
    assert Settings(reports_dir=tmp_path, reference_path=chosen).resolved_reference_path == chosen
