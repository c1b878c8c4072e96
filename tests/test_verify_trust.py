"""`havengate verify` on nodes and JVMs it was not tuned to (issue 8), for real over SSH.

A hung JVM is not always idle: the lab's hung JVMs here keep a metrics thread working at
0 %, 10 % and 30 % of a CPU. A slow starter burns a whole CPU for 20 s before it opens its
port: it must never be called hung. A container running nginx and no Java must verify.
Permanent errors (a changed host key, a node without vzctl) end verify at once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, ServiceSpec, default_conf
from runner import havengate

from havengate.documents import validate

PORT = 61616
HUNG = {"411": 0.0, "412": 0.1, "413": 0.3}  # CTID -> share of a CPU its hung JVM keeps using
SLOW, NGINX = "414", "415"


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("verify-trust"))
    try:
        instance.add_master_and_slave()
        instance.add_node("rekeyed", kernel="2.6.32-042stab134.8", cpus=4, vzctl_version="4.9.4")
        bare = instance.add_node("bare", kernel="2.6.32-042stab134.8", cpus=4,
                                 vzctl_version="4.9.4")
        for tool in ("vzctl", "vzlist", "vzmigrate"):  # not an OpenVZ node (any more)
            (bare.dir / "bin" / tool).unlink()
        yield instance
    finally:
        instance.close()


def verify_json(lab: Lab, state: Path, *args: str) -> tuple[int, dict, str]:
    result = havengate(lab, "verify", *args, "--target", "slave", "--state-dir", str(state),
                       "--format", "json")
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    validate(report, "report")
    return result.returncode, report, result.stderr


@pytest.fixture(scope="module")
def moved(lab, tmp_path_factory) -> Path:
    """Five one-CPU containers checked on the 2.6.24 master, then moved to the 2.6.32 slave."""
    master = lab.nodes["master"]
    for index, (ctid, busy) in enumerate(HUNG.items()):
        ip = f"10.200.5.{11 + index}"
        master.add_container(ctid, conf=default_conf(ctid, cpus=1, ip=ip), ip=ip,
                             java=[JavaSpec(ports=[PORT], busy=busy)])
    master.add_container(SLOW, conf=default_conf(SLOW, cpus=1, ip="10.200.5.14"),
                         ip="10.200.5.14",
                         java=[JavaSpec(ports=[PORT], delay=20, busy=1.0, hangs=False)])
    master.add_container(NGINX, conf=default_conf(NGINX, cpus=1, ip="10.200.5.15"),
                         ip="10.200.5.15", services=[ServiceSpec("nginx", [80])])
    for ctid in (*HUNG, SLOW):
        assert master.container(ctid).wait_listening(PORT, timeout=40), ctid
    assert master.container(NGINX).wait_listening(80, timeout=20)
    state = tmp_path_factory.mktemp("state")
    checked = havengate(lab, "check", *HUNG, SLOW, NGINX, "--source", "master", "--target",
                        "slave", "--state-dir", str(state))
    assert checked.returncode == 1, checked.stderr  # at risk; moved anyway to see the hang
    for ctid in (*HUNG, SLOW, NGINX):
        assert lab.ssh("master", f"vzmigrate slave {ctid}", timeout=120).returncode == 0
    return state


def test_the_baseline_lists_every_port_with_its_program(moved):
    nginx = json.loads((moved / "baselines" / "master" / f"{NGINX}.json").read_text())
    assert [(p["port"], p["program"], p["java"]) for p in nginx["ports"]] == [(80, "nginx", False)]
    assert nginx["java_ports"] == []


def test_hung_jvms_busy_or_idle_are_called_hung_and_the_slow_starter_is_not(lab, moved):
    started = time.monotonic()
    code, report, stderr = verify_json(lab, moved, *HUNG, SLOW, NGINX, "--timeout", "45")
    elapsed = time.monotonic() - started
    results = {c["ctid"]: c for c in report["containers"]}
    verdicts = {ctid: result["verdict"] for ctid, result in results.items()}
    assert verdicts == {**dict.fromkeys(HUNG, "failed"), SLOW: "verified", NGINX: "verified"}, \
        stderr[-3000:]
    assert code == 1 and elapsed < 45, f"{elapsed:.1f} s: called only at the 45 s deadline"
    for ctid in HUNG:
        (hang,) = results[ctid]["findings"]
        assert hang["rule"] == "HG101", (ctid, hang)
        assert hang["remediation"].startswith(f"vzctl set {ctid} --cpumask 0 --save")
        assert any("alive for" in line for line in hang["evidence"])
        assert any("sees 1 CPU on a 4-CPU node" in line for line in hang["evidence"])
        assert any("cycles in timed waits" in line for line in hang["evidence"]), hang
    assert not results[SLOW]["findings"]
    text = havengate(lab, "verify", "411", "--target", "slave", "--state-dir", str(moved),
                     "--timeout", "45")
    assert "HG101 futex-hang (suspected)" in text.stdout
    assert "fix: vzctl set 411 --cpumask 0 --save" in text.stdout


def test_remediation_turns_each_hung_jvm_verified_and_leaves_the_slow_starter_alone(lab, moved):
    assert lab.ssh("slave", f"vzctl restart {SLOW}", timeout=60).returncode == 0  # slow again
    code, report, stderr = verify_json(lab, moved, *HUNG, SLOW, "--timeout", "90",
                                       "--remediate")
    results = {c["ctid"]: c for c in report["containers"]}
    assert {ctid: r["verdict"] for ctid, r in results.items()} == dict.fromkeys(
        (*HUNG, SLOW), "verified"), stderr[-3000:]
    assert code == 0
    for ctid in HUNG:
        assert results[ctid]["patch"]["status"] == "patched"
        assert 'CPUMASK="0"' in lab.nodes["slave"].read_conf(ctid)
    assert results[SLOW]["patch"] is None
    assert "CPUMASK" not in lab.nodes["slave"].read_conf(SLOW)


def test_a_container_without_java_verifies(lab, moved):
    code, report, stderr = verify_json(lab, moved, NGINX, "--timeout", "30")
    (result,) = report["containers"]
    assert (code, result["verdict"]) == (0, "verified"), stderr
    listen = next(c for c in result["checks"] if c["kind"] == "listen")
    assert listen["target"] == "tcp/80" and "nginx listens" in listen["detail"]


def test_permanent_errors_end_verify_at_once(lab, moved):
    lab.replace_host_key(lab.nodes["rekeyed"])
    for node, says in (("rekeyed", "MISMATCH"), ("bare", "no vzctl")):
        started = time.monotonic()
        result = havengate(lab, "verify", NGINX, "--target", node, "--state-dir", str(moved))
        elapsed = time.monotonic() - started
        assert result.returncode == 3, result.stderr
        assert says in result.stdout + result.stderr
        assert elapsed < 5, f"{node}: {elapsed:.1f} s with the default 120 s deadline"
