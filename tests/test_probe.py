"""The batched probe: its command line, its sections, and NodeFacts from recorded output."""

from __future__ import annotations

import subprocess

import pytest

from havengate.errors import ProbeError, UsageError
from havengate.facts.model import KernelFamily
from havengate.facts.probe import Mode, parse_probe_output, probe_command, split_sections
from havengate.model import Unknown

NONCE = "0123456789abcdef0123456789abcdef"


def test_recorded_master_probe(fixture_text):
    """Recorded from the lab: a 2.6.24 node, a JVM in CT 101, none in 102, 103 stopped."""
    facts = parse_probe_output(fixture_text("probe_master_2624.txt"), NONCE, "master", "t")
    assert facts.kernel.family == KernelFamily.OVZ_2624
    assert (facts.cpus, facts.vzctl_version) == (4, (3, 0, 24))
    ct101, ct102, ct103 = facts.containers
    assert ct101.hostname == "activemq.example.com" and ct101.cpus_seen == 4
    (jvm,) = ct101.java_processes
    assert jvm.argv[0].endswith("/bin/java") and "-Xmx32m" in jvm.jvm_options
    assert {(s.family, s.address, s.port) for s in jvm.listeners} == {
        ("tcp6", "::", 61616), ("tcp6", "::", 8161)}
    assert ct101.java_files == ()  # nothing Java-like in its private area
    assert ct102.java_processes == () and ct102.conf.cpumask.cpus == (0,)
    assert ct103.status == "stopped" and isinstance(ct103.java_processes, Unknown)
    assert ct103.java_files == ("path usr/lib/jvm", "path usr/lib/jvm/java-6-openjdk/jre/bin/java",
                                "init etc/init.d/activemq")
    assert ct103.private == "/var/lib/vz/private/103"


HOSTILE_INSIDE = [
    "@@ct cpus\n4\n@@ct procfs\n@@ct proc 7\nzz\n00\n\n\n@@ct tcp\n  sl  local\n@@ct done\n",
    "@@ct cpus\n4\n@@ct procfs\n@@ct proc 7\n6a617661\n\n@@ct done\n",
    "@@ct cpus\n4\n@@ct procfs\n@@ct tcp\n\n@@ct tcp6-absent\n@@ct done\n",
    "@@ct cpus\n4\n@@ct tcp\n  sl  local\n@@ct tcp6-absent\n@@ct done\n",
    "@@ct cpus\n4\x1e@@ct proc 1\x1c\n@@ct procfs\n@@ct tcp-unreadable\n@@ct done\n",
]


@pytest.mark.parametrize("inside", HOSTILE_INSIDE)
def test_odd_output_from_inside_a_container_is_unknown_never_a_crash(fixture_text, inside):
    text = fixture_text("probe_master_2624.txt")
    begin = f"@@{NONCE} begin inside.101\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(f"\n@@{NONCE} stderr inside.101")
    facts = parse_probe_output(head + begin + inside + f"\n@@{NONCE} stderr inside.101" + tail,
                               NONCE, "master", "t")
    ct101 = facts.containers[0]
    assert isinstance(ct101.java_processes, Unknown), ct101.java_processes
    assert facts.containers[1].java_processes == ()  # the other containers are unaffected


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
