"""How soon `havengate verify` notices a port that opens, and how early it calls a hang.

1. Notice latency: a JVM opens its port a few seconds after its container starts; a
   watcher in this process connects to it every 10 ms to learn when it really opened;
   the latency is from that moment to `havengate verify` exiting with "verified".
   Target: median <= 0.5 s.
2. Hang verdict: a one-CPU JVM on the multi-core 2.6.32 node hangs; the time until
   verify reports `futex-hang (suspected)`, against its 120 s deadline.

    python3 bench/bench_verify.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lab import JavaSpec, Lab, default_conf

PORT = 61616
DEADLINE = 120.0


def opened_at(address: str, stop: threading.Event, result: list[float]) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection((address, PORT), timeout=0.05):
                result.append(time.monotonic())
                return
        except OSError:
            time.sleep(0.01)


def run(havengate: str, lab: Lab, config: Path, state: Path, ctid: str, *extra: str):
    return subprocess.run([havengate, "verify", ctid, "--target", "slave", "--ssh-config",
                           str(lab.ssh_config), "--state-dir", str(state), "--config", str(config),
                           "--format", "json", "-q", *extra],
                          capture_output=True, text=True, timeout=DEADLINE + 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    havengate = shutil.which("havengate")
    if not havengate:
        raise SystemExit("install havengate first (pip install -e .)")
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as base, Lab(Path(base) / "lab") as lab:
        slave = lab.add_node("slave", kernel="2.6.32-042stab134.8", cpus=4, vzctl_version="4.9.4")
        config = Path(base) / "config.json"
        state = Path(base) / "state"
        address = "10.200.9.1"
        config.write_text(json.dumps({"verify": {"containers": {
            "901": {"tcp": [PORT], "addresses": [address]}, "902": {"tcp": [PORT]}}}}))
        slave.add_container("901", conf=default_conf("901", cpus=2, ip=address), running=False,
                            java=[JavaSpec(ports=[PORT], delay=3.0)], ip=address)
        for _ in range(args.runs):
            slave.start_container("901")
            stop, opened = threading.Event(), []
            watcher = threading.Thread(target=opened_at, args=(address, stop, opened))
            watcher.start()
            result = run(havengate, lab, config, state, "901", "--timeout", "30")
            done = time.monotonic()
            stop.set()
            watcher.join()
            if result.returncode != 0 or not opened:
                raise SystemExit(f"verify did not verify: {result.stdout[-500:]}{result.stderr[-500:]}")
            latencies.append(done - opened[0])
            slave.stop_container("901")

        slave.add_container("902", conf=default_conf("902", cpus=1), java=[JavaSpec(ports=[PORT])])
        started = time.monotonic()
        hung = run(havengate, lab, config, state, "902", "--timeout", str(DEADLINE),
                   "--hang-after", "5")
        hang_seconds = time.monotonic() - started
        finding = json.loads(hung.stdout)["containers"][0]["findings"][0]
        if finding["rule"] != "HG101":
            raise SystemExit(f"expected the futex-hang verdict, got {finding}")

    print(json.dumps({
        "runs": args.runs,
        "notice_latency_seconds": {"median": round(statistics.median(latencies), 3),
                                   "max": round(max(latencies), 3),
                                   "all": [round(x, 3) for x in latencies]},
        "target": "median notice latency <= 0.5 s",
        "hang_verdict_seconds": round(hang_seconds, 1),
        "hang_verdict_vs_deadline": f"{hang_seconds:.1f} s of {DEADLINE:g} s "
                                    f"({100 * hang_seconds / DEADLINE:.0f}%), --hang-after 5",
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
