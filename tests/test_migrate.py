"""`havengate migrate` for real: the gate, the lab's vzmigrate run on the source over SSH,
verify on the target; a no-go container is never handed to vzmigrate (the lab's call log
proves it); the same command again skips what moved and verified."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, ServiceSpec, default_conf
from runner import HAVENGATE

from havengate.documents import validate

PORT = 61616


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("migrate"))
    try:
        instance.add_master_and_slave()
        yield instance
    finally:
        instance.close()


def java_ct(lab: Lab, ctid: str, cpus: int) -> None:
    ip = f"10.200.6.{int(ctid) % 250}"
    lab.nodes["master"].add_container(ctid, conf=default_conf(ctid, cpus=cpus, ip=ip), ip=ip,
                                      java=[JavaSpec(ports=[PORT])])
    assert lab.nodes["master"].container(ctid).wait_listening(PORT, timeout=30)


def migrate(lab: Lab, state: Path, *args: str) -> tuple[int, dict, str]:
    result = subprocess.run(
        [HAVENGATE, "migrate", *args, "--source", "master", "--target", "slave",
         "--state-dir", str(state), "--format", "json", "--timeout", "60",
         "--ssh-config", str(lab.ssh_config)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    validate(report, "report")
    return result.returncode, report, result.stderr


def start_wave(lab: Lab, state: Path, *ctids: str, until: str):
    """`havengate migrate CTIDS` in the background (JSON report on stdout); returns once a
    line of its stderr holds ``until`` (the lines read so far with it)."""
    import time

    process = subprocess.Popen(
        [HAVENGATE, "migrate", *ctids, "--source", "master", "--target", "slave",
         "--state-dir", str(state), "--format", "json", "--timeout", "60",
         "--ssh-config", str(lab.ssh_config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    said: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        said.append(process.stderr.readline())
        if until in said[-1] or not said[-1]:
            break
    if until not in said[-1]:
        process.kill()
        process.wait(timeout=30)
        raise AssertionError(f"never saw {until!r}: {''.join(said)[-3000:]}")
    return process, said


def landed(node, ctid: str, within: float = 90) -> None:
    """Wait until a vzmigrate we left running has the container up on ``node``."""
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not (node.has_conf(ctid)
                                                and node.container(ctid).running):
        time.sleep(0.5)
    assert node.has_conf(ctid) and node.container(ctid).running, f"CT {ctid} did not land"


def moved(lab: Lab) -> list[str]:
    return [argv[-1] for argv in lab.nodes["master"].commands() if argv[0] == "vzmigrate"]


def test_policy_patch_fixes_moves_and_verifies_the_wave_and_a_rerun_skips_it(lab, tmp_path):
    java_ct(lab, "501", 1)  # one CPU, no pin: HG001 -- patched first
    java_ct(lab, "502", 2)
    lab.nodes["master"].add_container("504", conf=default_conf("504", cpus=1, ip="10.200.6.4"),
                                      ip="10.200.6.4", services=[ServiceSpec("nginx", [80])])
    assert lab.nodes["master"].container("504").wait_listening(80, timeout=20)
    code, report, stderr = migrate(lab, tmp_path, "501", "502", "504", "--policy", "patch")
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert (code, verdicts) == (0, dict.fromkeys(("501", "502", "504"), "verified")), \
        stderr[-3000:]
    phases = {c["ctid"]: [(s["name"], s["outcome"]) for s in c["steps"]]
              for c in report["containers"]}
    assert phases["501"] == [("check", "ok"), ("patch", "ok"), ("migrate", "ok"),
                             ("verify", "ok")]
    assert phases["504"] == [("check", "ok"), ("migrate", "ok"), ("verify", "ok")]
    assert "CT 501 vzmigrate:" in stderr  # its output streamed, line by line
    assert 'CPUMASK="0"' in lab.nodes["slave"].read_conf("501")  # the fix travelled with it
    assert moved(lab) == ["501", "502", "504"]

    code, again, stderr = migrate(lab, tmp_path, "501", "502", "504", "--policy", "patch")
    assert code == 0 and moved(lab) == ["501", "502", "504"]  # nothing moved twice
    for container in again["containers"]:  # verified again on the target, not taken on trust
        (step,) = container["steps"]
        assert (container["verdict"], step["name"], step["outcome"]) == ("verified", "verify",
                                                                         "ok"), container
        assert "moved by an earlier run" in step["detail"]


def test_policy_block_never_hands_a_no_go_container_to_vzmigrate(lab, tmp_path):
    java_ct(lab, "511", 1)
    java_ct(lab, "512", 2)
    before = moved(lab)
    code, report, stderr = migrate(lab, tmp_path, "511", "512")
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert (code, verdicts) == (1, {"511": "no-go", "512": "verified"}), stderr[-3000:]
    assert moved(lab)[len(before):] == ["512"]
    ct511 = next(c for c in report["containers"] if c["ctid"] == "511")
    assert ct511["steps"][-1] == {"name": "migrate", "outcome": "skipped", "seconds": None,
                                  "detail": "not moved: the gate said no-go"}
    assert lab.nodes["master"].container("511").running  # still home, untouched


def test_bad_input_is_refused_before_anything_moves(lab, tmp_path):
    result = subprocess.run(
        [HAVENGATE, "migrate", "999", "--source", "master", "--target", "master",
         "--state-dir", str(tmp_path), "--ssh-config", str(lab.ssh_config)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "nothing would move" in result.stderr
    before = moved(lab)
    result = subprocess.run(
        [HAVENGATE, "migrate", "999", "--source", "master", "--target", "slave",
         "--state-dir", str(tmp_path), "--ssh-config", str(lab.ssh_config)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "CT 999 not found on master" in result.stderr
    assert moved(lab) == before and "Traceback" not in result.stderr


def test_a_killed_havengate_never_kills_a_vzmigrate_half_way(lab, tmp_path):
    """kill -9 of havengate while vzmigrate runs: the move finishes on the node anyway."""
    import os
    import signal

    java_ct(lab, "521", 2)
    process, _ = start_wave(lab, tmp_path, "521", until="CT 521 vzmigrate:")
    try:
        os.kill(process.pid, signal.SIGKILL)  # mid-move
    finally:
        process.wait(timeout=30)
    slave = lab.nodes["slave"]
    landed(slave, "521")
    assert slave.has_conf("521") and slave.container("521").running
    assert not lab.nodes["master"].has_conf("521")  # vzmigrate -r yes finished its clean-up


def test_a_container_moved_back_by_hand_is_moved_again_by_the_same_wave(lab, tmp_path):
    """An HA failback between two runs: the wave journal says moved, the node says home."""
    java_ct(lab, "531", 2)
    code, _, stderr = migrate(lab, tmp_path, "531")
    assert code == 0, stderr[-2000:]
    assert lab.ssh("slave", "vzmigrate master 531", timeout=120).returncode == 0  # failback
    assert lab.nodes["master"].container("531").wait_listening(PORT, timeout=30)
    calls = moved(lab).count("531")
    code, report, stderr = migrate(lab, tmp_path, "531")
    (ct,) = report["containers"]
    assert (code, ct["verdict"]) == (0, "verified"), stderr[-2000:]
    assert [s["name"] for s in ct["steps"]] == ["check", "migrate", "verify"]
    assert moved(lab).count("531") == calls + 1 and "back on master" in stderr


def _interrupt_mid_move(lab: Lab, state: Path, ctids: tuple[str, ...], presses: int):
    """Run a wave, press Ctrl-C ``presses`` times while the first container's vzmigrate
    is syncing; (exit code, JSON report, stderr, seconds from the last press to the exit)."""
    import os
    import signal
    import time

    process, said = start_wave(lab, state, *ctids,
                               until=f"CT {ctids[0]} vzmigrate: Syncing private")
    try:
        for _ in range(presses):
            os.kill(process.pid, signal.SIGINT)
            time.sleep(0.3)
        pressed = time.monotonic()
        stdout, stderr = process.communicate(timeout=300)
        took = time.monotonic() - pressed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    report = json.loads(stdout)
    validate(report, "report")
    return process.returncode, report, "".join(said) + stderr, took


def test_first_ctrl_c_ends_the_wave_after_the_container_being_moved(lab, tmp_path):
    java_ct(lab, "541", 2)
    java_ct(lab, "542", 2)
    before = moved(lab)
    lab.nodes["master"].slow_vzmigrate(3)
    try:
        code, report, stderr, _ = _interrupt_mid_move(lab, tmp_path, ("541", "542"), presses=1)
    finally:
        lab.nodes["master"].slow_vzmigrate(0)
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert (code, verdicts) == (130, {"541": "verified", "542": "skipped"}), stderr[-3000:]
    assert "stops after the current container" in stderr
    ct542 = report["containers"][1]
    assert "asked to stop (Ctrl-C)" in ct542["steps"][-1]["detail"]
    assert moved(lab)[len(before):] == ["541"]  # 542 never handed to vzmigrate
    assert report["interrupted"] is False and lab.nodes["master"].container("542").running


def test_second_ctrl_c_stops_at_once_and_names_the_container_mid_move(lab, tmp_path):

    java_ct(lab, "551", 2)
    java_ct(lab, "552", 2)
    lab.nodes["master"].slow_vzmigrate(8)
    try:
        code, report, stderr, took = _interrupt_mid_move(lab, tmp_path, ("551", "552"),
                                                         presses=2)
    finally:
        lab.nodes["master"].slow_vzmigrate(0)
    assert code == 130 and took < 5, (took, stderr[-3000:])  # the sync had 7 s to go
    assert report["interrupted"] is True
    assert "CT 551 was mid-migrate" in report["notes"][0]
    ct551, ct552 = report["containers"]
    assert (ct551["verdict"], ct551["steps"][-1]["outcome"]) == ("unknown", "interrupted")
    assert "vzmigrate goes on, detached, on master" in ct551["steps"][-1]["detail"]
    assert ct552["verdict"] == "skipped" and "552" not in moved(lab)
    slave = lab.nodes["slave"]  # the move we were told to leave finishes on its own
    landed(slave, "551")
    assert slave.container("551").running
    code, again, stderr = migrate(lab, tmp_path, "551")  # the same command: verifies it
    assert (code, again["containers"][0]["verdict"]) == (0, "verified"), stderr[-2000:]


def test_vzmigrate_missing_on_the_source_fails_the_container_and_moves_nothing(lab, tmp_path):
    java_ct(lab, "561", 2)
    shim = lab.nodes["master"].dir / "bin" / "vzmigrate"
    shim.rename(shim.with_suffix(".away"))
    try:
        code, report, stderr = migrate(lab, tmp_path, "561")
    finally:
        shim.with_suffix(".away").rename(shim)
    (ct,) = report["containers"]
    assert (code, ct["verdict"]) == (1, "failed"), stderr[-2000:]
    assert ct["steps"][-1]["detail"].startswith(
        "vzmigrate exit 127: vzmigrate is not installed on the source")
    assert lab.nodes["master"].container("561").running and not lab.nodes["slave"].has_conf("561")


def test_a_destination_the_source_cannot_reach_fails_with_vzmigrate_s_reason(lab, tmp_path):
    """The config file names the destination vzmigrate uses; here one nothing listens on."""
    java_ct(lab, "571", 2)
    java_ct(lab, "572", 2)
    dead = lab.add_dead_alias("deadslave")
    config = tmp_path / "config.yaml"
    config.write_text(f"nodes:\n  slave:\n    vzmigrate-dest: {dead}\n")
    code, report, stderr = migrate(lab, tmp_path, "571", "572", "--config", str(config))
    ct571, ct572 = report["containers"]
    assert (code, ct571["verdict"], ct572["verdict"]) == (1, "failed", "skipped"), stderr[-2000:]
    assert "vzmigrate exit 4: cannot connect to the destination" in ct571["steps"][-1]["detail"]
    assert ["vzmigrate", dead, "571"] in lab.nodes["master"].commands()
    assert "572" not in moved(lab)  # the wave stopped at the first failure
    for ctid in ("571", "572"):  # nothing half-moved: both still home and running
        assert lab.nodes["master"].container(ctid).running
        assert not lab.nodes["slave"].has_conf(ctid)


def test_a_ctid_already_on_the_target_is_no_go_and_never_moved(lab, tmp_path):
    java_ct(lab, "581", 2)
    lab.nodes["slave"].add_container("581", conf=default_conf("581", cpus=2), running=False)
    before = moved(lab)
    code, report, stderr = migrate(lab, tmp_path, "581")
    (ct,) = report["containers"]
    assert (code, ct["verdict"]) == (1, "no-go"), stderr[-2000:]
    assert any(f["rule"] == "HG009" for f in ct["findings"])
    assert moved(lab) == before and lab.nodes["master"].container("581").running


def test_a_session_lost_mid_move_is_unknown_and_the_rerun_verifies_it(lab, tmp_path):
    """The SSH session to the source dies while vzmigrate syncs (the node side of it is
    killed): the container is not called failed on a made-up exit code; the wave stops,
    vzmigrate finishes on the node, and the same command again verifies it and moves the
    rest."""
    import os
    import signal
    from pathlib import Path as P

    java_ct(lab, "591", 2)
    java_ct(lab, "592", 2)
    master = lab.nodes["master"]
    master.slow_vzmigrate(4)
    process, _ = start_wave(lab, tmp_path, "591", "592",
                            until="CT 591 vzmigrate: Syncing private")
    try:
        sessions = [int(p.name) for p in P("/proc").iterdir() if p.name.isdigit()
                    and _ppid(p) == master.sshd_pid]
        assert sessions, "no SSH session of ours on the source"
        for pid in sessions:  # as a dropped link or a restarted sshd would end them
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        master.slow_vzmigrate(0)
        if process.poll() is None:
            process.kill()
    report = json.loads(stdout)
    ct591, ct592 = report["containers"]
    assert (ct591["verdict"], ct591["steps"][-1]["outcome"]) == ("unknown", "unknown"), stderr
    assert "lost the session" in ct591["steps"][-1]["detail"]
    assert ct592["verdict"] == "skipped" and "592" not in moved(lab)
    slave = lab.nodes["slave"]
    landed(slave, "591")
    code, again, stderr = migrate(lab, tmp_path, "591", "592")
    verdicts = {c["ctid"]: c["verdict"] for c in again["containers"]}
    assert (code, verdicts) == (0, {"591": "verified", "592": "verified"}), stderr[-3000:]
    assert "moved by an earlier run" in again["containers"][0]["steps"][0]["detail"]


def _ppid(proc) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_ctrl_c_during_the_gate_moves_nothing(lab, tmp_path):
    """A first Ctrl-C while the gate still probes: the gate ends, nothing is handed to
    vzmigrate, every container is skipped with the reason, exit 130."""
    import os
    import signal
    import time

    java_ct(lab, "611", 2)
    java_ct(lab, "612", 2)
    slow = lab.nodes["master"].dir / "ct" / "611" / "bin" / "nproc"
    slow.write_text("#!/bin/sh\nsleep 4\necho 4\n")  # the gate takes a while to look inside
    slow.chmod(0o755)
    before = moved(lab)
    process, _ = start_wave(lab, tmp_path, "611", "612", until="probing master")
    try:
        time.sleep(1)
        os.kill(process.pid, signal.SIGINT)
        stdout, _ = process.communicate(timeout=120)
    finally:
        slow.unlink()
        if process.poll() is None:
            process.kill()
    report = json.loads(stdout)
    assert process.returncode == 130
    assert {c["ctid"]: c["verdict"] for c in report["containers"]} == {"611": "skipped",
                                                                      "612": "skipped"}
    assert all("asked to stop" in c["steps"][-1]["detail"] for c in report["containers"])
    assert moved(lab) == before
