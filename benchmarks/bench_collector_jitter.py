"""Stimulus onset jitter of the collector's browser component in headless Chromium.

A Streamlit server shows one phase of 200 stimuli (20 items x 10 repetitions, SOA 0.5 s,
schedule jitter up to 50 ms) through brain_collector's stimulus component; Debian's
Chromium, driven by Playwright, runs it. Jitter = the timestamp of the animation frame
each item appeared in minus its due time on the schedule; it is read from the report the
component sends back to Python (so the round trip is exercised too).

Headless Chromium without a GPU is not a display: frames are produced on a 60 Hz timer,
no monitor refreshes and no pixels are measured. These numbers say how well the page
keeps its schedule; what a subject sees needs a real screen (and a photodiode).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from brain_core.testing import Server, free_port

N_ITEMS, REPETITIONS, SOA_S = 20, 10, 0.5
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]

PAGE = f"""
import json
import time

import streamlit as st

from brain_collector.stimuli import make_plan, show
from brain_core.paradigm import make_paradigm

if "plan" not in st.session_state:
    paradigm = make_paradigm("day", items=range(1, {N_ITEMS + 1}), repetitions={REPETITIONS},
                             soa_s={SOA_S}, jitter_s=0.05, seed=1)
    st.session_state.plan = make_plan("day", paradigm, now=time.time(), prepare_s=8.0)
report = show(st.session_state.plan)
if report is not None:
    st.code(json.dumps(report), language=None)
    st.write("REPORT RECEIVED")
"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script = root / "page.py"
        script.write_text(PAGE)
        port = free_port()
        server = Server("streamlit", [sys.executable, "-m", "streamlit", "run", str(script),
                                      "--server.port", str(port), "--server.headless", "true",
                                      "--server.address", "127.0.0.1",
                                      "--browser.gatherUsageStats", "false"],
                        port, {}, root, health="/_stcore/health", timeout_s=60)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                started = time.monotonic()
                page.goto(server.url)
                page.get_by_text("REPORT RECEIVED").wait_for(
                    timeout=(N_ITEMS * REPETITIONS * SOA_S + 60) * 1000)
                elapsed = time.monotonic() - started
                report = json.loads(page.locator("code").first.inner_text())
                version = browser.version
                browser.close()
        finally:
            server.stop()

    onsets = np.asarray(report["onsets_ms"])
    planned = np.asarray(report["planned_ms"])
    jitter = onsets - planned
    frame = float(report["frame_interval_ms"])
    # Showing each item in the frame nearest its due time spreads onsets uniformly over
    # one frame: SD frame / sqrt(12), |jitter| at most half a frame.
    print(f"Onset jitter of {len(onsets)} stimuli, SOA {SOA_S} s, headless Chromium "
          f"{version} (no GPU, no display), {elapsed:.0f} s wall time\n")
    print("| quantity | value |")
    print("|---|---|")
    print(f"| jitter mean | {jitter.mean():+.2f} ms |")
    print(f"| jitter SD | {jitter.std():.2f} ms (nearest-frame ideal {frame / 12 ** 0.5:.2f}) |")
    print(f"| \\|jitter\\| p95 | {np.percentile(np.abs(jitter), 95):.2f} ms |")
    print(f"| \\|jitter\\| max | {np.abs(jitter).max():.2f} ms (ideal {frame / 2:.2f}) |")
    print(f"| frame interval (median) | {frame:.2f} ms |")
    print(f"| frames longer than 1.5 intervals | {report['long_frames']} of "
          f"{report['n_frames']} |")
    print(f"| late start (page mounted after the first due time) | "
          f"{report['start_shift_ms']:.0f} ms |")


if __name__ == "__main__":
    main()
