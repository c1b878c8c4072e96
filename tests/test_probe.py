"""The batched probe: its command line, its sections, and NodeFacts from recorded output."""

from __future__ import annotations

import subprocess

import pytest

from havengate.errors import ProbeError, UsageError
from havengate.facts.model import KernelFamily, Unknown
from havengate.facts.probe import Mode, parse_probe_output, probe_command, split_sections

NONCE = "0123456789abcdef0123456789abcdef"


def test_recorded_master_probe(fixture_text):
    facts = parse_probe_output(fixture_text("probe_master_2624.txt"), NONCE, "master", "t")
    assert facts.kernel.family == KernelFamily.OVZ_2624
    assert (facts.cpus, facts.vzctl_version) == (4, (3, 0, 24))
    ct101, ct102, ct103 = facts.containers
    assert ct101.hostname == "activemq.example.com" and ct101.cpus_seen == 4
    (activemq,) = ct101.java_processes  # `sleep` is not a JVM
    assert activemq.pid == 57 and activemq.jvm_options == ("-Xmx512m", "-Dactivemq.home=/opt/activemq")
    assert {(s.family, s.address, s.port) for s in activemq.listeners} == {
        ("tcp6", "::", 18080), ("tcp6", "::ffff:127.0.0.1", 18082)}  # inode 4242 is not listening
    assert isinstance(ct102.java_processes, Unknown) and "exit 31" in ct102.java_processes.reason
    assert "Container is not running" in ct102.java_processes.reason
    assert ct103.java_files == ("path usr/lib/jvm", "path usr/lib/jvm/java-6-openjdk/jre/bin/java",
                                "init etc/init.d/activemq")
    assert ct103.conf.ve_private == "/vz/private/103"


def test_banner_cannot_fake_sections(fixture_text):
    text = fixture_text("probe_master_2624.txt")
    with pytest.raises(ProbeError):
        split_sections(text, "f" * 32)  # another run's nonce: nothing matches
    forged = text.replace("2.6.24-12-pve", "2.6.32-1-pve\n@@fake begin kernel\n2.6.24-12-pve")
    assert split_sections(forged, NONCE)["kernel"].stdout.startswith("2.6.32-1-pve")


def test_truncated_output_is_an_error_not_facts(fixture_text):
    text = fixture_text("probe_master_2624.txt")
    with pytest.raises(ProbeError, match="incomplete"):
        parse_probe_output(text[: len(text) // 2], NONCE, "master", "t")


def test_probe_command_quotes_ctids_and_refuses_hostile_ones():
    command = probe_command(NONCE, Mode.FULL, ("101", "102"))
    assert command.startswith("sh -c '") and command.endswith(f" havengate-probe {NONCE} full 30 101 102")
    for hostile in ("101; reboot", "$(reboot)", "0", "-1", "101\n", "1e3", ""):
        with pytest.raises(UsageError):
            probe_command(NONCE, Mode.FULL, (hostile,))


def test_probe_script_runs_under_sh_without_openvz():
    """On a machine without vzctl the probe still completes and says what is missing."""
    result = subprocess.run(["sh", "-c", probe_command(NONCE, Mode.FULL)], capture_output=True,
                            text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    facts = parse_probe_output(result.stdout, NONCE, "local", "t")
    assert facts.vzctl_version is None
    assert isinstance(facts.containers, Unknown)
    assert isinstance(facts.cpus, int) and facts.cpus >= 1
