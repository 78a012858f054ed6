"""Leave-subject-out evaluation: splitters, dataset checks, the report and ``brain evaluate``."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from brain_core.errors import InvalidInputError
from brain_model.dataset import labelled_phases, repetition_index
from brain_model.evaluate import evaluate_dataset, make_splitter

YEARS = (2000, 2005)
REQUIRED_KEYS = {"auc", "top1", "innocent_fpr", "confident_rate", "confident_wrong_rate",
                 "shuffled_auc", "n_subjects"}


def test_leave_one_subject_out_up_to_ten_subjects_then_ten_folds():
    splitter, name, n = make_splitter([f"S{i}" for i in range(10)], None, 0)
    assert isinstance(splitter, LeaveOneGroupOut) and n == 10 and name == "LeaveOneGroupOut"
    splitter, name, n = make_splitter([f"S{i}" for i in range(25)], None, 0)
    assert isinstance(splitter, GroupKFold) and n == 10 and name == "GroupKFold(10)"
    assert make_splitter([f"S{i}" for i in range(6)], 3, 0)[2] == 3


def test_splitter_errors_name_the_problem():
    with pytest.raises(InvalidInputError, match="at least 3 labelled subjects"):
        make_splitter(["A", "B"], None, 0)
    with pytest.raises(InvalidInputError, match="'n_splits'.*between 2"):
        make_splitter(["A", "B", "C"], 5, 0)
    with pytest.raises(InvalidInputError, match="fewer than 2 training subjects"):
        make_splitter(["A", "B", "C"], 2, 0)


def test_repetition_index_counts_showings_per_item_in_onset_order():
    items = np.array([1, 2, 1, 3, 2, 1])
    onsets = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_array_equal(repetition_index(items, onsets), [0, 0, 1, 0, 1, 2])
    np.testing.assert_array_equal(repetition_index(items[::-1], onsets[::-1]),
                                  [2, 1, 0, 1, 0, 0])


def test_a_dataset_must_share_one_channel_set():
    from brain_sim.simulate import make_subject, simulate_recording

    a = make_subject("A1", seed=1, years=YEARS)
    b = make_subject("B1", seed=1, years=YEARS, ch_names=("Cz", "Pz", "Oz", "Fz"))
    recordings = [simulate_recording(a, "month", repetitions=2, years=YEARS, seed=1),
                  simulate_recording(b, "month", repetitions=2, years=YEARS, seed=1)]
    birthdates = {"A1": a.birthdate, "B1": b.birthdate}
    with pytest.raises(InvalidInputError, match="same channels: B1/month has"):
        labelled_phases(recordings, birthdates)


def test_a_dataset_needs_labels():
    from brain_sim.simulate import make_subject, simulate_recording

    a = make_subject("A1", seed=1, years=YEARS)
    recording = simulate_recording(a, "month", repetitions=2, years=YEARS, seed=1)
    with pytest.raises(InvalidInputError, match="No labelled recording"):
        labelled_phases([recording], {})


def test_evaluation_report_on_synthetic_epochs(synthetic):
    data = synthetic(5, amplitude_v=6e-6, noise_v=8e-6, repetitions=4, years=(2000, 2009),
                     innocent=("S02",), seed=30)
    result = evaluate_dataset(data, "lda", progress=False, shuffled=False,
                              model_params={"n_bootstrap": 100, "n_permutations": 2})
    report = result.to_dict()
    assert set(report) >= REQUIRED_KEYS
    assert set(report["top1"]) == {"day", "month", "year", "birthdate"}
    assert report["n_subjects"] == 5 and report["n_innocent"] == 1
    assert report["n_scored"]["year"] == 4  # the innocent's year is not scored for accuracy
    assert report["chance"]["day"] == pytest.approx(1 / 31)
    assert report["innocent_fpr"] in (0.0, 1.0)
    assert len(report["repetitions"]["day"]) == 4
    assert result.auc > 0.8 and result.top1["day"] >= 0.6
    assert 0.0 <= report["confident_wrong_rate"] <= 1.0
    assert all(lo <= hi for lo, hi in report["top1_ci"].values())
    json.dumps(report, allow_nan=False)  # JSON-ready, no NaN
    assert result.erp.shape == (8, len(data.times))


def test_evaluation_rejects_an_unknown_estimator(synthetic):
    with pytest.raises(InvalidInputError, match="'estimator'"):
        evaluate_dataset(synthetic(3, repetitions=2), "svm", progress=False)


# --- end to end on BIDS ------------------------------------------------------------

@pytest.fixture(scope="module")
def bids_root(tmp_path_factory):
    from brain_sim.simulate import write_simulated_dataset

    root = tmp_path_factory.mktemp("bids")
    return write_simulated_dataset(root, 4, preset="easy", seed=3, repetitions=3,
                                   years=YEARS, innocent_fraction=0.25, progress=False)


@pytest.mark.slow
def test_brain_evaluate_command_writes_json_and_plots(bids_root, tmp_path):
    from typer.testing import CliRunner

    from brain_core import bids
    from brain_core.cli import build_app

    out = tmp_path / "eval.json"
    plots = tmp_path / "plots"
    result = CliRunner().invoke(build_app(), [
        "evaluate", str(bids_root), "--json", str(out), "--plots", str(plots),
        "--no-progress", "--seed", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report) >= REQUIRED_KEYS
    assert report["n_subjects"] == 4 and report["n_innocent"] == 1
    assert isinstance(report["innocent_fpr"], float)
    assert report["auc"] > 0.8 and not math.isnan(report["shuffled_auc"])
    assert (plots / "accuracy_vs_repetitions.png").stat().st_size > 1000
    assert (plots / "erp_difference.png").stat().st_size > 1000
    # Birthdates never reach the terminal or the report.
    for birthdate in bids.read_labels(bids_root).values():
        for text in (birthdate.isoformat(), f"{birthdate.day:02d}/{birthdate.month:02d}"):
            assert text not in result.output and text not in out.read_text()
    assert "single-epoch AUC" in result.output


def test_transform_config_option_is_validated():
    from brain_model.cli import _transform_config

    assert _transform_config(None) is None
    assert _transform_config('{"reference": null}').reference is None
    with pytest.raises(InvalidInputError, match="'--transform-config'"):
        _transform_config('{"reference": "mastoids"}')
    with pytest.raises(InvalidInputError, match="'--transform-config'"):
        _transform_config("not json")


def test_a_model_remembers_the_transform_of_its_training_epochs(synthetic):
    from brain_model.model import P300Model
    from brain_transform_service.transform import TransformConfig

    data = synthetic(3, repetitions=2, amplitude_v=6e-6)
    config = TransformConfig(reference=None)
    model = P300Model("lda", n_bootstrap=20, n_permutations=0).fit(
        dataclasses.replace(data, config=config))
    assert model.transform_config == config


@pytest.mark.slow
def test_brain_evaluate_refuses_an_unknown_estimator(bids_root):
    from typer.testing import CliRunner

    from brain_core.cli import build_app

    result = CliRunner().invoke(build_app(), ["evaluate", str(bids_root), "-e", "svm"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInputError)
    assert "'estimator'" in str(result.exception)
