"""havengate's own cost on a wave: `havengate migrate` of 3 containers against the same
three vzmigrate calls made bare over ssh, in the same lab, in the same run.

    ratio = (havengate migrate wall time - its verify steps) / (bare ssh vzmigrate x 3)

The verify wait is excluded (it waits for the services to come back, which the bare
calls never check); the gate's probe, the go tokens, the baselines, the wave journal and
the streaming of vzmigrate's output are what is measured. Target: ratio <= 1.15.
Runs alternate (bare, havengate) so drift on the machine hits both alike; each round
moves the containers back to the source by hand first.

    python3 bench/bench_migrate.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lab import JavaSpec, Lab, ServiceSpec, default_conf

CTIDS = ("801", "802", "803")


def ssh(lab: Lab, node: str, command: str) -> None:
    result = lab.ssh(node, command, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"{node}: {command}: exit {result.returncode}: {result.stderr[-500:]}")


def bare(lab: Lab) -> float:
    started = time.monotonic()
    for ctid in CTIDS:
        subprocess.run(lab.ssh_argv("master", f"vzmigrate slave {ctid}"), check=True,
                       capture_output=True, timeout=300)
    return time.monotonic() - started


def with_havengate(havengate: str, lab: Lab, state: Path) -> tuple[float, float]:
    """(wall seconds, of which verifying)"""
    started = time.monotonic()
    result = subprocess.run(
        [havengate, "migrate", *CTIDS, "--source", "master", "--target", "slave",
         "--ssh-config", str(lab.ssh_config), "--state-dir", str(state), "--format", "json",
         "-q", "--timeout", "120"], capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"havengate migrate exit {result.returncode}: {result.stderr[-1500:]}")
    report = json.loads(result.stdout)
    verifying = sum(step["seconds"] or 0 for ct in report["containers"] for step in ct["steps"]
                    if step["name"] == "verify")
    return wall, verifying


def move_back(lab: Lab) -> None:
    for ctid in CTIDS:
        ssh(lab, "slave", f"vzmigrate master {ctid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    havengate = shutil.which("havengate")
    if not havengate:
        raise SystemExit("install havengate first (pip install -e .)")
    bares, ours, verifies = [], [], []
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as base, Lab(Path(base) / "lab") as lab:
        master, _ = lab.add_master_and_slave()
        for index, ctid in enumerate(CTIDS):  # two JVMs that need no patch, one nginx
            ip = f"10.200.8.{index + 1}"
            java = [JavaSpec(ports=[61616])] if index < 2 else []
            services = [] if index < 2 else [ServiceSpec("nginx", [80])]
            master.add_container(ctid, conf=default_conf(ctid, cpus=2, ip=ip), ip=ip, java=java,
                                 services=services)
        for run in range(args.runs):
            bares.append(bare(lab))
            move_back(lab)
            wall, verifying = with_havengate(havengate, lab, Path(base) / f"state{run}")
            ours.append(wall - verifying)
            verifies.append(verifying)
            move_back(lab)
    ratio = statistics.median(ours) / statistics.median(bares)
    print(json.dumps({
        "runs": args.runs,
        "containers": len(CTIDS),
        "bare_ssh_vzmigrate_seconds": {"median": round(statistics.median(bares), 3),
                                       "all": [round(x, 3) for x in bares]},
        "havengate_migrate_without_verify_seconds": {
            "median": round(statistics.median(ours), 3), "all": [round(x, 3) for x in ours]},
        "verify_seconds_excluded": {"median": round(statistics.median(verifies), 3)},
        "ratio": round(ratio, 3),
        "target": "ratio <= 1.15",
        "met": ratio <= 1.15,
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
