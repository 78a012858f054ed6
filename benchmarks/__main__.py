"""``python -m benchmarks [NAME ...]``: run the benchmarks (all by default).

Each ``benchmarks/bench_<name>.py`` is run as its own process and prints a markdown table;
the output is also saved under ``artifacts/bench/<name>.md``. BENCHMARKS.md records the
numbers with the machine and the date.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = argv or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    out_dir = HERE.parent / "artifacts" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = (f"{platform.node()} · {platform.processor() or platform.machine()} · "
               f"Python {platform.python_version()} · {datetime.now(UTC):%Y-%m-%d}")
    failed = []
    for name in chosen:
        print(f"\n## {name}  ({machine})\n", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")],
                                capture_output=True, text=True)
        print(result.stdout, end="")
        (out_dir / f"{name}.md").write_text(f"<!-- {machine} -->\n{result.stdout}")
        if result.returncode != 0:
            failed.append(name)
            print(result.stderr[-3000:], file=sys.stderr)
        print(f"\n({name}: {time.monotonic() - started:.0f} s)", flush=True)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
