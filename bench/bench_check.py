"""One `havengate check` of a lab node pair against the bare ssh round trips it needs.

Both sides do the same remote work (the same probe script, sent by OpenSSH's client for
the baseline), measured interleaved in the same run on the same lab, so the ratio is
havengate's own cost: Python start-up, paramiko, parsing, rules, the report.

    python3 bench/bench_check.py [--runs 7] [--containers 6]

Prints one JSON document; the target is ratio_sequential <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lab import JavaSpec, Lab, default_conf

from havengate.facts.probe import Mode, probe_command

SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr[-400:]!r}")
    return elapsed


def bare_ssh(config: Path, alias: str, mode: str) -> list[str]:
    return ["ssh", "-F", str(config), *SSH_OPTIONS, alias,
            probe_command(secrets.token_hex(16), mode)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--containers", type=int, default=6)
    args = parser.parse_args()
    havengate = shutil.which("havengate")
    if not havengate:
        raise SystemExit("install havengate first (pip install -e .)")

    with tempfile.TemporaryDirectory(prefix="hg-bench-") as base, Lab(Path(base) / "lab") as lab:
        master, _ = lab.add_master_and_slave()
        for index in range(args.containers):
            ctid = str(101 + index)
            java = [JavaSpec(ports=[61616])] if index % 3 != 2 else []
            master.add_container(ctid, conf=default_conf(ctid, cpus=1 + index % 2), java=java)
            if java:
                master.container(ctid).wait_listening(61616, timeout=30)

        check = [havengate, "check", "--ssh-config", str(lab.ssh_config), "--source", "master",
                 "--target", "slave", "--no-baseline", "--format", "json", "-q"]
        samples: dict[str, list[float]] = {"havengate": [], "ssh_sequential": [], "ssh_parallel": []}
        timed(check)  # warm caches (page cache, JIT of nothing: only fair to both sides)
        for _ in range(args.runs):
            samples["havengate"].append(timed(check))
            start = time.perf_counter()
            timed(bare_ssh(lab.ssh_config, "master", Mode.FULL))
            timed(bare_ssh(lab.ssh_config, "slave", Mode.NODE))
            samples["ssh_sequential"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(timed, [bare_ssh(lab.ssh_config, "master", Mode.FULL),
                                      bare_ssh(lab.ssh_config, "slave", Mode.NODE)]))
            samples["ssh_parallel"].append(time.perf_counter() - start)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(json.dumps({
        "runs": args.runs,
        "containers": args.containers,
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "ratio_sequential": round(medians["havengate"] / medians["ssh_sequential"], 2),
        "ratio_parallel": round(medians["havengate"] / medians["ssh_parallel"], 2),
        "targets": "ratio_sequential <= 1.3 (issue 3); ratio_parallel <= 1.15 (issue 9)",
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
