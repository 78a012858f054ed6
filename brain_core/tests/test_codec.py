import struct
import uuid
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from brain_core.codec import (
    MAGIC,
    decode_recording,
    encode_recording,
)
from brain_core.errors import CodecError
from brain_core.models import Device, Event, Paradigm, Recording

finite_volts = st.floats(min_value=-2.0**-10, max_value=2.0**-10, allow_nan=False, width=32)


@st.composite
def recordings(draw):
    n_channels = draw(st.integers(1, 16))
    n_times = draw(st.integers(1, 600))
    sfreq = draw(st.sampled_from([128.0, 250.0, 256.0, 500.0, 1000.0]))
    data = draw(arrays(np.float32, (n_channels, n_times), elements=finite_volts))
    phase = draw(st.sampled_from(["day", "month", "year"]))
    items = {"day": (1, 2, 31), "month": (1, 12), "year": (1950, 2009)}[phase]
    duration = n_times / sfreq
    onsets = sorted(draw(st.sets(
        st.floats(min_value=0, max_value=duration, exclude_max=True, allow_nan=False),
        max_size=8)))
    events = tuple(Event(onset=t, phase=phase, value=draw(st.sampled_from(items)))
                   for t in onsets)
    return Recording(
        session_id=draw(st.uuids()),
        subject=draw(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True)),
        phase=phase,
        sfreq=sfreq,
        ch_names=tuple(f"EEG{i:03d}" for i in range(n_channels)),
        data=data,
        meas_date=draw(st.datetimes(min_value=datetime(2000, 1, 1),
                                    max_value=datetime(2100, 1, 1), timezones=st.just(UTC))),
        events=events,
        device=Device(name=draw(st.text(min_size=1, max_size=20)),
                      board_id=draw(st.none() | st.integers(-10, 100))),
        paradigm=Paradigm(items=items, seed=draw(st.integers(0, 2**32)),
                          repetitions=draw(st.integers(1, 20))),
        software_version="0.1.0",
        untimed=draw(st.booleans()),
        timing=draw(st.dictionaries(st.sampled_from(["jitter_sd_s", "jitter_max_s"]),
                                    st.floats(0, 1))),
    )


@given(recordings())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_is_exact(recording):
    payload = encode_recording(recording)
    decoded = decode_recording(payload)
    assert decoded == recording
    assert decoded.data.dtype == np.float32
    # Compact: the samples' float32 bytes plus a small header.
    assert len(payload) - recording.data.nbytes < 4096


def test_size_is_close_to_raw_float32(make_recording):
    rec = make_recording(repetitions=10)  # a full day phase, ~157 s of 8 channels
    payload = encode_recording(rec)
    assert len(payload) < rec.data.nbytes * 1.03


@given(st.binary(max_size=200))
def test_random_bytes_never_crash(blob):
    with pytest.raises(CodecError):
        decode_recording(blob)


@given(st.data())
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only bytes
def test_truncation_and_bit_flips_are_refused(make_recording_data, data):
    payload = make_recording_data
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(CodecError, match="truncated|shorter"):
        decode_recording(payload[:cut])
    position = data.draw(st.integers(28, len(payload) - 1))
    flipped = bytearray(payload)
    flipped[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(CodecError, match="checksum"):
        decode_recording(bytes(flipped))


@pytest.fixture
def make_recording_data(make_recording):
    return encode_recording(make_recording(repetitions=1))


def _repack(header: dict, data: bytes, **prefix) -> bytes:
    import json

    header_bytes = json.dumps(header).encode()
    fields = dict(magic=MAGIC, version=1, flags=0, header_len=len(header_bytes),
                  data_len=len(data), crc=zlib.crc32(data, zlib.crc32(header_bytes)))
    fields.update(prefix)
    return struct.pack("<8sHHIQI", *fields.values()) + header_bytes + data


def _header_and_data(recording):
    header = recording.metadata()
    header.update(dtype="<f4", shape=list(recording.data.shape))
    return header, recording.data.astype("<f4").tobytes()


def test_clear_errors_for_each_kind_of_bad_input(make_recording):
    rec = make_recording(repetitions=1)
    header, data = _header_and_data(rec)
    with pytest.raises(CodecError, match="above the limit of 1000 bytes"):
        decode_recording(encode_recording(rec), max_bytes=1000)
    with pytest.raises(CodecError, match="Not a BRAIN recording"):
        decode_recording(_repack(header, data, magic=b"NOTBRAIN"))
    with pytest.raises(CodecError, match="Unsupported codec version 7"):
        decode_recording(_repack(header, data, version=7))
    with pytest.raises(CodecError, match="followed by extra bytes"):
        decode_recording(encode_recording(rec) + b"\0")
    with pytest.raises(CodecError, match=r"dtype: expected '<f4', got '<f8'"):
        decode_recording(_repack({**header, "dtype": "<f8"}, data))
    with pytest.raises(CodecError, match=r"shape: \[8, 3\] needs 96 data bytes"):
        decode_recording(_repack({**header, "shape": [8, 3]}, data))
    with pytest.raises(CodecError, match=r"Invalid recording: sfreq: Input should be greater"):
        decode_recording(_repack({**header, "sfreq": 0}, data))
    with pytest.raises(CodecError, match=r"Invalid recording: phase: Input should be"):
        decode_recording(_repack({**header, "phase": "week"}, data))
    with pytest.raises(CodecError, match="subject"):
        decode_recording(_repack({**header, "subject": "../../etc"}, data))
    with pytest.raises(CodecError, match="unexpected|Extra inputs"):
        decode_recording(_repack({**header, "surprise": 1}, data))
    nan = np.frombuffer(data, "<f4").copy()
    nan[5] = np.nan
    with pytest.raises(CodecError, match="non-finite"):
        decode_recording(_repack(header, nan.tobytes()))
    with pytest.raises(CodecError, match="header: not valid UTF-8 JSON"):
        raw = b"\xff{"
        prefix = struct.pack("<8sHHIQI", MAGIC, 1, 0, len(raw), len(data),
                             zlib.crc32(data, zlib.crc32(raw)))
        decode_recording(prefix + raw + data)


def test_oversized_header_is_refused_before_parsing():
    prefix = struct.pack("<8sHHIQI", MAGIC, 1, 0, 10**9, 0, 0)
    with pytest.raises(CodecError, match="Header is 1000000000 bytes"):
        decode_recording(prefix)


def test_session_id_survives(make_recording):
    rec = make_recording()
    assert decode_recording(encode_recording(rec)).session_id == uuid.UUID(int=1)


def test_arrays_round_trip_and_refusals():
    from brain_core.codec import decode_arrays, encode_arrays, pack_frames, unpack_frames

    arrays = {"data": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
              "items": np.array([3, 1], dtype=np.int64),
              "empty": np.zeros((0, 5), dtype=np.float32)}
    payload = encode_arrays({"phase": "day", "n": 2}, arrays)
    meta, back = decode_arrays(payload)
    assert meta == {"phase": "day", "n": 2}
    for name, array in arrays.items():
        np.testing.assert_array_equal(back[name], array)
        assert back[name].dtype == array.dtype
    with pytest.raises(CodecError, match="checksum"):
        decode_arrays(payload[:-1] + bytes([payload[-1] ^ 1]))
    with pytest.raises(CodecError, match="truncated"):
        decode_arrays(payload[:-4])
    with pytest.raises(CodecError, match="cannot be encoded"):
        encode_arrays({}, {"x": np.array(["a"])})
    frames = [payload, b"", b"abc"]
    assert [bytes(f) for f in unpack_frames(pack_frames(frames))] == frames
    with pytest.raises(CodecError, match="truncated"):
        unpack_frames(pack_frames(frames)[:-1])
