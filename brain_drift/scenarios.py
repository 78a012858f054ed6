"""Simulated sessions, as recorded or after something changed (a drift to detect).

The drift kinds model what goes wrong with consumer headsets in the field:

- ``loose_electrode``: one channel (``C3`` by default) is badly connected in every
  session: extra broadband noise and line noise as :mod:`brain_sim.simulate` models a
  bad channel (the preset's factors), always on the same electrode;
- ``line_noise_x2``: the mains interference doubles (a new room, a charger nearby);
- ``amplitude_x10`` and ``amplitude_div10``: another board, or a unit error, scales the
  whole signal by 10 or by 1/10.

``none`` simulates sessions from the preset's own distribution (fresh sessions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from brain_core.errors import check_option
from brain_core.models import Recording
from brain_sim.simulate import make_subject, simulate_session, subject_label

DRIFT_KINDS = ("none", "loose_electrode", "line_noise_x2", "amplitude_x10", "amplitude_div10")

_SCALES = {"amplitude_x10": 10.0, "amplitude_div10": 0.1}


def simulate_sessions(
    n_sessions: int,
    *,
    drift: str = "none",
    preset: str = "realistic",
    seed: int = 0,
    phases: Sequence[str] = ("month",),
    repetitions: int = 3,
    first_subject: int = 1,
    loose_channel: str = "C3",
) -> Iterator[Recording]:
    """Simulate ``n_sessions`` sessions (one new subject each), recording by recording.

    Parameters
    ----------
    n_sessions : int
        Sessions to simulate; subjects ``S<first_subject>`` onwards.
    drift : str
        One of :data:`DRIFT_KINDS`.
    preset : str
        Noise preset of :mod:`brain_sim.simulate` (``easy``, ``realistic``, ``hard``).
    seed : int
        Same arguments and seed, same recordings; another seed draws other subjects.
    phases : sequence of str
        Phases recorded in each session.
    repetitions : int
        Showings of each item (3 keeps a month phase at about 20 s).
    first_subject : int
        Index of the first subject's label.
    loose_channel : str
        Channel of the ``loose_electrode`` drift.

    Yields
    ------
    Recording
        Data in V, ``(n_channels, n_times)``; the phases of a session in order.
    """
    drift = check_option("drift", drift, DRIFT_KINDS)
    for index in range(first_subject, first_subject + n_sessions):
        subject = make_subject(subject_label(index), preset=preset, seed=seed)
        if drift == "loose_electrode":
            subject = dataclasses.replace(subject, bad_channels=(loose_channel,))
        elif drift == "line_noise_x2":
            subject = dataclasses.replace(subject, line_v=2 * subject.line_v,
                                          bad_line_v=2 * subject.bad_line_v)
        recordings, _ = simulate_session(subject, preset=preset, repetitions=repetitions,
                                         seed=seed, phases=tuple(phases))
        for recording in recordings:
            if drift in _SCALES:
                recording = recording.model_copy(
                    update={"data": (recording.data * _SCALES[drift]).astype("float32")})
            yield recording
