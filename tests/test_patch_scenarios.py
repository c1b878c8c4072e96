"""Patch and revert for real: the installed command over SSH against the lab's nodes.

master: 2.6.24, vzctl 3.0.24 (no --cpumask: the file is edited); liar: 2.6.24, vzctl 3.0.28
whose `vzctl set --save` exits 0 without saving; slave: 2.6.32, vzctl 4.9.4 (vzctl set).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, default_conf
from runner import HAVENGATE, havengate

from havengate.act.patch import CRASH_ENV, CRASH_POINTS
from havengate.act.plan import rewrite_conf
from havengate.documents import validate

PORT = 61616
ODD_CONF = (
    "# Hand-edited; keep these comments\n"
    + default_conf("{ctid}", cpus=1)
    + "# a later duplicate vzctl ignores:\nCPUS=\"4\"\n"
    + "  # indented comment\nDESCRIPTION=\"has a # inside\"\n"
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("patch"))
    try:
        instance.add_node("master", kernel="2.6.24-12-pve", cpus=4, vzctl_version="3.0.24")
        instance.add_node("liar", kernel="2.6.24-12-pve", cpus=4, vzctl_version="3.0.28",
                          vzctl_quirk="no-save")
        instance.add_node("slave", kernel="2.6.32-042stab134.8", cpus=4, vzctl_version="4.9.4")
        yield instance
    finally:
        instance.close()


def patch(lab: Lab, state: Path, ctid: str, host: str = "master", *extra: str,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return havengate(lab, "patch", ctid, "--host", host, "--target", "slave",
                     "--state-dir", str(state), *extra, env=env)


def stopped(lab: Lab, node: str, ctid: str, conf: str | None = None) -> bytes:
    lab.nodes[node].add_container(ctid, conf=conf or default_conf(ctid, cpus=1), running=False)
    return lab.nodes[node].read_conf_bytes(ctid)


def journal(lab: Lab, state: Path) -> list[dict]:
    result = subprocess.run([HAVENGATE, "journal", "--state-dir", str(state), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_patched_on_the_source_the_jvm_opens_its_ports_after_the_move(lab, tmp_path):
    master, slave = lab.nodes["master"], lab.nodes["slave"]
    for ctid in ("201", "202"):
        master.add_container(ctid, conf=default_conf(ctid, cpus=1), java=[JavaSpec(ports=[PORT])])
        assert master.container(ctid).wait_listening(PORT, timeout=20)
    result = havengate(lab, "check", "201", "--source", "master", "--target", "slave",
                       "--policy", "patch", "--format", "json", "--state-dir", str(tmp_path))
    report = json.loads(result.stdout)
    validate(report, "report")
    (ct201,) = report["containers"]
    assert (result.returncode, report["verdict"], ct201["verdict"]) == (0, "patched", "patched")
    assert ct201["patch"]["changes"] == [{"key": "CPUMASK", "before": None, "after": "0"}]
    assert ct201["patch"]["method"] == "edit" and ct201["cpumask"] == "0"

    for ctid in ("201", "202"):  # 202 was not patched: the control
        moved = lab.ssh("master", f"vzmigrate slave {ctid}", timeout=120)
        assert moved.returncode == 0, moved.stderr
    assert slave.read_conf("201").endswith('CPUMASK="0"\n')  # the fix travelled verbatim
    assert slave.container("201").wait_listening(PORT, timeout=20)
    assert not slave.container("202").wait_listening(PORT, timeout=3)  # the futex hang
    assert slave.container("202").java_pids()  # alive, no port: what operators saw


def test_patch_keeps_comments_duplicates_and_veid_and_revert_is_byte_identical(lab, tmp_path):
    master = lab.nodes["master"]
    before = stopped(lab, "master", "203", ODD_CONF.replace("{ctid}", "203"))
    master.run(["chmod", "600", "/etc/vz/conf/203.conf"])
    master.run(["chown", "12:34", "/etc/vz/conf/203.conf"])
    result = patch(lab, tmp_path, "203")
    assert result.returncode == 0, result.stderr
    mode = master.run(["stat", "-c", "%a %u %g", "/etc/vz/conf/203.conf"]).stdout.decode().split()
    assert mode == ["600", "12", "34"]  # mode and owner kept
    after = master.read_conf_bytes("203")
    assert after == before + b'CPUMASK="0"\n'  # every other byte, $VEID paths included, kept
    assert b'VE_PRIVATE="/var/lib/vz/private/$VEID"' in after
    (entry,) = [e for e in journal(lab, tmp_path) if e["ctid"] == "203"]
    assert entry["state"] == "completed" and entry["method"] == "edit"

    again = patch(lab, tmp_path, "203")
    assert again.returncode == 0 and "already holds" in again.stdout
    assert len(journal(lab, tmp_path)) == 1  # idempotent: nothing journaled the second time

    # Patched through the alias `master`, reverted on the node itself as `local` (the hook
    # case): the journal knows the node by its own name, not by how it was reached.
    bindir = Path(HAVENGATE).parent
    reverted = lab.ssh("master", f"PATH={bindir}:$PATH havengate revert 203 --host local "
                                 f"--state-dir {tmp_path}", timeout=120)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert master.read_conf_bytes("203") == before
    assert journal(lab, tmp_path)[0]["state"] == "reverted"


def test_vzctl_that_exits_0_without_saving_still_ends_with_a_correct_file(lab, tmp_path):
    liar = lab.nodes["liar"]
    before = stopped(lab, "liar", "204")
    result = patch(lab, tmp_path, "204", "liar")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "does not hold the values: written directly" in result.stdout
    assert liar.read_conf_bytes("204") == rewrite_conf(before, {"CPUMASK": "0"})
    assert ["vzctl", "set", "204", "--cpumask", "0", "--save"] in liar.commands()


def test_on_the_target_vzctl_set_is_used(lab, tmp_path):
    slave = lab.nodes["slave"]
    before = stopped(lab, "slave", "205")
    result = patch(lab, tmp_path, "205", "master", "--where", "target", "--strategy", "both")
    assert result.returncode == 0, result.stderr
    assert ["vzctl", "set", "205", "--cpus", "2", "--cpumask", "0", "--save"] in slave.commands()
    assert slave.read_conf_bytes("205") == rewrite_conf(before, {"CPUS": "2", "CPUMASK": "0"})


def test_dry_run_changes_nothing_and_says_exactly_what_it_would_do(lab, tmp_path):
    master = lab.nodes["master"]
    before = stopped(lab, "master", "206")
    commands = len(master.commands())
    result = patch(lab, tmp_path, "206", "master", "--dry-run")
    assert result.returncode == 1  # still at risk: nothing was changed
    assert master.read_conf_bytes("206") == before
    assert '+CPUMASK="0"' in result.stdout and "would edit /etc/vz/conf/206.conf" in result.stdout
    assert not (tmp_path / "journal.jsonl").exists()
    assert not any(argv[:2] == ["vzctl", "set"] for argv in master.commands()[commands:])
    on_slave = patch(lab, tmp_path, "205", "slave", "--dry-run", "--strategy", "cpus",
                     "--cpus", "3")
    assert "would run: vzctl set 205 --cpus 3 --save" in on_slave.stdout


def test_revert_refuses_a_file_changed_since_the_patch(lab, tmp_path):
    master = lab.nodes["master"]
    before = stopped(lab, "master", "207")
    assert patch(lab, tmp_path, "207").returncode == 0
    edited = master.read_conf_bytes("207") + b'DESCRIPTION="edited by hand"\n'
    master.write_conf("207", edited)
    refused = havengate(lab, "revert", "207", "--host", "master", "--state-dir", str(tmp_path))
    assert refused.returncode == 1 and "changed since patch" in refused.stdout + refused.stderr
    assert master.read_conf_bytes("207") == edited
    forced = havengate(lab, "revert", "207", "--host", "master", "--force",
                       "--state-dir", str(tmp_path))
    assert forced.returncode == 0 and master.read_conf_bytes("207") == before


def test_a_second_gate_waits_for_the_lock_then_gives_up(lab, tmp_path):
    master = lab.nodes["master"]
    before = stopped(lab, "master", "208")
    master.run(["sh", "-c", "mkdir -p /var/lock/havengate; "
                "flock /var/lock/havengate/208.lock sleep 8 >/dev/null 2>&1 &"])
    result = patch(lab, tmp_path, "208", "master", "--lock-wait", "1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "held by another havengate" in result.stdout + result.stderr
    assert master.read_conf_bytes("208") == before


@pytest.mark.parametrize(
    ("node", "point"),
    [("master", point) for point in CRASH_POINTS]
    + [("slave", point) for point in ("before-journal", "after-journal", "after-write")],
)
def test_kill_9_at_every_step_leaves_old_or_new_bytes_and_a_rerun_finishes(lab, tmp_path,
                                                                           node, point):
    ctid = str(300 + 10 * list(lab.nodes).index(node) + CRASH_POINTS.index(point))
    conf_node = lab.nodes[node]
    before = stopped(lab, node, ctid, ODD_CONF.replace("{ctid}", ctid))
    new = rewrite_conf(before, {"CPUMASK": "0"})
    crashed = patch(lab, tmp_path, ctid, node, env={CRASH_ENV: point})
    assert crashed.returncode == -9, crashed.stderr  # really killed, at that step
    assert conf_node.read_conf_bytes(ctid) in (before, new)

    rerun = patch(lab, tmp_path, ctid, node)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert conf_node.read_conf_bytes(ctid) == new
    states = [e["state"] for e in journal(lab, tmp_path)]
    assert "started" not in states, states  # every interrupted entry was closed
    staging = conf_node.run(["ls", "-a", "/etc/vz/conf"]).stdout.decode()
    assert ".havengate-new" not in staging

    reverted = havengate(lab, "revert", ctid, "--host", node, "--state-dir", str(tmp_path))
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert conf_node.read_conf_bytes(ctid) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [(["209;reboot"], "invalid CTID"),
     (["209", "--cpumask", "4-7"], "do not exist on the target"),
     (["209", "--cpus", "0"], "at least 1 CPU"),
     (["209", "--cpus", "-1"], "at least 1 CPU"),
     (["209", "--cpumask", "0 1"], "--cpumask"),
     (["999"], "CT 999 not found on master")],
)
def test_bad_input_changes_nothing(lab, tmp_path, args, message):
    if not lab.nodes["master"].has_conf("209"):
        stopped(lab, "master", "209")
    before = lab.nodes["master"].read_conf_bytes("209")
    result = havengate(lab, "patch", *args, "--host", "master", "--target", "slave",
                       "--state-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert lab.nodes["master"].read_conf_bytes("209") == before


@pytest.mark.parametrize("journal_line", [b"garbage\n",
                                          b'{"schema": "havengate.journal/2", "event": "x"}\n'])
def test_corrupt_or_newer_journal_stops_before_any_node_is_touched(lab, tmp_path, journal_line):
    before = stopped(lab, "master", "210") if not lab.nodes["master"].has_conf("210") else \
        lab.nodes["master"].read_conf_bytes("210")
    (tmp_path / "journal.jsonl").write_bytes(journal_line)
    result = patch(lab, tmp_path, "210")
    assert result.returncode == 2 and "journal" in result.stderr
    assert lab.nodes["master"].read_conf_bytes("210") == before
    assert (tmp_path / "journal.jsonl").read_bytes() == journal_line


@pytest.mark.parametrize("trap", ["read-only", "full"])
def test_read_only_or_full_conf_directory_leaves_the_file_unchanged(lab, tmp_path, trap):
    master = lab.nodes["master"]
    ctid = "211" if trap == "read-only" else "212"
    before = stopped(lab, "master", ctid)
    if trap == "read-only":
        setup = "mount --bind /etc/vz/conf /etc/vz/conf && mount -o remount,bind,ro /etc/vz/conf"
    else:
        setup = ("mkdir -p /tmp/hg-conf && cp -a /etc/vz/conf/. /tmp/hg-conf/ && "
                 "mount -t tmpfs -o size=256k tmpfs /etc/vz/conf && cp -a /tmp/hg-conf/. "
                 "/etc/vz/conf/ && (dd if=/dev/zero of=/etc/vz/conf/.fill bs=4k 2>/dev/null; true)")
    done = master.run(["sh", "-c", setup])
    assert done.returncode == 0, done.stderr
    try:
        result = patch(lab, tmp_path, ctid)
        assert result.returncode in (1, 3), result.stdout + result.stderr
        assert "unchanged" in result.stdout + result.stderr
        assert master.read_conf_bytes(ctid) == before
        states = {e["ctid"]: e["state"] for e in journal(lab, tmp_path)}
        assert states == {ctid: "abandoned"}  # nothing was written: nothing to revert
    finally:
        master.run(["umount", "/etc/vz/conf"])
    assert master.read_conf_bytes(ctid) == before
