"""Epoch sets on the wire: :func:`brain_core.codec.encode_arrays` frames."""

from __future__ import annotations

import uuid
from dataclasses import fields

from brain_core.codec import decode_arrays, encode_arrays
from brain_core.errors import CodecError
from brain_transform_service.transform import EpochSet

_ARRAYS = ("data", "times", "items", "onsets", "weights")


def encode_epochs(epochs: EpochSet) -> bytes:
    """One frame holding the epoch set's arrays and metadata."""
    meta = {f.name: getattr(epochs, f.name) for f in fields(epochs) if f.name not in _ARRAYS}
    meta["session_id"] = str(meta["session_id"])
    meta["ch_names"] = list(meta["ch_names"])
    meta["bad_channels"] = list(meta["bad_channels"])
    return encode_arrays(meta, {name: getattr(epochs, name) for name in _ARRAYS})


def decode_epochs(payload: bytes | memoryview) -> EpochSet:
    """The inverse of :func:`encode_epochs`."""
    meta, arrays = decode_arrays(payload)
    try:
        meta["session_id"] = uuid.UUID(meta["session_id"])
        meta["ch_names"] = tuple(meta["ch_names"])
        meta["bad_channels"] = tuple(meta["bad_channels"])
        return EpochSet(**meta, **arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise CodecError(f"Not an epoch set: {err}", field="body") from None
