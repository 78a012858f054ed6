"""Epoch sets on the wire: one :func:`brain_core.codec.encode_arrays` frame each."""

from __future__ import annotations

from brain_core.codec import decode_arrays, encode_arrays
from brain_core.errors import CodecError, InvalidInputError
from brain_transform_service.transform import EpochSet


def encode_epochs(epochs: EpochSet) -> bytes:
    """One frame holding the epoch set's arrays and metadata."""
    arrays, metadata = epochs.to_arrays()
    return encode_arrays(metadata, arrays)


def decode_epochs(payload: bytes | memoryview) -> EpochSet:
    """The inverse of :func:`encode_epochs`."""
    metadata, arrays = decode_arrays(payload)
    try:
        return EpochSet.from_arrays(arrays, metadata)
    except (InvalidInputError, KeyError, TypeError, ValueError) as err:
        raise CodecError(f"Not an epoch set: {err}", field="body") from None
