"""`havengate scan` on a lab fleet: how it compares and how it grows.

1. A fleet of NODES nodes (half 2.6.24 masters, half their 2.6.32 slaves) of CONTAINERS
   containers each (RUNNING of them running, the rest state-only: vzlist and vzctl answer
   for them as for any stopped container):
   - scan wall time vs the slowest single node's probe (`havengate facts NODE`, each node
     alone, the same run). Target: <= 2x.
   - vs the same probe script run by `ansible all -m raw` with Ansible's default forks on
     the same nodes. Target: havengate >= 5x faster.
   - peak RSS of the havengate process (wait4).
2. Growth: scan wall time for 10/20/40/80 nodes (the subsets of one fleet of 80), and
   `havengate facts` of one node holding 5/10/25/50 running containers (target: 50 <= 2x
   the time of 5).

    python3 bench/bench_scan.py [--nodes 40] [--containers 25] [--running 2] [--quick]

Caveat: every lab node shares this machine's CPUs with the scan itself (the probes' calls
to uname, vzctl --version and vzctl exec2 are sh, as cheap as a real node's C tools; vzlist
and the rest are still Python): on a machine of few CPUs the wall times measure the nodes'
side of the work, which a real fleet does on its own CPUs, in parallel. So the CPU seconds
of havengate and of ansible themselves (the control host's side) are reported beside the
wall times, and so is the nodes' own CPU (the machine's CPU during each single probe, less
havengate's): `machine_floor_seconds` is the least wall time this machine allows for the
nodes' work whoever sends the probes (the slowest node, or all of that CPU over every
core), and `*_ratio_to_machine_floor` how close each run came to it. Run it on an otherwise
idle machine: the CPU figures are the whole machine's (/proc/stat).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab

from havengate.facts.probe import Mode, probe_command

MASTER, SLAVE = "2.6.24-12-pve", "2.6.32-042stab134.8"


CPU: dict[str, float] = {}  # argv[0..1] -> CPU seconds of the last run (user + system)
MACHINE_CPU: dict[str, float] = {}  # argv[0..1] -> CPU seconds of the whole machine, same run


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (every lab node's sshd and tools too)."""
    with open("/proc/stat") as stat:
        fields = [int(word) for word in stat.readline().split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def timed(argv: list[str], env: dict | None = None,
          log: Path | None = None) -> tuple[float, int, int]:
    """(wall seconds, exit code, peak RSS in MiB of the process and what it waited for)."""
    sink = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    busy = machine_cpu_seconds()
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT if log else sink,
                               stdin=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    key = f"{Path(argv[0]).name} {argv[1]}"
    CPU[key] = round(usage.ru_utime + usage.ru_stime, 2)
    MACHINE_CPU[key] = round(machine_cpu_seconds() - busy, 2)
    if log:
        sink.close()
    return time.monotonic() - started, process.returncode, usage.ru_maxrss // 1024


def build(lab: Lab, count: int, containers: int, running: int) -> list[str]:
    names = []
    for index in range(count):
        master = index % 2 == 0
        name = f"n{index:03d}"
        node = lab.add_node(name, kernel=MASTER if master else SLAVE, cpus=8,
                            vzctl_version="3.0.24" if master else "4.9.4")
        base = 1000 + index * 100
        for ctid in range(base, base + running):
            node.add_container(str(ctid))
        node.add_stopped_containers(str(c) for c in range(base + running, base + containers))
        names.append(name)
    return names


def inventory(lab: Lab, names: list[str], path: Path, sizes: list[int]) -> None:
    lines = ["[masters]"]
    for index in range(0, len(names) - 1, 2):
        master, slave = names[index], names[index + 1]
        lines.append(f"{master} ansible_host=127.0.0.1 ansible_port={lab.nodes[master].port} "
                     f"ansible_user=root havengate_peer={slave}")
    lines.append("[slaves]")
    lines += [f"{names[i]} ansible_host=127.0.0.1 ansible_port={lab.nodes[names[i]].port} "
              "ansible_user=root" for i in range(1, len(names), 2)]
    for size in sizes:  # a group per fleet size: its masters (their slaves come along)
        lines.append(f"[size{size}]")
        lines += names[0:size:2]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--containers", type=int, default=25)
    parser.add_argument("--running", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="skip the growth runs")
    args = parser.parse_args()
    havengate = shutil.which("havengate")
    if not havengate or not shutil.which("ansible"):
        raise SystemExit("install havengate and ansible-core first (pip install -e '.[test]')")
    sizes = [n for n in (10, 20, 40, 80) if not args.quick] or [args.nodes]
    total = max(args.nodes, *sizes)
    result: dict = {"nodes": args.nodes, "containers_per_node": args.containers,
                    "running_per_node": args.running, "cpus_here": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as base, Lab(Path(base) / "lab") as lab:
        started = time.monotonic()
        names = build(lab, total, args.containers, args.running)
        result["lab_build_seconds"] = round(time.monotonic() - started, 1)
        ssh_config = Path(base) / "ssh_config"
        ssh_config.write_text(f"Host *\n  IdentityFile {lab.client_key}\n"
                              f"  UserKnownHostsFile {lab.known_hosts}\n  IdentitiesOnly yes\n"
                              "  StrictHostKeyChecking yes\n")
        hosts = Path(base) / "hosts.ini"
        inventory(lab, names, hosts, sorted({*sizes, args.nodes}))
        scan = [havengate, "scan", "-i", str(hosts), "--ssh-config", str(ssh_config),
                "--state-dir", str(Path(base) / "state"), "-q", "--format", "json", "-o",
                str(Path(base) / "scan.json")]

        wall, code, rss = timed([*scan, "--limit", f"size{args.nodes}"])
        if code not in (0, 1):
            raise SystemExit(f"scan exit {code}: see {base}/scan.json")
        scan_cpu, scan_machine = CPU["havengate scan"], MACHINE_CPU["havengate scan"]
        fleet = names[:args.nodes]
        singles = []
        nodes_cpu = 0.0  # the nodes' side of every probe: the machine's CPU less havengate's
        for index, name in enumerate(fleet):  # masters probed whole, slaves node-only
            single, code, _ = timed([havengate, "facts", name, "--no-config", "-q", "-o",
                                     os.devnull, "--ssh-config", str(lab.ssh_config),
                                     *(["--node-only"] if index % 2 else [])])
            if code != 0:
                raise SystemExit(f"facts {name}: exit {code}")
            singles.append(single)
            nodes_cpu += max(0.0, MACHINE_CPU["havengate facts"] - CPU["havengate facts"])
        # the same probe per host as the scan sends (full on masters, node-only on slaves)
        probes = {name: probe_command(secrets.token_hex(16), Mode.NODE if index % 2
                                      else Mode.FULL) for index, name in enumerate(fleet)}
        extra = Path(base) / "probes.json"
        extra.write_text(json.dumps({"havengate_probes": probes}))
        env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_SSH_COMMON_ARGS": f"-F {ssh_config}", "ANSIBLE_HOME": f"{base}/ansible",
               "ANSIBLE_LOCALHOST_WARNING": "False"}
        ansible, code, _ = timed(["ansible", "all", "-i", str(hosts), "--limit", ",".join(fleet),
                                  "-m", "raw", "-a", "exec {{ havengate_probes[inventory_hostname] }}",
                                  "-e", f"@{extra}"], env=env, log=Path(base) / "ansible.log")
        if code != 0:
            raise SystemExit(f"ansible raw: exit {code}: "
                             f"{(Path(base) / 'ansible.log').read_text()[-3000:]}")
        cores = len(os.sched_getaffinity(0))
        # The least wall time this machine allows for the nodes' work alone, whoever sends
        # the probes: the slowest node, or every node's CPU (measured on the single probes,
        # fixed work) spread over every core.
        floor = max(max(singles), nodes_cpu / cores)
        result["scan"] = {
            "wall_seconds": round(wall, 2), "peak_rss_mib": rss,
            "havengate_cpu_seconds": scan_cpu, "ansible_cpu_seconds": CPU["ansible all"],
            "slowest_single_probe_seconds": round(max(singles), 2),
            "ratio_to_slowest_single": round(wall / max(singles), 2),
            "target_ratio_to_slowest_single": "<= 2",
            "ansible_raw_default_forks_seconds": round(ansible, 2),
            "times_faster_than_ansible_raw": round(ansible / wall, 2),
            "target_times_faster_than_ansible_raw": ">= 5",
            "nodes_cpu_seconds": round(nodes_cpu, 2),
            "machine_cpu_seconds_scan": scan_machine,
            "machine_cpu_seconds_ansible": MACHINE_CPU["ansible all"],
            "machine_floor_seconds": round(floor, 2),
            "scan_ratio_to_machine_floor": round(wall / floor, 2),
            "ansible_ratio_to_machine_floor": round(ansible / floor, 2),
        }
        if not args.quick:
            result["growth_nodes"] = {}
            for size in sizes:
                wall, code, rss = timed([*scan, "--limit", f"size{size}"])
                result["growth_nodes"][str(size)] = {"wall_seconds": round(wall, 2),
                                                     "peak_rss_mib": rss, "exit": code}
            result["growth_containers_one_node"] = containers_growth(lab, base, havengate)
    print(json.dumps(result, indent=2))
    return 0


def containers_growth(lab: Lab, base: str, havengate: str) -> dict:
    """One node holding 5, 10, 25, 50 running containers: the probe's wall time."""
    out = {}
    for count in (5, 10, 25, 50):
        name = f"c{count}"
        node = lab.add_node(name, kernel=MASTER, cpus=8, vzctl_version="3.0.24")
        for ctid in range(100, 100 + count):
            node.add_container(str(ctid))
        runs = []
        for _ in range(3):
            wall, code, _ = timed([havengate, "facts", name, "--no-config", "-q", "-o",
                                   os.devnull, "--ssh-config", str(lab.ssh_config)])
            if code != 0:
                raise SystemExit(f"facts {name}: exit {code}")
            runs.append((wall, MACHINE_CPU["havengate facts"]))
        wall, busy = sorted(runs)[1]
        out[str(count)] = round(wall, 2)
        out[f"{count}_machine_cpu_seconds"] = busy
    out["ratio_50_to_5"] = round(out["50"] / out["5"], 2)
    out["target_ratio_50_to_5"] = "<= 2"
    return out


if __name__ == "__main__":
    raise SystemExit(main())
