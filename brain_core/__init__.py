"""BRAIN's shared contract: models, codec, device profiles, paradigms and BIDS I/O."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brain-core")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
