"""Labelled epochs for training and evaluation: BIDS recordings + birthdates -> targets.

Each recording (one phase of one session) goes through the transform service's
:func:`~brain_transform_service.transform.transform_recording` - the same code that
serves predictions - and becomes a :class:`LabelledPhase`: its :class:`EpochSet`, the
items that were shown and the probe (the subject's own day, month or year, or None when
it was not shown: an "innocent" year phase). Targets are ``y = items == probe``.

Birthdates are kept in :attr:`LabelledDataset.birthdates` only to derive the probes;
no repr shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brain_core.errors import InvalidInputError
from brain_core.models import PHASES, Recording

if TYPE_CHECKING:
    from brain_transform_service.transform import EpochSet, TransformConfig

log = logging.getLogger(__name__)


def own_item(birthdate: date, phase: str) -> int:
    """The day, month or year of ``birthdate``."""
    return {"day": birthdate.day, "month": birthdate.month, "year": birthdate.year}[phase]


@dataclass(frozen=True)
class LabelledPhase:
    """One phase of one session as epochs with probe targets.

    Attributes
    ----------
    epochs : EpochSet
        The transform's output, ``data`` (n_epochs, n_channels, n_times) in volts.
    shown_items : tuple of int
        Every item the paradigm showed (also those whose epochs were all lost).
    probe : int | None
        The subject's own item, or None when it was not among ``shown_items``.
    """

    epochs: Any
    shown_items: tuple[int, ...]
    probe: int | None

    @property
    def subject(self) -> str:
        return str(self.epochs.subject)

    @property
    def phase(self) -> str:
        return str(getattr(self.epochs.phase, "value", self.epochs.phase))

    @property
    def session_id(self) -> str:
        return str(self.epochs.session_id)

    @property
    def innocent(self) -> bool:
        """True when no shown item is the subject's own (no probe in this phase)."""
        return self.probe is None

    @property
    def y(self) -> np.ndarray:
        """Targets, shape (n_epochs,): 1 for probe epochs, 0 otherwise."""
        items = np.asarray(self.epochs.items)
        if self.probe is None:
            return np.zeros(items.shape, dtype=int)
        return (items == self.probe).astype(int)

    @property
    def probe_index(self) -> int | None:
        """Index of the probe in ``shown_items``, None without a probe."""
        return None if self.probe is None else self.shown_items.index(self.probe)

    def repetition_index(self) -> np.ndarray:
        """0 for each item's first showing, 1 for its second, ... shape (n_epochs,)."""
        return repetition_index(self.epochs.items, self.epochs.onsets)

    def __repr__(self) -> str:
        return (f"LabelledPhase(subject={self.subject!r}, phase={self.phase!r}, "
                f"n_epochs={len(self.epochs.items)}, innocent={self.innocent})")


def repetition_index(items: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Rank of each epoch among the epochs of its item, in onset order (0-based)."""
    items = np.asarray(items)
    order = np.lexsort((np.asarray(onsets, dtype=float), items))
    ranks = np.empty(len(items), dtype=int)
    sorted_items = items[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_items)) + 1]
    counts = np.diff(np.r_[starts, len(items)])
    ranks[order] = np.arange(len(items)) - np.repeat(starts, counts)
    return ranks


@dataclass(frozen=True)
class LabelledDataset:
    """Labelled phases sharing one montage, sampling rate and epoch window."""

    phases: tuple[LabelledPhase, ...]
    birthdates: Mapping[str, date] = field(repr=False)
    ch_names: tuple[str, ...]
    sfreq: float
    times: np.ndarray = field(repr=False)
    source: str | None = None
    #: The TransformConfig the epochs were made with (None: the transform's defaults).
    config: Any = None

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(sorted({p.subject for p in self.phases}))

    @property
    def innocent_subjects(self) -> tuple[str, ...]:
        return tuple(sorted({p.subject for p in self.phases
                             if p.phase == "year" and p.innocent}))

    def __len__(self) -> int:
        return len(self.phases)

    def with_birthdates(self, birthdates: Mapping[str, date]) -> LabelledDataset:
        """The same epochs with probes derived from other ``birthdates``."""
        phases = tuple(_label_phase(p.epochs, p.shown_items, birthdates[p.subject])
                       for p in self.phases)
        return replace(self, phases=phases, birthdates=dict(birthdates))

    def shuffled(self, rng: np.random.Generator) -> LabelledDataset:
        """Birthdates shuffled across subjects so that no target matches the EEG.

        The shuffled-label control: each subject gets another subject's birthdate, and
        the permutation is redrawn until no subject's new day, month or year equals its
        own (as far as possible: when two subjects share a month no permutation may
        avoid it, and then the one with the fewest matches is kept). A plain shuffle
        would give a subject its own month one time in twelve, leaving real P300s among
        the shuffled targets; an honest evaluation on this control must come out at
        chance.
        """
        subjects = list(self.subjects)
        if len(subjects) < 2:
            raise InvalidInputError(
                "Shuffling labels across subjects needs at least 2 subjects, got "
                f"{len(subjects)}.", field="subjects")
        own = np.array([[own_item(self.birthdates[s], ph) for ph in PHASES]
                        for s in subjects])
        best, best_matches = None, None
        for _ in range(2000):
            perm = rng.permutation(len(subjects))
            if np.any(perm == np.arange(len(subjects))):
                continue
            matches = int(np.sum(own[perm] == own))
            if best_matches is None or matches < best_matches:
                best, best_matches = perm, matches
            if matches == 0:
                break
        if best is None:  # 2 subjects always admit the swap; this is belt and braces
            best = np.roll(np.arange(len(subjects)), 1)
        moved = {s: self.birthdates[subjects[k]] for s, k in zip(subjects, best, strict=True)}
        return self.with_birthdates(moved)

    def subset(self, subjects: Iterable[str]) -> LabelledDataset:
        """Only the phases of ``subjects``."""
        keep = set(subjects)
        return replace(self, phases=tuple(p for p in self.phases if p.subject in keep))


def _label_phase(epochs: EpochSet, shown_items: Sequence[int], birthdate: date
                 ) -> LabelledPhase:
    phase = str(getattr(epochs.phase, "value", epochs.phase))
    value = own_item(birthdate, phase)
    shown = tuple(int(v) for v in shown_items)
    return LabelledPhase(epochs=epochs, shown_items=shown,
                         probe=value if value in shown else None)


def labelled_phases(recordings: Iterable[Recording], birthdates: Mapping[str, date], *,
                    config: TransformConfig | None = None, source: str | None = None,
                    progress: bool = False, total: int | None = None) -> LabelledDataset:
    """Transform labelled recordings into a :class:`LabelledDataset`.

    Parameters
    ----------
    recordings : iterable of Recording
        Any phases of any sessions; those of subjects without a birthdate are skipped.
    birthdates : mapping of str to date
        Subject label to birthdate.
    config : TransformConfig | None
        Passed to ``transform_recording`` (None: the transform's defaults).
    source : str | None
        Where the data came from (for reports).
    progress : bool
        Show a tqdm bar over recordings.
    total : int | None
        Number of recordings, for the bar.

    Raises
    ------
    InvalidInputError
        When no recording is labelled, or when recordings disagree on channels,
        sampling rate or epoch times.
    """
    from brain_transform_service.transform import transform_recording

    if progress:
        from tqdm.auto import tqdm

        recordings = tqdm(recordings, total=total, desc="transforming", unit="recording")
    phases: list[LabelledPhase] = []
    skipped: set[str] = set()
    reference: tuple[str, Any, Any] | None = None
    for recording in recordings:
        if recording.subject not in birthdates:
            skipped.add(recording.subject)
            continue
        epochs = transform_recording(recording, config)
        if len(epochs.items) == 0:
            log.warning("recording %s/%s gave no epochs; skipped", recording.subject,
                        recording.phase.value)
            continue
        signature = (tuple(epochs.ch_names), float(epochs.sfreq), np.asarray(epochs.times))
        if reference is None:
            reference = (recording.subject, recording.phase.value, signature)
        else:
            _check_same(reference, recording, signature)
        phases.append(_label_phase(epochs, recording.paradigm.items,
                                   birthdates[recording.subject]))
    if skipped:
        log.warning("%d subject(s) without a birthdate were skipped", len(skipped))
    if not phases:
        raise InvalidInputError(
            f"No labelled recording found{f' in {source}' if source else ''}: evaluation "
            "needs recordings whose subject has a birthdate in participants.tsv.",
            field="bids_root")
    assert reference is not None
    ch_names, sfreq, times = reference[2]
    return LabelledDataset(phases=tuple(phases), birthdates=dict(birthdates),
                           ch_names=ch_names, sfreq=sfreq, times=times, source=source,
                           config=config)


def _check_same(reference: tuple[str, str, tuple], recording: Recording,
                signature: tuple) -> None:
    ref_subject, ref_phase, (ch_names, sfreq, times) = reference
    where = f"{recording.subject}/{recording.phase.value}"
    first = f"{ref_subject}/{ref_phase}"
    if signature[0] != ch_names:
        raise InvalidInputError(
            f"Every recording of a dataset must have the same channels: {where} has "
            f"{list(signature[0])} but {first} has {list(ch_names)}.", field="ch_names")
    if signature[1] != sfreq:
        raise InvalidInputError(
            f"Every recording of a dataset must give the same epoch sampling rate: {where} "
            f"gives {signature[1]:g} Hz but {first} gives {sfreq:g} Hz.", field="sfreq")
    if signature[2].shape != times.shape or not np.allclose(signature[2], times, atol=1e-6):
        raise InvalidInputError(
            f"Every recording of a dataset must give the same epoch times: {where} gives "
            f"{signature[2].size} samples from {signature[2][0]:g} s, {first} gives "
            f"{times.size} from {times[0]:g} s.", field="times")


def load_dataset(bids_root: Path | str, *, config: TransformConfig | None = None,
                 subjects: Sequence[str] | None = None, progress: bool = True
                 ) -> LabelledDataset:
    """Read a labelled BIDS dataset (DESIGN.md's format) into a :class:`LabelledDataset`.

    Parameters
    ----------
    bids_root : path
        BIDS root with participants.tsv carrying a ``birthdate`` column.
    config : TransformConfig | None
        Transform settings (None: defaults).
    subjects : sequence of str | None
        Only these subjects.
    progress : bool
        Show a progress bar.
    """
    from brain_core import bids

    root = Path(bids_root)
    if not root.is_dir():
        raise InvalidInputError(
            f"Invalid value for the 'bids_root' parameter: {str(root)!r} is not a "
            "directory.", field="bids_root")
    birthdates = bids.read_labels(root)
    if not birthdates:
        raise InvalidInputError(
            f"{str(root)!r} holds no labels: participants.tsv needs a 'birthdate' column "
            "(YYYY-MM-DD) for evaluation.", field="bids_root")
    paths = bids.find_recordings(root, subjects=subjects, phases=PHASES)
    recordings = (bids.read_recording(path) for path in paths)
    return labelled_phases(recordings, birthdates, config=config, source=str(root),
                           progress=progress, total=len(paths))
