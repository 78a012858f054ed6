import pytest

from brain_core.devices import CROWN_CH_NAMES, device_profile
from brain_core.errors import InvalidInputError
from brain_core.settings import read_secret


@pytest.mark.parametrize(
    ("board", "name", "sfreq", "n_channels"),
    [
        ("crown", "CrownOSC", 256.0, 8),
        (23, "CrownOSC", 256.0, 8),
        ("muse_2", "Muse2", 256.0, 4),
        ("muse_s", "MuseS", 256.0, 4),
        ("cyton", "Cyton", 250.0, 8),
        ("synthetic", "Synthetic", 250.0, 16),
    ],
)
def test_profiles_come_from_brainflow(board, name, sfreq, n_channels):
    profile = device_profile(board)
    assert profile.name == name
    assert profile.sfreq == sfreq
    assert profile.n_channels == n_channels
    assert len(profile.eeg_rows) == n_channels


def test_crown_profile_matches_the_contract():
    crown = device_profile("crown")
    assert crown.ch_names == CROWN_CH_NAMES
    assert crown.board_id == 23
    assert crown.timestamp_row == 10 and crown.marker_row == 11


def test_unknown_board():
    with pytest.raises(InvalidInputError, match="'board' parameter. Allowed values are 'crown'"):
        device_profile("toaster")
    with pytest.raises(InvalidInputError, match="BrainFlow has no board 9999"):
        device_profile(9999)


def test_read_secret_from_env_and_file(tmp_path):
    assert read_secret("X_PASSWORD", {}) is None
    assert read_secret("X_PASSWORD", {"X_PASSWORD": "a-long-secret"}) == "a-long-secret"
    path = tmp_path / "pw"
    path.write_text("from-a-file-secret\n")
    assert read_secret("X_PASSWORD", {"X_PASSWORD_FILE": str(path)}) == "from-a-file-secret"
    with pytest.raises(InvalidInputError, match="placeholder"):
        read_secret("X_PASSWORD", {"X_PASSWORD": "changeme"})
    with pytest.raises(InvalidInputError, match="not both"):
        read_secret("X_PASSWORD", {"X_PASSWORD": "a-long-secret", "X_PASSWORD_FILE": "p"})
    with pytest.raises(InvalidInputError, match="cannot be read"):
        read_secret("X_PASSWORD", {"X_PASSWORD_FILE": str(tmp_path / "missing")})
