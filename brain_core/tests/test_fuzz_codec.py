"""Fuzzing of the wire codec: valid recordings round-trip; anything else is a CodecError.

Hypothesis runs derandomized (the same examples on every run, no example database) so
CI is reproducible; a short coverage-guided atheris run (a fixed number of inputs)
explores what the generators do not think of.
"""

import contextlib
import json
import math
import struct
import subprocess
import sys
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from brain_core.codec import (
    ARRAYS_MAGIC,
    MAGIC,
    decode_arrays,
    decode_recording,
    encode_arrays,
    encode_recording,
    unpack_frames,
)
from brain_core.errors import BrainError, CodecError
from brain_core.models import MAX_ABS_VOLTS, Device, Event, Paradigm, Recording

FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PREFIX = struct.Struct("<8sHHIQI")
HARNESS = Path(__file__).with_name("fuzz_codec_atheris.py")
#: Peak memory one decode may take beyond the payload itself: the header's JSON and
#: pydantic's work, never an allocation sized by a number the payload declares.
DECODE_OVERHEAD_BYTES = 8 * 1024 * 1024

ITEMS = {"day": (1, 2, 17, 31), "month": (1, 6, 12), "year": (1900, 1994, 2100)}


@st.composite
def recordings(draw, max_channels: int = 12, max_times: int = 300) -> Recording:
    """Any valid recording: odd rates, names, shapes, events anywhere inside the data."""
    n_channels = draw(st.integers(1, max_channels))
    n_times = draw(st.integers(1, max_times))
    sfreq = draw(st.floats(min_value=1e-3, max_value=100_000, allow_nan=False,
                           allow_infinity=False))
    volts = st.floats(-MAX_ABS_VOLTS, MAX_ABS_VOLTS, allow_nan=False, width=32)
    data = draw(arrays(np.float32, (n_channels, n_times), elements=volts))
    ch_names = draw(st.lists(st.text(min_size=1, max_size=32), min_size=n_channels,
                             max_size=n_channels, unique=True))
    phase = draw(st.sampled_from(sorted(ITEMS)))
    items = tuple(draw(st.lists(st.sampled_from(ITEMS[phase]), min_size=1, unique=True)))
    duration = n_times / sfreq
    onsets = sorted(draw(st.sets(st.floats(0, duration, exclude_max=True), max_size=6)))
    events = tuple(Event(onset=t, phase=phase, value=draw(st.sampled_from(items)))
                   for t in onsets)
    offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
    return Recording(
        session_id=draw(st.uuids()),
        subject=draw(st.from_regex(r"[A-Za-z0-9]{1,64}", fullmatch=True)),
        phase=phase,
        sfreq=sfreq,
        ch_names=tuple(ch_names),
        data=data,
        meas_date=draw(st.datetimes(min_value=datetime(1900, 1, 2),
                                    max_value=datetime(2200, 1, 1),
                                    timezones=st.just(timezone(offset)))),
        events=events,
        device=Device(name=draw(st.text(min_size=1, max_size=64)),
                      board_id=draw(st.none() | st.integers(-(2**63), 2**63 - 1))),
        paradigm=Paradigm(items=items, seed=draw(st.integers(0, 2**63 - 1)),
                          repetitions=draw(st.integers(1, 200)),
                          soa_s=draw(st.floats(1e-3, 10)), jitter_s=draw(st.floats(0, 1))),
        software_version=draw(st.text(min_size=1, max_size=64)),
        untimed=draw(st.booleans()),
        timing=draw(st.dictionaries(st.text(max_size=10), st.floats(-1e6, 1e6), max_size=3)),
    )


def _frame(header: bytes, data: bytes, magic: bytes = MAGIC) -> bytes:
    """A frame with a correct prefix and checksum, so the decoder reads the header."""
    crc = zlib.crc32(data, zlib.crc32(header))
    return PREFIX.pack(magic, 1, 0, len(header), len(data), crc) + header + data


def _split(payload: bytes) -> tuple[dict, bytes]:
    header_len = PREFIX.unpack_from(payload)[3]
    header = json.loads(payload[PREFIX.size:PREFIX.size + header_len])
    return header, payload[PREFIX.size + header_len:]


def _refused(payload: bytes) -> CodecError | None:
    """Decode ``payload``: None if it is valid, else the CodecError (anything else fails)."""
    try:
        decode_recording(payload)
    except CodecError as err:
        assert str(err), "a CodecError must say what is wrong"
        return err
    return None


# --- round trip ------------------------------------------------------------------------


@given(recording=recordings())
@settings(FUZZ, max_examples=60)
def test_any_valid_recording_round_trips_exactly(recording):
    decoded = decode_recording(encode_recording(recording))
    assert decoded == recording
    assert decoded.meas_date == recording.meas_date.astimezone(UTC)
    assert decoded.data.dtype == np.float32 and decoded.data.flags.owndata


# --- anything else is a CodecError -------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=10,
)
HEADER_KEYS = ("session_id", "subject", "phase", "sfreq", "ch_names", "meas_date", "events",
               "device", "paradigm", "software_version", "untimed", "timing", "dtype",
               "shape", "schema_version")
ODD_VALUES = st.sampled_from([
    None, True, 0, -1, 2**64, 10**400, math.nan, math.inf, -math.inf, 1e-320, "", "n/a",
    [], {}, [0], [True, True], [2**70, 0], [0, 2**70], [1, 1, 1], [-1, -4], [2**31, 2**31],
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "<f8", ">f4", "|b1",
    [{"onset": math.inf, "phase": "day", "value": 1}], {"items": []},
    {"items": [1, 1]}, {"name": "x" * 1000}, ["A"] * 3, ["A", "A"],
])


@st.composite
def altered_headers(draw, payload: bytes) -> bytes:
    """A valid payload whose header JSON had fields replaced, deleted or added."""
    header, data = _split(payload)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(HEADER_KEYS) | st.text(max_size=8))
        action = draw(st.sampled_from(["replace", "odd", "delete"]))
        if action == "delete":
            header.pop(key, None)
        else:
            header[key] = draw(JSON_VALUES if action == "replace" else ODD_VALUES)
    if draw(st.booleans()):  # keep the data consistent with a declared shape
        shape = header.get("shape")
        if isinstance(shape, list) and len(shape) == 2 and all(
                type(n) is int and 0 <= n < 64 for n in shape):
            data = bytes(shape[0] * shape[1] * 4)
    return _frame(json.dumps(header).encode(), data)


@st.composite
def mutated_bytes(draw, payload: bytes) -> bytes:
    """Bit flips, cuts, insertions and prefix fields rewritten; checksum fixed or not."""
    blob = bytearray(payload)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "prefix"]))
        if kind == "flip" and blob:
            i = draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            blob = blob[:draw(st.integers(0, len(blob)))]
        elif kind == "insert":
            i = draw(st.integers(0, len(blob)))
            blob[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif len(blob) >= PREFIX.size:  # declare absurd sizes, versions, flags
            offset, fmt = draw(st.sampled_from([(8, "<H"), (10, "<H"), (12, "<I"), (16, "<Q")]))
            value = draw(st.integers(0, 2 ** (8 * struct.calcsize(fmt)) - 1))
            struct.pack_into(fmt, blob, offset, value)
    if draw(st.booleans()) and len(blob) >= PREFIX.size:
        struct.pack_into("<I", blob, 24, zlib.crc32(bytes(blob[PREFIX.size:])))
    return bytes(blob)


@pytest.fixture(scope="module")
def valid_payload():
    recording = Recording(
        session_id="00000000-0000-0000-0000-000000000001", subject="S01", phase="day",
        sfreq=256.0, ch_names=("C3", "C4"), data=np.full((2, 64), 1e-6, np.float32),
        meas_date=datetime(2026, 1, 2, tzinfo=UTC),
        events=(Event(onset=0.01, phase="day", value=17),), device=Device(name="CrownOSC"),
        paradigm=Paradigm(items=(1, 17)), software_version="0.1.0")
    return encode_recording(recording)


@given(data=st.data())
@settings(FUZZ, max_examples=400)
def test_altered_headers_are_refused_with_a_codec_error(valid_payload, data):
    payload = data.draw(altered_headers(valid_payload))
    _refused(payload)  # a valid variant may decode; anything else must be a CodecError


@given(data=st.data())
@settings(FUZZ, max_examples=300)
def test_mutated_bytes_are_refused_with_a_codec_error(valid_payload, data):
    _refused(data.draw(mutated_bytes(valid_payload)))


@given(blob=st.binary(max_size=600))
@settings(FUZZ, max_examples=300)
@example(blob=PREFIX.pack(MAGIC, 1, 0, 0, 2**64 - 1, 0))
def test_arbitrary_bytes_are_a_codec_error(blob):
    with pytest.raises(CodecError):
        decode_recording(blob)
    with pytest.raises(CodecError):
        decode_recording(MAGIC + blob)


# Regressions the fuzzing found: each raised something other than CodecError.
@pytest.mark.parametrize(("header", "match"), [
    (b"1" * 5000, "header: not valid UTF-8 JSON"),  # int() digit limit: ValueError
    (b"[" * 100_000, "header: nested too deeply"),  # RecursionError
    (json.dumps({"dtype": "<f4", "shape": [2**70, 0]}).encode(), "shape"),  # reshape error
    (json.dumps({"dtype": "<f4", "shape": [True, True]}).encode(), "shape"),  # bools
])
def test_header_regressions(header, match):
    data = b"\0\0\0\0" if b"true" in header else b""
    with pytest.raises(CodecError, match=match):
        decode_recording(_frame(header, data))


def test_out_of_range_meas_date_is_a_codec_error(valid_payload):
    header, data = _split(valid_payload)
    header["meas_date"] = "0001-01-01T00:00:00+05:00"  # astimezone(UTC) overflows
    with pytest.raises(CodecError, match="meas_date"):
        decode_recording(_frame(json.dumps(header).encode(), data))


# --- declared sizes never drive allocation ----------------------------------------------


@given(data=st.data())
@settings(FUZZ, max_examples=60)
@example(data=None)
def test_declared_sizes_never_allocate_beyond_the_payload(valid_payload, data):
    if data is None:  # every size field at its maximum
        payload = PREFIX.pack(MAGIC, 1, 0, 2**32 - 1, 2**64 - 1, 0) + valid_payload[28:]
    else:
        payload = data.draw(mutated_bytes(valid_payload) | altered_headers(valid_payload))
    tracemalloc.start()
    try:
        _refused(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(payload) * 4 + DECODE_OVERHEAD_BYTES


def test_a_huge_declared_shape_allocates_nothing():
    header = json.dumps({"dtype": "<f4", "shape": [2**31, 2**31]}).encode()
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match="shape"):
            decode_recording(_frame(header, b"\0" * 64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < DECODE_OVERHEAD_BYTES


# --- array frames and batches -------------------------------------------------------------

ARRAY_SPECS = st.lists(st.fixed_dictionaries({
    "name": JSON_VALUES,
    "dtype": st.sampled_from(["<f4", "<f8", "<i8", "|u1", "|b1", "<U3", "O"]) | JSON_VALUES,
    "shape": st.lists(st.integers(-3, 2**70) | JSON_VALUES, max_size=4) | JSON_VALUES,
}), max_size=3)


@given(specs=ARRAY_SPECS | JSON_VALUES, data=st.binary(max_size=64), meta=JSON_VALUES)
@settings(FUZZ, max_examples=300)
@example(specs=[{"name": "a", "dtype": "<f4", "shape": [2**70]}], data=b"", meta={})
@example(specs=[{"name": "a", "dtype": "<f4", "shape": [True, 2]}], data=bytes(8), meta={})
def test_arrays_headers_are_a_codec_error(specs, data, meta):
    payload = _frame(json.dumps({"meta": meta, "arrays": specs}).encode(), data, ARRAYS_MAGIC)
    with contextlib.suppress(CodecError):
        decode_arrays(payload)


@given(blob=st.binary(max_size=300))
@settings(FUZZ, max_examples=200)
def test_arrays_and_batches_refuse_bytes_with_a_codec_error(blob):
    frame = encode_arrays({"n": 1}, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})
    for payload in (blob, ARRAYS_MAGIC + blob, frame[:len(blob) % len(frame)]):
        with pytest.raises(CodecError):
            decode_arrays(payload)
    try:
        frames = unpack_frames(blob)
    except CodecError:
        return
    assert sum(len(f) + 8 for f in frames) == len(blob)


def test_codec_errors_are_brain_errors():
    assert issubclass(CodecError, BrainError)


# --- coverage-guided: atheris ---------------------------------------------------------------


@pytest.mark.slow
def test_atheris_finds_no_crash(tmp_path, valid_payload):
    """A fixed budget of atheris inputs from a corpus of valid payloads; no crash."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "recording").write_bytes(valid_payload)
    (corpus / "arrays").write_bytes(encode_arrays(
        {"phase": "day"}, {"x": np.zeros((2, 3), np.float32), "i": np.arange(2)}))
    result = subprocess.run(
        [sys.executable, str(HARNESS), "-runs=4000", "-seed=1", "-max_len=4096",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=300, check=False)
    report = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "Done 4000 runs" in result.stderr, report
    assert not list(tmp_path.glob("crash-*")), report
