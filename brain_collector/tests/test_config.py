"""Settings: the original variables without a prefix, the new ones with BRAIN_COLLECTOR_."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from brain_collector.config import CREDENTIALS_HELP, Settings, parse_items
from brain_core.errors import InvalidInputError


def test_original_variables_keep_their_names_and_meaning(clean_env, monkeypatch):
    monkeypatch.setenv("API_URL", "http://receiver.lab:8000/upload/")
    monkeypatch.setenv("API_USERNAME", "lab1")
    monkeypatch.setenv("API_PASSWORD", "a-long-real-password")
    monkeypatch.setenv("TIME_INTERVAL", "0.6")
    monkeypatch.setenv("START_YEAR", "1960")
    monkeypatch.setenv("END_YEAR", "1999")
    monkeypatch.setenv("BRAIN_COLLECTOR_BOARD", "emulator")
    monkeypatch.setenv("BRAIN_COLLECTOR_CROWN_IP_PORT", "9100")
    monkeypatch.setenv("BRAIN_COLLECTOR_SIM_BIRTHDATE", "1975-04-30")
    settings = Settings(_env_file=None)
    assert settings.api_url == "http://receiver.lab:8000"  # the legacy route is the receiver's
    assert settings.credentials() == ("lab1", "a-long-real-password")
    assert settings.time_interval == 0.6
    assert settings.years == (1960, 1999)
    assert settings.board == "emulator" and settings.crown_ip_port == 9100
    assert settings.sim_birthdate == date(1975, 4, 30)
    assert "a-long-real-password" not in repr(settings)


def test_a_dotenv_file_is_read(clean_env, tmp_path):
    env = tmp_path / ".env"
    env.write_text("API_USERNAME=lab2\nAPI_PASSWORD=another-real-password\n"
                   "BRAIN_COLLECTOR_REPETITIONS=4\nBRAIN_COLLECTOR_DAYS=1-4,17\n")
    settings = Settings(_env_file=env)
    assert settings.upload_enabled and settings.repetitions == 4
    assert settings.day_items == (1, 2, 3, 4, 17)


def test_there_is_no_default_password(clean_env):
    settings = Settings(_env_file=None)
    assert not settings.upload_enabled
    with pytest.raises(InvalidInputError, match="Uploads are off: set API_USERNAME and "
                                                "API_PASSWORD"):
        settings.credentials()
    assert "brain receiver add-collector" in CREDENTIALS_HELP


def test_placeholder_passwords_are_refused(clean_env, monkeypatch):
    monkeypatch.setenv("API_PASSWORD", "changeme")
    with pytest.raises(ValidationError, match="placeholder or shorter than 8"):
        Settings(_env_file=None)


def test_password_from_a_file(clean_env, monkeypatch, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("file-based-password\n")
    monkeypatch.setenv("API_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("API_USERNAME", "lab3")
    assert Settings(_env_file=None).credentials() == ("lab3", "file-based-password")


@pytest.mark.parametrize(("env", "message"), [
    ({"END_YEAR": "1940"}, "END_YEAR \\(1940\\) must be after START_YEAR"),
    ({"START_YEAR": "1800"}, "outside the 'year' phase's range"),
    ({"BRAIN_COLLECTOR_BOARD": "muse"}, "crown"),
    ({"BRAIN_COLLECTOR_DAYS": "0-5"}, "must lie within 1-31"),
    ({"BRAIN_COLLECTOR_DISPLAY_S": "0.6"}, "must not exceed TIME_INTERVAL"),
    ({"API_URL": "receiver:8000"}, "API_URL must be an http"),
])
def test_bad_values_fail_early_naming_the_variable(clean_env, monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises((ValidationError, InvalidInputError), match=message):
        Settings(_env_file=None)


def test_parse_items():
    assert parse_items("1-3, 7", 1, 31, "X") == (1, 2, 3, 7)
    assert parse_items("12,1", 1, 12, "X") == (1, 12)
    with pytest.raises(InvalidInputError, match="'a' is not a number"):
        parse_items("1,a", 1, 31, "X")
    with pytest.raises(InvalidInputError, match="at least 2 items"):
        parse_items("5", 1, 31, "X")
    with pytest.raises(InvalidInputError, match="must lie within 1-12"):
        parse_items("3-1", 1, 12, "X")
