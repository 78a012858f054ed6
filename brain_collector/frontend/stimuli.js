// BRAIN's stimulus presenter: a Streamlit custom component (v2).
//
// Python sends the plan: one label per stimulus and its due time in epoch milliseconds
// (the collector's clock; the browser runs on the same machine). Every animation frame,
// the item due at the frame's time (to within half a frame) replaces the fixation cross,
// and the frame's timestamp is kept as the stimulus onset. When the schedule is over the
// component sends one report back to Python (setStateValue "report"): the onsets, the
// plan, and the frame statistics. The run lives in window.__brainStimuli, keyed by its
// run id, so a re-render of the component never restarts or duplicates a run.

const ANCHOR_SAMPLES = 7;

function epochAnchor() {
  // performance.now() is monotonic and sub-millisecond; Date.now() is the wall clock
  // in whole milliseconds. epoch(perf) = perf + anchor, anchored once per run, taking
  // the pair read closest together.
  let best = Infinity;
  let anchor = 0;
  for (let i = 0; i < ANCHOR_SAMPLES; i += 1) {
    const before = performance.now();
    const wall = Date.now();
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      anchor = wall + 0.5 - (before + after) / 2;
    }
  }
  return anchor;
}

function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function createRun(data) {
  const anchor = epochAnchor();
  const now = performance.now();
  let due = data.due_ms.map((t) => t - anchor);
  // A page that mounted after the first stimulus was due starts late rather than
  // showing the first items all at once; the shift is reported.
  const shift = Math.max(0, now + 250 - due[0]);
  due = due.map((t) => t + shift);
  return {
    data,
    anchor,
    shift,
    due,
    start: data.start_ms - anchor + shift,
    end: data.end_ms - anchor + shift,
    display: data.display_ms,
    next: 0,
    showing: null,
    shownAt: 0,
    onsets: [],
    intervals: [],
    lastFrame: null,
    hiddenFrames: 0,
    done: false,
    sent: false,
    root: null,
    setStateValue: null,
  };
}

function draw(run) {
  const root = run.root;
  if (!root) return;
  const item = root.querySelector(".item");
  const hint = root.querySelector(".hint");
  const bar = root.querySelector(".bar");
  const label = run.showing === null ? "+" : run.data.labels[run.showing];
  if (item.textContent !== label) item.textContent = label;
  let text = "";
  if (run.done) {
    text = "Done. Saving the recording...";
  } else if (run.next === 0) {
    const left = Math.max(0, (run.due[0] - performance.now()) / 1000);
    text = `Get ready: look at the cross (${Math.ceil(left)} s).`;
  }
  if (hint.textContent !== text) hint.textContent = text;
  bar.style.width = `${(100 * run.next) / run.due.length}%`;
}

function report(run) {
  const intervals = run.intervals;
  const frame = median(intervals);
  return {
    run_id: run.data.run_id,
    phase: run.data.phase,
    onsets_ms: run.onsets,
    planned_ms: run.due.map((t) => t + run.anchor),
    start_shift_ms: run.shift,
    frame_interval_ms: frame,
    n_frames: intervals.length + 1,
    long_frames: intervals.filter((d) => d > 1.5 * frame).length,
    hidden_frames: run.hiddenFrames,
    user_agent: navigator.userAgent,
  };
}

function send(run) {
  if (run.sent || !run.setStateValue) return;
  run.setStateValue("report", report(run));
  run.sent = true;
}

function frame(run, ts) {
  if (run.lastFrame !== null) run.intervals.push(ts - run.lastFrame);
  run.lastFrame = ts;
  if (document.visibilityState !== "visible") run.hiddenFrames += 1;
  const recent = run.intervals.slice(-31);
  const half = (recent.length ? median(recent) : 1000 / 60) / 2;
  if (run.next < run.due.length && ts >= run.due[run.next] - half) {
    // This frame shows the item: its timestamp is the onset.
    run.onsets.push(ts + run.anchor);
    run.showing = run.next;
    run.shownAt = ts;
    run.next += 1;
  } else if (run.showing !== null && ts >= run.shownAt + run.display - half) {
    run.showing = null;
  }
  if (run.next >= run.due.length && ts >= run.end - half) {
    run.showing = null;
    run.done = true;
    draw(run);
    send(run);
    return;
  }
  draw(run);
  requestAnimationFrame((t) => frame(run, t));
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement.querySelector(".brain-stimulus");
  const runs = (window.__brainStimuli = window.__brainStimuli || {});
  let run = runs[data.run_id];
  if (!run) {
    run = createRun(data);
    runs[data.run_id] = run;
    requestAnimationFrame((t) => frame(run, t));
  }
  run.root = root;
  run.setStateValue = setStateValue;
  draw(run);
  if (run.done) {
    // A new instance after the end (a re-mount): report again; an unchanged value
    // does not make Streamlit rerun.
    run.sent = false;
    send(run);
  }
  return () => {
    if (run.root === root) run.root = null;
  };
}
