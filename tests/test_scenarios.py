"""The gate end to end: the installed ``havengate`` command over real SSH against the lab.

A 2.6.24 master (4 CPUs, vzctl 3.0.24) and a multi-core 2.6.32 slave (4 CPUs, vzctl
4.9.4), each its own sshd with its own host key, containers as namespaces running real
JVMs on real ports. Only the OpenVZ kernel and its tools are faked (tests/lab).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, default_conf
from runner import HAVENGATE, havengate

from havengate.documents import validate

PORT = 61616

# CTID: (CPUS, CPUMASK, Java flags or None for no Java, running, expected verdict)
SCENARIOS = {
    "101": (1, None, [], True, "no-go"),  # one-CPU Java, no mask: HG001
    "102": (1, "0", [], True, "go"),  # pinned to one CPU
    "103": (2, None, [], True, "go"),  # two CPUs visible
    "104": (1, "0-1", [], True, "no-go"),  # a mask of several CPUs is not a pin
    "105": (1, None, None, True, "go"),  # one CPU, no Java
    "106": (1, None, None, False, "no-go"),  # stopped, Java found in its private area
    "107": (1, None, ["-XX:+AssumeMP"], True, "go"),  # mitigated on the JVM side
}
JAVA_FILES = {
    "usr/lib/jvm/java-6-openjdk/jre/bin/java": "",
    "etc/init.d/activemq": "#!/bin/sh\nexec /usr/bin/java -jar /opt/activemq/bin/run.jar start\n",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("scenarios"))
    try:
        master, slave = instance.add_master_and_slave()
        instance.add_dead_alias("nowhere")
        _add_alias_with_unknown_key(instance, "stranger", slave.port)
        for ctid, (cpus, mask, flags, running, _) in SCENARIOS.items():
            java = [] if flags is None else [JavaSpec(ports=[PORT], flags=flags)]
            master.add_container(
                ctid, conf=default_conf(ctid, cpus=cpus, cpumask=mask, hostname=f"ct{ctid}"),
                running=running, java=java,
                private_files=JAVA_FILES if (flags is None and not running) else {},
            )
        for ctid, (_, _, flags, running, _) in SCENARIOS.items():
            if flags is not None and running:
                assert master.container(ctid).wait_listening(PORT, timeout=20), f"CT {ctid} JVM"
        yield instance
    finally:
        instance.close()


def _add_alias_with_unknown_key(lab: Lab, alias: str, port: int) -> None:
    """An alias whose client key the node's authorized_keys does not hold."""
    key = lab.base / f"{alias}_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   timeout=30)
    with open(lab.ssh_config, "a") as config:
        config.write(f"\nHost {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                     f"  IdentityFile {key}\n  UserKnownHostsFile {lab.known_hosts}\n"
                     "  IdentitiesOnly yes\n")


def check_json(lab: Lab, tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    result = havengate(lab, "check", "--source", "master", "--target", "slave",
                       "--format", "json", "--state-dir", str(tmp_path / "state"), *args)
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    validate(report, "report")
    return result.returncode, report, result.stderr


def test_live_check_over_ssh_gives_each_scenario_its_verdict(lab, tmp_path):
    code, report, stderr = check_json(lab, tmp_path)
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert verdicts == {ctid: s[-1] for ctid, s in SCENARIOS.items()}, stderr
    assert code == 1
    assert report["source"]["kernel"] == "2.6.24-12-pve" and report["source"]["vzctl"] == "3.0.24"
    assert report["target"]["kernel"] == "2.6.32-042stab134.8" and report["target"]["cpus"] == 4

    by_ctid = {c["ctid"]: c for c in report["containers"]}
    ct101 = by_ctid["101"]
    assert ct101["java"] is True and (ct101["cpus_seen_now"], ct101["cpus_seen_after"]) == (4, 1)
    assert [p["port"] for p in ct101["java_ports"]] == [PORT]
    assert [f["rule"] for f in ct101["findings"] if f["severity"] == "error"] == ["HG001"]
    assert by_ctid["105"]["java"] is False
    assert "HG008" in {f["rule"] for f in by_ctid["106"]["findings"]}
    (hg001,) = [f for f in by_ctid["107"]["findings"] if f["rule"] == "HG001"]
    assert hg001["severity"] == "info" and "AssumeMP" in hg001["message"]


def test_live_check_records_port_baselines(lab, tmp_path):
    check_json(lab, tmp_path, "101", "105")
    # Keyed by the source's own name (uname -n): two sources with a CT 101 never collide.
    baselines = tmp_path / "state" / "baselines" / "master"
    baseline = json.loads((baselines / "101.json").read_text())
    validate(baseline, "baseline")
    assert baseline["source_host"] == "master" and baseline["cpus_seen"] == 4
    assert baseline["source_node"] == "master"
    assert [p["port"] for p in baseline["java_ports"]] == [PORT]
    assert [(p["port"], p["program"], p["java"]) for p in baseline["ports"]] == [
        (PORT, "java", True)]
    no_java = json.loads((baselines / "105.json").read_text())
    assert no_java["java_ports"] == [] and no_java["ports"] == []
    assert not (baselines / "106.json").exists()  # stopped: nothing seen


def test_one_connection_per_node(lab, tmp_path):
    before = {name: _logins(node) for name, node in lab.nodes.items()}
    check_json(lab, tmp_path)
    assert {name: _logins(node) - before[name] for name, node in lab.nodes.items()} == {
        "master": 1, "slave": 1}


def _logins(node) -> int:
    return (node.dir / "sshd.log").read_text(errors="replace").count("Accepted publickey")


def test_saved_facts_give_the_same_verdicts(lab, tmp_path):
    for alias in ("master", "slave"):
        result = havengate(lab, "facts", alias, "-o", str(tmp_path / f"{alias}.json"))
        assert result.returncode == 0, result.stderr
    offline = subprocess.run(
        [HAVENGATE, "check", "--source-facts", str(tmp_path / "master.json"),
         "--target-facts", str(tmp_path / "slave.json"), "--format", "json"],
        capture_output=True, text=True, timeout=60)
    _, live, _ = check_json(lab, tmp_path)
    assert offline.returncode == 1
    assert {c["ctid"]: c["verdict"] for c in json.loads(offline.stdout)["containers"]} == {
        c["ctid"]: c["verdict"] for c in live["containers"]}


def test_text_report_for_the_operator(lab, tmp_path):
    result = havengate(lab, "check", "101", "102", "--source", "master", "--target", "slave",
                       "--no-baseline")
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("101 "))
    assert "yes" in row and "4 -> 1" in row and "1/unset" in row and "NO-GO" in row
    assert "probing master" in result.stderr  # progress goes to stderr, the table to stdout


def test_unreachable_target_is_unknown_exit_3(lab, tmp_path):
    code, report, _ = check_json(lab, tmp_path, "--target", "nowhere", "--connect-timeout", "3")
    assert code == 3 and report["verdict"] == "unknown"
    assert {c["verdict"] for c in report["containers"]} == {"unknown"}
    assert any("cannot connect" in e and "refused" in e.lower() for e in report["errors"])


def test_changed_host_key_is_refused_before_any_command(tmp_path):
    with Lab(tmp_path / "lab") as own:
        _, slave = own.add_master_and_slave()
        own.replace_host_key(slave)
        before = len(slave.commands())
        result = havengate(own, "check", "--source", "master", "--target", "slave", "--no-baseline")
        assert result.returncode == 3, result.stderr
        assert "host key MISMATCH" in result.stdout + result.stderr
        assert len(slave.commands()) == before  # not one command ran on the slave
        assert "Accepted publickey" not in (slave.dir / "sshd.log").read_text(errors="replace")


def test_unknown_host_key_needs_the_opt_in(tmp_path):
    with Lab(tmp_path / "lab") as own:
        own.add_node("slave", kernel="2.6.32-042stab134.8", cpus=4, vzctl_version="4.9.4")
        known_hosts = tmp_path / "empty_known_hosts"
        known_hosts.write_text("")
        refused = havengate(own, "facts", "slave", "--known-hosts", str(known_hosts))
        assert refused.returncode == 3 and "not in known_hosts" in refused.stderr
        accepted = havengate(own, "facts", "slave", "--node-only", "--known-hosts",
                             str(known_hosts), "--accept-new-host-keys")
        assert accepted.returncode == 0, accepted.stderr
        assert "[127.0.0.1]:" in known_hosts.read_text()  # recorded for next time


def test_authentication_failure_is_unknown_exit_3(lab, tmp_path):
    code, report, _ = check_json(lab, tmp_path, "--target", "stranger")
    assert code == 3 and report["verdict"] == "unknown"
    assert any("authentication failed" in e for e in report["errors"])


def test_a_hanging_command_is_bounded(tmp_path):
    """A container whose probe hangs: that container is unknown, the run still ends."""
    with Lab(tmp_path / "lab") as own:
        master, _ = own.add_master_and_slave()
        master.add_container("101", conf=default_conf("101", cpus=1), java=[JavaSpec(ports=[PORT])])
        master.add_container("102", conf=default_conf("102", cpus=2), java=[JavaSpec(ports=[PORT])])
        nproc = master.dir / "ct" / "101" / "bin" / "nproc"
        nproc.write_text("#!/bin/sh\nexec sleep 300\n")
        result = havengate(own, "check", "--source", "master", "--target", "slave", "--format",
                           "json", "--no-baseline", "--command-timeout", "2", timeout=60)
        report = json.loads(result.stdout)
        assert result.returncode == 3, result.stderr
        verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
        assert verdicts == {"101": "unknown", "102": "go"}
        (ct101,) = [c for c in report["containers"] if c["ctid"] == "101"]
        assert any("did not finish in time" in e for f in ct101["findings"] for e in f["evidence"])

        whole = havengate(own, "facts", "master", "--timeout", "2", timeout=60)
        assert whole.returncode == 3 and "timed out after 2 s" in whole.stderr


def test_a_node_of_many_containers_is_probed_whole_and_in_order(tmp_path):
    """12 containers (more than the 8 the probe runs at a time), one of them hanging: each
    gets its own facts, in vzlist order, and the hung one is unknown, not its neighbours."""
    with Lab(tmp_path / "lab") as own:
        master, _ = own.add_master_and_slave()
        ctids = [str(200 + n) for n in range(12)]
        for ctid in ctids:  # 203 and 207 see one CPU after the move: Java there would hang
            master.add_container(ctid, conf=default_conf(ctid, cpus=1 if ctid in ("203", "207")
                                                         else 2))
        (master.dir / "ct" / "203" / "bin" / "nproc").write_text("#!/bin/sh\nexec sleep 300\n")
        result = havengate(own, "check", "--source", "master", "--target", "slave", "--format",
                           "json", "--no-baseline", "--command-timeout", "3", timeout=120)
        report = json.loads(result.stdout)
        assert [c["ctid"] for c in report["containers"]] == ctids, result.stderr
        java = {c["ctid"]: c["java"] for c in report["containers"]}
        assert java == {ctid: None if ctid == "203" else False for ctid in ctids}
        verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
        assert verdicts == {ctid: "unknown" if ctid == "203" else "go" for ctid in ctids}
        assert result.returncode == 3


def test_malformed_conf_is_never_a_false_go(tmp_path):
    """An unbalanced quote on CPUMASK: vzctl rejects the line, so the pin is not real."""
    with Lab(tmp_path / "lab") as own:
        master, _ = own.add_master_and_slave()
        master.add_container("108", conf=default_conf("108", cpus=1), java=[JavaSpec(ports=[PORT])])
        assert master.container("108").wait_listening(PORT, timeout=20)
        master.write_conf("108", master.read_conf_bytes("108") + b'CPUMASK="0\n\x00\xff junk\n'
                          b'DESCRIPTION="\x1b[2J"\nHOSTNAME="ct108;$(reboot)"\nCPUS = "2"\n')
        result = havengate(own, "check", "--source", "master", "--target", "slave",
                           "--no-baseline")
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr and "\x1b" not in result.stdout
        row = next(line for line in result.stdout.splitlines() if line.startswith("108 "))
        assert "UNKNOWN" in row and "1/?" in row
        for words in ("unbalanced quote", "binary or control characters", "command substitution",
                      "not a plain name"):
            assert words in result.stdout


def test_pre_migrate_hook_on_the_source_node(lab):
    """The vzmigrate pre hook runs on the source: source `local`, target over SSH."""
    bindir = str(Path(HAVENGATE).parent)
    hook = Path(__file__).resolve().parent.parent / "hooks" / "pre-migrate"
    for ctid, expected in (("101", 1), ("102", 0)):
        command = (f"PATH={bindir}:$PATH {hook} slave {ctid} --ssh-config {lab.ssh_config} "
                   "--no-baseline -q")
        result = lab.ssh("master", command, timeout=120)
        assert result.returncode == expected, result.stdout + result.stderr
        row = next(line for line in result.stdout.splitlines() if line.startswith(f"{ctid} "))
        assert ("NO-GO" if expected else "GO") in row
    assert "source: local  kernel 2.6.24-12-pve" in result.stdout
