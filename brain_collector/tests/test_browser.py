"""A whole session in headless Chromium against the real serving fleet.

Real parts: an MLflow server with a champion trained by ``train_local``, the transform,
inference and receiver services under uvicorn, the collector's Streamlit server, Debian's
Chromium driven by Playwright, BrainFlow's CROWN_BOARD driver reading the Crown emulator
over OSC/UDP. The session is short (4 items per phase, 4 repetitions, SOA 0.5 s).
Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from brain_collector.tests.conftest import PASSWORD, TRUTH
from brain_core.codec import decode_recording
from brain_core.testing import free_port
from brain_receiver.auth import hash_password

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # brain_core.testing.Server leaves its log file object to the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*server-logs:pytest.PytestUnraisableExceptionWarning"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
APP = Path(__file__).resolve().parents[1] / "app.py"
REPETITIONS = 4


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def fleet(mlflow_server, start_server, tmp_path_factory):
    from brain_model.training import train_local

    train_local(mlflow_server.url, n_subjects=6, n_eval_subjects=3, preset="easy",
                repetitions=6, years=(1990, 1999), seed=1, progress=False)
    root = tmp_path_factory.mktemp("collector-fleet")
    credentials = root / "credentials"
    credentials.write_text(f"lab1:{hash_password(PASSWORD)}\n")
    transform = start_server("brain_transform_service", env={"BRAIN_TRANSFORM_PORT": "{port}"})
    inference = start_server("brain_inference", env={
        "BRAIN_INFERENCE_PORT": "{port}",
        "BRAIN_INFERENCE_TRACKING_URI": mlflow_server.url,
        "BRAIN_INFERENCE_TRANSFORM_URL": transform.url,
    }, timeout_s=120)
    receiver = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(credentials),
        "BRAIN_RECEIVER_SPOOL_DIR": str(root / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(root / "state"),
        "BRAIN_RECEIVER_INFERENCE_URL": inference.url,
    })
    port = free_port()
    collector = start_server(
        "collector",
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        port=port, health="/_stcore/health", timeout_s=60,
        env={"API_URL": receiver.url, "API_USERNAME": "lab1", "API_PASSWORD": PASSWORD,
             "TIME_INTERVAL": "0.5", "START_YEAR": "1990", "END_YEAR": "1993",
             "BRAIN_COLLECTOR_BOARD": "emulator",
             "BRAIN_COLLECTOR_CROWN_IP_PORT": str(_free_udp_port()),
             "BRAIN_COLLECTOR_DAYS": "1-4", "BRAIN_COLLECTOR_MONTHS": "1-4",
             "BRAIN_COLLECTOR_REPETITIONS": str(REPETITIONS),
             "BRAIN_COLLECTOR_SIM_PRESET": "easy",
             "BRAIN_COLLECTOR_SIM_BIRTHDATE": TRUTH.isoformat(),
             "BRAIN_COLLECTOR_PREPARE_S": "2",
             "BRAIN_COLLECTOR_OUTBOX_DIR": str(root / "outbox")})
    return {"receiver": receiver, "collector": collector, "root": root}


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(600)  # let Plotly finish drawing
    page.screenshot(path=str(SCREENSHOTS / f"collector_{name}.png"))


def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_a_whole_session_in_the_browser(fleet, page):
    from playwright.sync_api import expect

    page.goto(fleet["collector"].url)
    subject = page.get_by_label("Subject ID", exact=True)
    subject.wait_for(timeout=30_000)
    subject.fill("E2E1")
    subject.press("Enter")
    _shot(page, "1_setup")
    page.get_by_text("The subject has read this text").click()
    page.get_by_role("button", name="Continue to the signal check").click()

    start = page.get_by_role("button", name="Start the day phase")
    start.wait_for(timeout=60_000)
    assert page.get_by_text("All channels look like EEG.").is_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(1)  # the head
    _shot(page, "2_signal_check")
    start.click()

    predicted = {}
    names = {"day": "Days", "month": "Months", "year": "Years"}
    for phase, following in (("day", "Continue to the month phase"),
                             ("month", "Continue to the year phase"),
                             ("year", "See the result")):
        item = page.locator(".item")
        item.wait_for(timeout=30_000)
        started = time.monotonic()
        # The component shows the items themselves, large, one at a time.
        page.wait_for_function(
            "phase => Object.values(window.__brainStimuli || {}).some("
            "run => run.data.phase === phase && run.next > 2)", arg=phase, timeout=30_000)
        if phase == "month":
            _shot(page, "3_stimulus_month")
        page.get_by_text(f"{names[phase]}: done").wait_for(timeout=120_000)
        elapsed = time.monotonic() - started
        assert elapsed < 60, f"the {phase} phase took {elapsed:.0f} s"
        page.get_by_text(f"Predicted {phase}").wait_for(timeout=30_000)
        # The probabilities and the ERP.
        expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(2, timeout=30_000)
        assert page.get_by_text("Onset jitter (frame time minus schedule)").is_visible()
        predicted[phase] = _metric(page, f"Predicted {phase}")
        _shot(page, f"4_{phase}_result")
        page.get_by_role("button", name=following).click()

    page.get_by_text("Predicted birthdate").wait_for(timeout=30_000)
    birthdate = _metric(page, "Predicted birthdate")
    _shot(page, "5_birthdate")
    page.get_by_role("button", name="Enter the true birthdate").click()
    field = page.get_by_label("Birthdate", exact=True)
    field.wait_for(timeout=30_000)
    # Streamlit's date field has one spin button per part; it commits when it loses focus.
    for part, value in (("year", f"{TRUTH.year}"), ("month", f"{TRUTH.month:02d}"),
                        ("day", f"{TRUTH.day:02d}")):
        field.get_by_label(f"{part}, Birthdate").click()
        page.keyboard.type(value, delay=30)
    page.get_by_text("True birthdate", exact=True).click()
    page.get_by_role("button", name="Save the true birthdate").click()
    page.get_by_text("The true birthdate was uploaded.").wait_for(timeout=30_000)
    _shot(page, "6_done")

    spool = fleet["root"] / "spool" / "incoming"
    assert sorted(p.name.split("_", 1)[1] for p in spool.iterdir()) == [
        "day.brainrec", "label.json", "month.brainrec", "year.brainrec"]
    recordings = [decode_recording(p.read_bytes()) for p in sorted(spool.glob("*.brainrec"))]
    by_phase = {r.phase.value: r for r in recordings}
    assert set(by_phase) == {"day", "month", "year"}
    for phase, recording in by_phase.items():
        assert recording.subject == "E2E1"
        assert recording.ch_names == ("CP3", "C3", "F5", "PO3", "PO4", "F6", "C4", "CP4")
        assert recording.sfreq == 256.0 and recording.device.board_id == 23
        assert len(recording.events) == 4 * REPETITIONS
        assert recording.paradigm.items == {"day": (1, 2, 3, 4), "month": (1, 2, 3, 4),
                                            "year": (1990, 1991, 1992, 1993)}[phase]
        timing = recording.timing
        # A frame is 1/60 s in headless Chromium; onsets keep to the schedule within ~one.
        assert abs(timing["jitter_mean_s"]) < 0.01 and timing["jitter_max_s"] < 0.05
        assert 0.005 < timing["frame_interval_s"] < 0.05
        assert 0 <= timing["clock_offset_s"] < 0.05
        assert timing["start_shift_s"] == 0  # the page was up before the first item was due
        # A marker lands on the first sample to arrive after the call: older than the call
        # by a packet (62.5 ms) plus the delivery delay, which is large here (the emulator
        # shares the app's process and GIL on a loaded machine), but never newer.
        assert -0.02 < timing["marker_lag_s"] < 2.0
    assert all(r.session_id == recordings[0].session_id for r in recordings)
    # The emulated subject was born on TRUTH; an easy subject's items stand out.
    assert predicted == {"day": "2", "month": "March", "year": "1991"}, predicted
    assert birthdate == "2 March 1991"
    assert list((fleet["root"] / "outbox" / "pending").iterdir()) == []
