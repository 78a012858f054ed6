"""The main job end to end, smaller: the same flow as `make demo`; and afterwards no
birthdate in plain text anywhere the run wrote (logs, MLflow, repositories, reports)."""

import gzip
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from brain_demo.run import run_demo
from brain_sim.simulate import simulate_dataset

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _fleet_processes(workdir) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(workdir) in line]


def _spellings(day: date) -> list[bytes]:
    """The ways a birthdate could be written out (ISO, compact, European, US, repr)."""
    return [day.strftime(fmt).encode() for fmt in ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y",
                                                     "%d/%m/%Y", "%m/%d/%Y")] + [
        f"date({day.year}, {day.month}, {day.day})".encode()]


def _readable(path: Path) -> Iterator[bytes]:
    """A file's bytes, and what it holds once unpacked (gzip, zip, Parquet pages)."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from (archive.read(name) for name in archive.namelist())
    elif data[:4] == b"PAR1":
        table = pq.read_table(path)
        yield str(table.schema.metadata).encode() + table.to_pandas().to_csv().encode()


def find_birthdates(root: Path, birthdates: Iterable[date]) -> list[str]:
    """Every file under ``root`` that spells out one of ``birthdates``."""
    needles = [s for day in birthdates for s in _spellings(day)]
    return sorted({f"{path.relative_to(root)}: {needle.decode()}"
                   for path in root.rglob("*") if path.is_file() and not path.is_symlink()
                   for blob in _readable(path) for needle in needles if needle in blob})


def test_find_birthdates_sees_plain_packed_and_columnar_text(tmp_path):
    day = date(1991, 2, 3)
    (tmp_path / "log.txt").write_text("born 03.02.1991\n")
    (tmp_path / "x.gz").write_bytes(gzip.compress(b'{"birthdate": "1991-02-03"}'))
    import pandas as pd

    pd.DataFrame({"when": ["1991-02-03"]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "clean.txt").write_text("1991-02-04 19910302\n")
    assert find_birthdates(tmp_path, [day]) == [
        "log.txt: 03.02.1991", "t.parquet: 1991-02-03", "x.gz: 1991-02-03"]


def test_demo_flow_predicts_an_unseen_subject_and_cleans_up(tmp_path):
    console = Console(record=True, width=120)
    options = dict(repetitions=5, years=(1990, 1995), seed=3)
    result = run_demo(tmp_path / "demo", n_subjects=10, n_splits=3, console=console,
                      **options)
    text = console.export_text()
    assert result.correct, text
    assert {p: pred.top_item for p, pred in result.predictions.items()} == {
        "day": result.truth.day, "month": result.truth.month, "year": result.truth.year}
    assert result.model_version == "1"
    assert result.metrics["auc"] > 0.8
    for phrase in ("Airflow brain_etl: success", "Airflow brain_train: success",
                   "Predicted birthdate", "Drift monitor:", "MLflow UI"):
        assert phrase in text
    # The raw store holds every training upload (the new subject's may still be in the
    # spool when the fleet stops: brain_data takes it at its next start).
    raw = tmp_path / "demo" / "data" / "raw" / "bids"
    assert len(list(raw.glob("sub-S*/ses-*/eeg/*_eeg.vhdr"))) == 10 * 3
    # Promotion wrote the drift monitor's reference (the champion's training sessions).
    assert (tmp_path / "demo" / "drift" / "reference.parquet").exists()
    # Every process the demo started is gone.
    assert _fleet_processes(tmp_path / "demo") == []
    # No birthdate in plain text in anything the run left: service and Airflow logs,
    # MLflow's database and artifacts, the raw and feature repositories with their DVC
    # caches and remotes, the spool, drift reports (labels are encrypted at rest).
    uploaded = [label.birthdate for _, label in simulate_dataset(10, **options)]
    assert find_birthdates(tmp_path / "demo", [*uploaded, result.truth]) == []
