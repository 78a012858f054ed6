"""Compact binary codec for a :class:`~brain_core.models.Recording` on the wire.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic b"BRAINREC"
    8       2     codec version (1)
    10      2     flags (0; reserved)
    12      4     header length H (bytes of UTF-8 JSON)
    16      8     data length D (bytes) = n_channels * n_times * 4
    24      4     CRC-32 of header + data
    28      H     header: the recording's metadata (``Recording.metadata()``) plus
                  "dtype": "<f4" and "shape": [n_channels, n_times]
    28+H    D     samples, float32 little-endian, C order (channel-major), volts

So an encoded recording is its raw float32 bytes plus ~1-2 KiB of metadata. Decoding
checks every length against the buffer and the size limit before allocating, verifies
the checksum and validates the metadata against the contract; any failure raises
:class:`~brain_core.errors.CodecError` naming what is wrong.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from typing import Any

import numpy as np
from pydantic import ValidationError

from brain_core.errors import CodecError
from brain_core.models import Recording

MEDIA_TYPE = "application/vnd.brain.recording.v1"
MAGIC = b"BRAINREC"
CODEC_VERSION = 1
_PREFIX = struct.Struct("<8sHHIQI")

#: Default upper bound for one encoded recording (an 8-channel, 256 Hz phase of one
#: hour is ~30 MB).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024


def validation_message(err: ValidationError) -> str:
    """One line per problem, each naming the field, e.g. ``sfreq: Input should be > 0``."""
    lines = []
    for problem in err.errors(include_url=False):
        field = ".".join(str(p) for p in problem["loc"]) or "recording"
        lines.append(f"{field}: {problem['msg']}")
    return "; ".join(lines)


def encode_recording(recording: Recording) -> bytes:
    """Encode ``recording`` into the binary wire format."""
    header = recording.metadata()
    header["dtype"] = "<f4"
    header["shape"] = list(recording.data.shape)
    header_bytes = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    data_bytes = recording.data.astype("<f4", copy=False).tobytes(order="C")
    crc = zlib.crc32(data_bytes, zlib.crc32(header_bytes))
    prefix = _PREFIX.pack(MAGIC, CODEC_VERSION, 0, len(header_bytes), len(data_bytes), crc)
    return b"".join((prefix, header_bytes, data_bytes))


def decode_recording(payload: bytes | bytearray | memoryview, *,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> Recording:
    """Decode bytes made by :func:`encode_recording`.

    Raises
    ------
    CodecError
        If the payload is oversized, truncated, corrupt, of another version, or its
        metadata breaks the data contract (the message names the field).
    """
    view = memoryview(payload)
    if len(view) > max_bytes:
        raise CodecError(
            f"Recording is {len(view)} bytes, above the limit of {max_bytes} bytes.",
            field="body",
        )
    if len(view) < _PREFIX.size:
        raise CodecError(
            f"Recording is truncated: {len(view)} bytes, shorter than the "
            f"{_PREFIX.size}-byte prefix.",
            field="body",
        )
    magic, version, flags, header_len, data_len, crc = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise CodecError(
            f"Not a BRAIN recording: magic bytes are {bytes(magic)!r}, expected {MAGIC!r} "
            f"(media type {MEDIA_TYPE}).",
            field="body",
        )
    if version != CODEC_VERSION:
        raise CodecError(
            f"Unsupported codec version {version}; this build reads version {CODEC_VERSION}.",
            field="version",
        )
    if flags != 0:
        raise CodecError(f"Unsupported codec flags {flags:#x}.", field="flags")
    if header_len > MAX_HEADER_BYTES:
        raise CodecError(
            f"Header is {header_len} bytes, above the limit of {MAX_HEADER_BYTES}.",
            field="header",
        )
    expected = _PREFIX.size + header_len + data_len
    if len(view) != expected:
        state = "truncated" if len(view) < expected else "followed by extra bytes"
        raise CodecError(
            f"Recording is {state}: {len(view)} bytes, but its prefix announces {expected}.",
            field="body",
        )
    body = view[_PREFIX.size:]
    if zlib.crc32(body) != crc:
        raise CodecError("Recording is corrupt: checksum mismatch.", field="body")
    header = _parse_header(body[:header_len])
    shape = header.pop("shape", None)
    dtype = header.pop("dtype", None)
    if dtype != "<f4":
        raise CodecError(f"dtype: expected '<f4', got {dtype!r}.", field="dtype")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(_is_count(n) and n > 0 for n in shape)):
        raise CodecError(
            f"shape: expected [n_channels, n_times], two positive integers, got {shape!r}.",
            field="shape")
    if shape[0] * shape[1] * 4 != data_len:
        raise CodecError(
            f"shape: {shape} needs {shape[0] * shape[1] * 4} data bytes, the prefix "
            f"announces {data_len}.",
            field="shape",
        )
    data = np.frombuffer(body[header_len:], dtype="<f4").reshape(shape)
    header["data"] = data.astype(np.float32)  # native order, own memory
    try:
        return Recording.model_validate(header)
    except ValidationError as err:
        raise CodecError(f"Invalid recording: {validation_message(err)}") from None


def _is_count(value: Any) -> bool:
    """A JSON integer usable as an array dimension (bools are ints to Python, not here)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_header(raw: memoryview) -> dict[str, Any]:
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except ValueError as err:  # bad UTF-8 or JSON, or an integer of over 4300 digits
        raise CodecError(f"header: not valid UTF-8 JSON ({err}).", field="header") from None
    except RecursionError:
        raise CodecError("header: nested too deeply to be a recording's metadata.",
                         field="header") from None
    if not isinstance(header, dict):
        raise CodecError("header: expected a JSON object.", field="header")
    return header


# --- Named arrays (features, epochs) and batches -----------------------------------
#
# The same framing for anything that is "some JSON metadata plus numeric arrays", such
# as the transform service's epoch sets:
#
#     0   8  magic b"BRAINARR"
#     8   2  codec version (1)
#     10  2  flags (0)
#     12  4  header length H
#     16  8  data length D
#     24  4  CRC-32 of header + data
#     28  H  header JSON: {"meta": {...}, "arrays": [{"name", "dtype", "shape"}, ...]}
#     28+H D the arrays' bytes, one after the other, C order, little-endian
#
# A batch is a sequence of frames, each prefixed by its length (u64 little-endian).

ARRAYS_MEDIA_TYPE = "application/vnd.brain.arrays.v1"
BATCH_MEDIA_TYPE = "application/vnd.brain.batch.v1"
ARRAYS_MAGIC = b"BRAINARR"
_ALLOWED_DTYPES = {"<f4", "<f8", "<i8", "<i4", "|u1", "|b1"}
_MAX_NDIM = 32  # NumPy's own limit is 64; BRAIN's arrays have at most 3 dimensions


def encode_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Encode JSON-ready ``meta`` and named numeric ``arrays`` into one frame."""
    specs, blobs = [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        code = dtype.str
        if code not in _ALLOWED_DTYPES:
            raise CodecError(f"array {name!r}: dtype {code} cannot be encoded.", field=name)
        specs.append({"name": name, "dtype": code, "shape": list(array.shape)})
        blobs.append(array.astype(code, copy=False).tobytes(order="C"))
    header = json.dumps({"meta": meta, "arrays": specs}, separators=(",", ":")).encode()
    data = b"".join(blobs)
    crc = zlib.crc32(data, zlib.crc32(header))
    return b"".join((_PREFIX.pack(ARRAYS_MAGIC, CODEC_VERSION, 0, len(header), len(data), crc),
                     header, data))


def decode_arrays(payload: bytes | bytearray | memoryview, *,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[dict[str, Any],
                                                               dict[str, np.ndarray]]:
    """Decode a frame made by :func:`encode_arrays` into ``(meta, arrays)``."""
    view = memoryview(payload)
    if len(view) > max_bytes:
        raise CodecError(f"Payload is {len(view)} bytes, above the limit of {max_bytes}.")
    if len(view) < _PREFIX.size:
        raise CodecError("Arrays payload is truncated.", field="body")
    magic, version, flags, header_len, data_len, crc = _PREFIX.unpack_from(view)
    if magic != ARRAYS_MAGIC or version != CODEC_VERSION or flags != 0:
        raise CodecError("Not a BRAIN arrays payload of a supported version.", field="body")
    if header_len > MAX_HEADER_BYTES or len(view) != _PREFIX.size + header_len + data_len:
        raise CodecError("Arrays payload is truncated or has a bad length.", field="body")
    body = view[_PREFIX.size:]
    if zlib.crc32(body) != crc:
        raise CodecError("Arrays payload is corrupt: checksum mismatch.", field="body")
    header = _parse_header(body[:header_len])
    arrays: dict[str, np.ndarray] = {}
    offset = header_len
    try:
        for spec in header["arrays"]:
            if spec["dtype"] not in _ALLOWED_DTYPES:
                raise CodecError(f"array {spec['name']!r}: dtype {spec['dtype']} refused.")
            dtype = np.dtype(spec["dtype"])
            if len(spec["shape"]) > _MAX_NDIM or not all(_is_count(n) for n in spec["shape"]):
                raise CodecError(f"array {spec['name']!r}: shape {spec['shape']!r} is not a "
                                 "list of non-negative integers.", field="header")
            size = math.prod(spec["shape"]) * dtype.itemsize  # exact: Python ints
            if offset + size > len(body):
                raise CodecError(f"array {spec['name']!r} runs past the payload.")
            arrays[spec["name"]] = np.frombuffer(body[offset:offset + size], dtype=dtype) \
                .reshape(spec["shape"]).copy()
            offset += size
        meta = header["meta"]
    except (KeyError, TypeError, ValueError) as err:
        raise CodecError(f"Arrays header is malformed ({err}).", field="header") from None
    if offset != len(body):
        raise CodecError("Arrays payload has bytes no array accounts for.", field="body")
    return meta, arrays


def pack_frames(frames: list[bytes]) -> bytes:
    """Concatenate frames, each prefixed by its u64 length (a batch)."""
    return b"".join(struct.pack("<Q", len(f)) + f for f in frames)


def unpack_frames(payload: bytes | bytearray | memoryview, *, max_frames: int = 10_000) -> list[
        memoryview]:
    """Split a batch made by :func:`pack_frames`."""
    view, offset = memoryview(payload), 0
    frames: list[memoryview] = []
    while offset < len(view):
        if offset + 8 > len(view):
            raise CodecError("Batch is truncated inside a frame length.", field="body")
        (size,) = struct.unpack_from("<Q", view, offset)
        offset += 8
        if offset + size > len(view):
            raise CodecError(f"Batch frame {len(frames)} is truncated.", field="body")
        frames.append(view[offset:offset + size])
        offset += size
        if len(frames) > max_frames:
            raise CodecError(f"Batch holds more than {max_frames} frames.", field="body")
    return frames
