"""Device profiles for BrainFlow boards, read from BoardShim's own descriptors."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

from brain_core.errors import InvalidInputError

#: Boards BRAIN knows by a short name (BrainFlow's BoardIds member names in lower case).
KNOWN_BOARDS = {
    "crown": "CROWN_BOARD",
    "muse_2": "MUSE_2_BOARD",
    "muse_s": "MUSE_S_BOARD",
    "cyton": "CYTON_BOARD",
    "synthetic": "SYNTHETIC_BOARD",
    "playback": "PLAYBACK_FILE_BOARD",
}


@dataclass(frozen=True)
class DeviceProfile:
    """What BRAIN needs to know about a board to read and label its EEG rows."""

    name: str
    board_id: int
    sfreq: float
    ch_names: tuple[str, ...]
    eeg_rows: tuple[int, ...]
    timestamp_row: int
    marker_row: int

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)


def _board_shim():
    # BrainFlow (5.x) on Python 3.11 locates its shared library through pkg_resources,
    # which warns on import; the warning is BrainFlow's, not ours.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        from brainflow.board_shim import BoardIds, BoardShim

        BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD)  # loads the library once
    return BoardIds, BoardShim


@cache
def device_profile(board: str | int) -> DeviceProfile:
    """Profile of a BrainFlow board given its short name (``crown``) or board id (23).

    Raises
    ------
    InvalidInputError
        If the board is unknown or has no EEG channels.
    """
    board_ids, board_shim = _board_shim()
    if isinstance(board, str) and not board.lstrip("-").isdigit():
        key = KNOWN_BOARDS.get(board.lower(), board.upper())
        try:
            board_id = int(board_ids[key])
        except KeyError:
            raise InvalidInputError(
                f"Invalid value for the 'board' parameter. Allowed values are "
                f"{', '.join(repr(k) for k in KNOWN_BOARDS)} or a BrainFlow board id, "
                f"but got {board!r} instead.",
                field="board",
            ) from None
    else:
        board_id = int(board)
    try:
        descr = board_shim.get_board_descr(board_id)
    except Exception as err:  # BrainFlowError or ValueError for an id it does not know
        raise InvalidInputError(
            f"Invalid value for the 'board' parameter: BrainFlow has no board {board!r}.",
            field="board",
        ) from err
    if "eeg_channels" not in descr:
        raise InvalidInputError(
            f"Board {board!r} ({descr.get('name')}) has no EEG channels.", field="board"
        )
    names = descr.get("eeg_names")
    rows = tuple(descr["eeg_channels"])
    ch_names = tuple(names.split(",")) if names else tuple(f"EEG{i + 1}" for i in range(len(rows)))
    return DeviceProfile(
        name=descr["name"],
        board_id=board_id,
        sfreq=float(descr["sampling_rate"]),
        ch_names=ch_names,
        eeg_rows=rows,
        timestamp_row=int(descr["timestamp_channel"]),
        marker_row=int(descr["marker_channel"]),
    )


#: The Neurosity Crown's montage, as its BrainFlow descriptor gives it.
CROWN_CH_NAMES = ("CP3", "C3", "F5", "PO3", "PO4", "F6", "C4", "CP4")
CROWN_SFREQ = 256.0
CROWN_BOARD_ID = 23
