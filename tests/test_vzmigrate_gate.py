"""hooks/vzmigrate, the node-side gate, under dash and busybox sh on a lab node: it runs the
real vzmigrate only with a fresh go token that `havengate check` wrote over SSH."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, default_conf
from runner import HAVENGATE

WRAPPER = Path(__file__).parent.parent / "hooks" / "vzmigrate"
SHELLS = [shell for shell in ("dash", "busybox") if shutil.which(shell)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("gate"))
    try:
        master, _ = instance.add_master_and_slave()
        master.add_container("601", conf=default_conf("601", cpus=2),
                             java=[JavaSpec(ports=[61616])])
        fake = master.dir / "real-vzmigrate"  # records what it was asked, moves nothing
        fake.write_text(f"#!/bin/sh\necho \"$@\" >> {master.dir / 'moves.log'}\nexit 0\n")
        fake.chmod(0o755)
        yield instance
    finally:
        instance.close()


def gate(lab: Lab, shell: str, *args: str, override: bool = False):
    master = lab.nodes["master"]
    argv = ["busybox", "sh"] if shell == "busybox" else [shell]
    env = {"HAVENGATE_REAL_VZMIGRATE": str(master.dir / "real-vzmigrate"),
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if override:
        env["HAVENGATE_OVERRIDE"] = "1"
    result = master.run([*argv, str(WRAPPER), *args], env=env)
    return result.returncode, result.stderr.decode()


def moves(lab: Lab) -> list[str]:
    log = lab.nodes["master"].dir / "moves.log"
    return log.read_text().splitlines() if log.exists() else []


def check(lab: Lab, tmp_path: Path, *extra: str) -> None:
    result = subprocess.run(
        [HAVENGATE, "check", "601", "--source", "master", "--target", "slave", "--state-dir",
         str(tmp_path), "--ssh-config", str(lab.ssh_config), *extra],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_gate_passes_only_with_a_fresh_token_for_that_move(lab, tmp_path, shell):
    master = lab.nodes["master"]
    master.run(["rm", "-f", "/var/lib/havengate/go/601"])
    code, said = gate(lab, shell, "slave", "601")
    assert code == 1 and "no go token" in said and "havengate check 601" in said
    before = len(moves(lab))

    check(lab, tmp_path)
    for args in (["slave", "601"], ["--online", "-r", "no", "--keep-dst", "slave", "601"]):
        code, said = gate(lab, shell, *args)
        assert code == 0, said
    assert moves(lab)[before:] == ["slave 601", "--online -r no --keep-dst slave 601"]

    code, said = gate(lab, shell, "10.9.9.9", "601")
    assert code == 1 and "is for slave, not 10.9.9.9" in said

    conf = master.read_conf("601")
    master.write_conf("601", conf + "# edited after the check\n")
    code, said = gate(lab, shell, "slave", "601")
    assert code == 1 and "changed since havengate checked it" in said
    code, said = gate(lab, shell, "slave", "601", override=True)
    assert code == 0 and "WARNING" in said and "HAVENGATE_OVERRIDE=1" in said
    master.write_conf("601", conf)

    check(lab, tmp_path, "--go-ttl", "1")
    time.sleep(2.1)
    code, said = gate(lab, shell, "slave", "601")
    assert code == 1 and "expired" in said


def test_a_no_go_container_gets_no_token(lab, tmp_path):
    master = lab.nodes["master"]
    master.add_container("602", conf=default_conf("602", cpus=1), java=[JavaSpec(ports=[61616])])
    master.run(["rm", "-f", "/var/lib/havengate/go/602"])
    subprocess.run([HAVENGATE, "check", "602", "--source", "master", "--target", "slave",
                    "--state-dir", str(tmp_path), "--ssh-config", str(lab.ssh_config)],
                   capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert master.run(["test", "-e", "/var/lib/havengate/go/602"]).returncode != 0


def test_the_runbook_hooks_run_on_the_control_host(lab, tmp_path):
    """hooks/pre-migrate SOURCE DEST CTID, then vzmigrate, then hooks/post-migrate."""
    hooks = WRAPPER.parent
    lab.nodes["master"].add_container("603", conf=default_conf("603", cpus=2, ip="10.200.7.3"),
                                      ip="10.200.7.3", java=[JavaSpec(ports=[61616])])
    assert lab.nodes["master"].container("603").wait_listening(61616, timeout=30)
    common = ["--state-dir", str(tmp_path), "--ssh-config", str(lab.ssh_config)]
    pre = subprocess.run(["sh", str(hooks / "pre-migrate"), "master", "slave", "603", *common],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert pre.returncode == 0, pre.stderr
    assert lab.ssh("master", "vzmigrate slave 603", timeout=120).returncode == 0
    post = subprocess.run(["sh", str(hooks / "post-migrate"), "master", "slave", "603", *common,
                           "--timeout", "60"],
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert post.returncode == 0, post.stdout + post.stderr
    assert "VERIFIED" in post.stdout
    bad = subprocess.run(["sh", str(hooks / "pre-migrate"), "master"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "usage" in bad.stderr
