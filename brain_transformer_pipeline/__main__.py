"""``python -m brain_transformer_pipeline``: one pipeline run (for schedulers), JSON logs."""

from __future__ import annotations

import json
import sys

from brain_core.errors import BrainError
from brain_core.logs import configure_logging
from brain_transformer_pipeline.config import Settings
from brain_transformer_pipeline.pipeline import run_pipeline


def main() -> int:
    configure_logging("brain_transformer_pipeline")
    try:
        report = run_pipeline(Settings())
    except BrainError as err:
        print(json.dumps({"error": str(err)}), file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
