"""How fast havengate starts: every move runs it (hooks, CI steps), so start-up is paid
per container. Whole process, wall time, median of runs, against a bare interpreter
measured in the same run.

    python3 bench/bench_startup.py [--runs 9]

Targets (issue 9): `havengate --version` <= 0.15 s, an offline check of the example facts
<= 0.35 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "havengate --version": [shutil.which("havengate") or "havengate", "--version"],
    "python -m havengate --version": [sys.executable, "-m", "havengate", "--version"],
    "havengate check (offline example)": [
        shutil.which("havengate") or "havengate", "check", "-q",
        "--source-facts", str(EXAMPLES / "master-2.6.24.facts.json"),
        "--target-facts", str(EXAMPLES / "slave-2.6.32.facts.json")],
}
HEAVY = ("paramiko", "requests", "jsonschema", "fabric", "invoke", "cryptography")


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved, so a busy moment hits every command alike
        for name, argv in COMMANDS.items():
            times[name].append(wall(argv))
    for name, samples in times.items():
        print(f"{name:<36} median {statistics.median(samples):.3f} s  "
              f"min {min(samples):.3f} s  max {max(samples):.3f} s")
    probe = subprocess.run([sys.executable, "-c", "import sys, havengate.cli; print(' '.join("
                            f"m for m in {HEAVY!r} if m in sys.modules))"],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    print(f"heavy libraries imported by `import havengate.cli`: {probe.stdout.strip() or 'none'}")


if __name__ == "__main__":
    main()
