"""Coverage-guided fuzzing of the wire codec with atheris (libFuzzer).

Run by ``test_fuzz_codec.py`` with a fixed ``-runs=`` budget; by hand for longer::

    python brain_core/tests/fuzz_codec_atheris.py -runs=200000 CORPUS_DIR

Any exception other than :class:`~brain_core.errors.CodecError` is a crash.
"""

import contextlib
import sys

import atheris

with atheris.instrument_imports(include=["brain_core"]):
    from brain_core.codec import decode_arrays, decode_recording, unpack_frames
    from brain_core.errors import CodecError


def test_one_input(payload: bytes) -> None:
    """Each decoder either returns or raises CodecError."""
    for decode in (decode_recording, decode_arrays, unpack_frames):
        with contextlib.suppress(CodecError):
            decode(payload)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
