"""No wrong go, no silent corruption: the hostile cases of issue 7, for real over SSH.

Each test is a case that once gave a false go or damaged data: a CTID.conf past the probe's
old byte limit, a CPUS that only the target's vz.conf sets, a tampered journal, a
known_hosts file without a final newline, a patch value that fixes nothing, an -o that
cannot be written, Ctrl-C against a node that never answers.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest
from lab import Lab, default_conf
from runner import HAVENGATE, havengate

from havengate.act.patch import CRASH_ENV

JAVA_FILES = {"usr/lib/jvm/java-6-openjdk/jre/bin/java": ""}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("trust"))
    try:
        instance.add_master_and_slave()
        onecpu = instance.add_node("onecpu", kernel="2.6.32-042stab134.8", cpus=4,
                                   vzctl_version="4.9.4")
        # A node whose vz.conf gives every container without CPUS= one visible CPU.
        assert onecpu.run(["sh", "-c", "printf 'CPUS=\"1\"\\n' >> /etc/vz/vz.conf"]).returncode == 0
        yield instance
    finally:
        instance.close()


def check_json(lab: Lab, *args: str) -> tuple[int, dict]:
    result = havengate(lab, "check", *args, "--format", "json", "--no-baseline")
    return result.returncode, json.loads(result.stdout)


def stopped_java(lab: Lab, node: str, ctid: str, conf: str) -> None:
    lab.nodes[node].add_container(ctid, conf=conf, running=False, private_files=JAVA_FILES)


def test_a_cpus_line_after_a_mebibyte_of_conf_is_read(lab):
    """vzctl reads the whole file: so does the probe (it once cut at 256 KiB -> GO)."""
    padding = "".join(f"# {'x' * 70}\n" for _ in range(MIB // 73 + 1))
    stopped_java(lab, "master", "301", default_conf("301") + padding + 'CPUS="1"\n')
    assert len(lab.nodes["master"].read_conf_bytes("301")) > MIB
    code, report = check_json(lab, "301", "--source", "master", "--target", "slave")
    (ct,) = report["containers"]
    assert (code, ct["verdict"], ct["cpus"]) == (1, "no-go", "1")
    assert ct["findings"][0]["rule"] == "HG001"


def test_cpus_from_the_targets_vz_conf_is_the_containers_cpus_after_the_move(lab):
    stopped_java(lab, "master", "302", default_conf("302"))  # no CPUS= of its own
    code, report = check_json(lab, "302", "--source", "master", "--target", "onecpu")
    (ct,) = report["containers"]
    assert (code, ct["verdict"], ct["cpus"]) == (1, "no-go", "1 (vz.conf)")
    hg001 = next(f for f in ct["findings"] if f["rule"] == "HG001")
    assert any("vz.conf" in line for line in hg001["evidence"])
    # The same container to a target whose vz.conf sets nothing sees every CPU: go.
    code, report = check_json(lab, "302", "--source", "master", "--target", "slave")
    assert (code, report["containers"][0]["verdict"]) == (0, "go")


def test_the_lab_vzctl_applies_the_vz_conf_cpus_too(lab):
    """The fake is faithful: a container without CPUS= sees vz.conf's CPUS on start."""
    onecpu = lab.nodes["onecpu"]
    onecpu.add_container("303", conf=default_conf("303"))
    assert onecpu.container("303").info["seen_cpus"] == 1


def test_patch_values_that_fix_nothing_are_refused_before_anything_is_written(lab, tmp_path):
    stopped_java(lab, "master", "304", default_conf("304", cpus=1))
    before = lab.nodes["master"].read_conf_bytes("304")
    for extra in (["--cpumask", "0-3"], ["--cpumask", "all"],
                  ["--strategy", "cpus", "--cpus", "1"]):
        result = havengate(lab, "patch", "304", "--host", "master", "--target", "slave",
                           "--state-dir", str(tmp_path), *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert "HG001" in result.stderr and "nothing was written" in result.stderr
        assert lab.nodes["master"].read_conf_bytes("304") == before
    assert not (tmp_path / "journal.jsonl").exists()
    forced = havengate(lab, "patch", "304", "--host", "master", "--target", "slave",
                       "--state-dir", str(tmp_path), "--cpumask", "0-3", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "--force" in forced.stderr and 'CPUMASK="0-3"' in lab.nodes["master"].read_conf("304")


def test_a_tampered_journal_is_refused_and_nothing_is_written(lab, tmp_path):
    stopped_java(lab, "master", "305", default_conf("305", cpus=1))
    assert havengate(lab, "patch", "305", "--host", "master", "--target", "slave",
                     "--state-dir", str(tmp_path)).returncode == 0
    patched = lab.nodes["master"].read_conf_bytes("305")
    journal = tmp_path / "journal.jsonl"
    original = journal.read_text()
    events = [json.loads(line) for line in original.splitlines()]
    started = events[0]
    evil = b'CPUS="1"\nVE_PRIVATE="/"\n'
    for altered in (base64.b64encode(evil).decode(), "@@not base64@@"):
        started["previous"]["base64"] = altered  # sha256 kept: the digest no longer matches
        journal.write_text("".join(json.dumps(e) + "\n" for e in events))
        result = havengate(lab, "revert", "305", "--host", "master", "--state-dir", str(tmp_path))
        assert result.returncode == 2, result.stderr
        assert "journal" in result.stderr and "Traceback" not in result.stderr
        assert lab.nodes["master"].read_conf_bytes("305") == patched
    journal.write_text(original)
    assert havengate(lab, "revert", "305", "--host", "master",
                     "--state-dir", str(tmp_path)).returncode == 0


def test_revert_removes_the_staging_file_of_a_patch_killed_mid_write(lab, tmp_path):
    stopped_java(lab, "master", "306", default_conf("306", cpus=1))
    master = lab.nodes["master"]
    original = master.read_conf_bytes("306")
    killed = subprocess.run(
        [HAVENGATE, "patch", "306", "--host", "master", "--target", "slave",
         "--state-dir", str(tmp_path), "--ssh-config", str(lab.ssh_config)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, CRASH_ENV: "during-write"})
    assert killed.returncode == -signal.SIGKILL
    staging = "/etc/vz/conf/.306.conf.havengate-new"
    assert master.run(["test", "-e", staging]).returncode == 0  # what the kill left
    result = havengate(lab, "revert", "306", "--host", "master", "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert master.run(["test", "-e", staging]).returncode != 0
    assert master.read_conf_bytes("306") == original


def test_patch_with_an_unwritable_report_changes_nothing(lab, tmp_path):
    stopped_java(lab, "master", "307", default_conf("307", cpus=1))
    before = lab.nodes["master"].read_conf_bytes("307")
    result = havengate(lab, "patch", "307", "--host", "master", "--target", "slave",
                       "--state-dir", str(tmp_path), "-o", str(tmp_path / "no" / "such" / "r"))
    assert result.returncode == 2 and "nothing was done" in result.stderr
    assert lab.nodes["master"].read_conf_bytes("307") == before
    assert not (tmp_path / "journal.jsonl").exists()


def test_accepting_a_new_key_keeps_a_known_hosts_without_final_newline_valid(lab, tmp_path):
    known = tmp_path / "known_hosts"
    master_line = next(line for line in lab.known_hosts.read_text().splitlines()
                       if line.startswith(f"[127.0.0.1]:{lab.nodes['master'].port} "))
    known.write_text(master_line)  # no final newline, as editors sometimes leave it
    known.chmod(0o640)
    result = havengate(lab, "facts", "slave", "--node-only", "--known-hosts", str(known),
                       "--accept-new-host-keys", "-o", str(tmp_path / "slave.json"))
    assert result.returncode == 0, result.stderr
    lines = known.read_text().splitlines()
    assert lines[0] == master_line and len(lines) == 2 and known.read_text().endswith("\n")
    assert oct(known.stat().st_mode & 0o777) == "0o640"
    keys = paramiko.HostKeys(str(known))
    assert len(keys) == 2
    for node in ("master", "slave"):  # both keys are trusted without the opt-in now
        again = havengate(lab, "facts", node, "--node-only", "--known-hosts", str(known),
                          "-o", str(tmp_path / f"{node}.json"))
        assert again.returncode == 0, again.stderr


def test_a_stale_probe_directory_is_swept_and_a_probe_leaves_none(lab, tmp_path):
    stale = Path("/tmp/havengate-probe.staletest")
    stale.mkdir(exist_ok=True)
    (stale / "stdout").write_text("left by a kill -9")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    fresh = Path("/tmp/havengate-probe.freshtest")  # another probe's, running now: kept
    fresh.mkdir(exist_ok=True)
    try:
        before = set(Path("/tmp").glob("havengate-probe.*"))
        result = havengate(lab, "facts", "master", "-o", str(tmp_path / "m.json"))
        assert result.returncode == 0, result.stderr
        assert not stale.exists() and fresh.exists()
        assert set(Path("/tmp").glob("havengate-probe.*")) == before - {stale}
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)


class SilentServer:
    """A TCP port that accepts and never says a word: no SSH banner, ever."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:
                return
            self.clients.append(client)

    def close(self) -> None:
        self.socket.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def silent(lab):
    server = SilentServer()
    with open(lab.ssh_config, "a") as config:
        config.write(f"\nHost silent{server.port}\n  HostName 127.0.0.1\n  Port {server.port}\n"
                     f"  User root\n  IdentityFile {lab.client_key}\n"
                     f"  UserKnownHostsFile {lab.known_hosts}\n")
    yield f"silent{server.port}"
    server.close()


def test_ctrl_c_during_a_check_against_a_silent_node_exits_130_at_once(lab, silent):
    process = subprocess.Popen(
        [HAVENGATE, "check", "--source", silent, "--target", "slave",
         "--ssh-config", str(lab.ssh_config), "--connect-timeout", "60", "--no-baseline"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    time.sleep(2.0)  # the probes are in flight: one waits for a banner that never comes
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=2.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("havengate did not stop within 2 s of Ctrl-C")
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr


def test_a_silent_node_is_said_to_send_no_banner(lab, silent):
    result = havengate(lab, "facts", silent, "--connect-timeout", "1", timeout=60)
    assert result.returncode == 3
    assert "no SSH banner within 1 s" in result.stderr, result.stderr


def test_verify_keeps_its_deadline_against_a_node_that_never_answers(lab, silent, tmp_path):
    checks = tmp_path / "config.json"
    checks.write_text(json.dumps({"verify": {"containers": {"101": {
        "tcp": [61616], "addresses": ["10.200.9.1"]}}}}))
    started = time.monotonic()
    result = havengate(lab, "verify", "101", "--target", silent, "--timeout", "3",
                       "--config", str(checks), "--state-dir", str(tmp_path), timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert elapsed < 3 + 1.5, f"verify --timeout 3 took {elapsed:.1f} s"  # the connect was 10 s


def test_revert_keeps_the_files_owner_whatever_the_journal_says(lab, tmp_path):
    stopped_java(lab, "master", "308", default_conf("308", cpus=1))
    master = lab.nodes["master"]
    assert havengate(lab, "patch", "308", "--host", "master", "--target", "slave",
                     "--state-dir", str(tmp_path)).returncode == 0
    journal = tmp_path / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    events[0]["previous"].update(uid=1000, gid=1000, mode="4777")  # the digest covers bytes only
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert havengate(lab, "revert", "308", "--host", "master",
                     "--state-dir", str(tmp_path)).returncode == 0
    owner = master.run(["stat", "-c", "%u %g %a", "/etc/vz/conf/308.conf"]).stdout.decode().split()
    assert owner == ["0", "0", "644"]
