"""Hostile strings never reach a shell unquoted: property tests over every quoting path."""

from __future__ import annotations

import subprocess

import paramiko
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from havengate.errors import UsageError
from havengate.facts.probe import Mode, probe_command
from havengate.quoting import shell_command, validate_ctid
from havengate.transport import NodeAccess, validate_host
from havengate.transport.ssh import SshTransport

HOSTILE = st.one_of(
    st.sampled_from(["101; reboot", "$(reboot)", "`id`", "101'", '101"', "101\nreboot", "101 102",
                     "-rf", "../../etc/passwd", "101|cat", "101&", "${IFS}", "*", "~root"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=40),
)


@given(HOSTILE)
def test_validated_ctids_are_plain_numbers(text):
    try:
        ctid = validate_ctid(text)
    except UsageError:
        return
    assert ctid.isascii() and ctid.isdigit() and not ctid.startswith("0")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HOSTILE, min_size=1, max_size=4))
def test_shell_command_delivers_every_word_intact(words):
    """sh receives exactly the words we meant, whatever they contain."""
    command = shell_command("printf", "%s\\0", *words)
    result = subprocess.run(["sh", "-c", command], capture_output=True, timeout=10)
    assert result.returncode == 0
    assert result.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == words


@given(HOSTILE)
def test_hostile_host_names_are_refused(text):
    try:
        host = validate_host(text)
    except UsageError:
        return
    assert not host.startswith("-") and not set(host) & set(" ;$`'\"|&\n\t\\*~(){}<>")


@given(st.lists(HOSTILE, min_size=1, max_size=3))
def test_probe_command_refuses_any_non_numeric_ctid(ctids):
    try:
        command = probe_command("a" * 32, Mode.FULL, tuple(ctids))
    except UsageError:
        return
    assert all(c.isdigit() for c in ctids) and command.endswith(" ".join(ctids))


def test_host_key_policy_is_reject_by_default(tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    options = NodeAccess(known_hosts=known_hosts)
    transport = SshTransport("root@127.0.0.1:2222", options, paramiko.SSHConfig())
    assert isinstance(transport._connection.client._policy, paramiko.RejectPolicy)
    opted_in = SshTransport("root@127.0.0.1:2222", NodeAccess(known_hosts=known_hosts,
                                                              accept_new_host_keys=True),
                            paramiko.SSHConfig())
    assert not isinstance(opted_in._connection.client._policy, paramiko.RejectPolicy)


def test_known_hosts_comes_from_ssh_config(tmp_path):
    known_hosts = tmp_path / "kh"
    known_hosts.write_text("[10.9.9.9]:2222 ssh-ed25519 "
                           "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    config = paramiko.SSHConfig.from_text(
        f"Host alias\n  HostName 10.9.9.9\n  Port 2222\n  UserKnownHostsFile {known_hosts}\n")
    transport = SshTransport("alias", NodeAccess(), config)
    assert transport._connection.client._system_host_keys.lookup("[10.9.9.9]:2222") is not None


@pytest.mark.parametrize("host", ["-oProxyCommand=sh", "a b", "host;reboot", "$(id)", "",
                                  "host:abc", "host:99999", "root@host:0"])
def test_transport_refuses_option_like_hosts(host):
    with pytest.raises(UsageError):
        SshTransport(host, NodeAccess(), paramiko.SSHConfig())


def test_proxy_hops_are_refused_rather_than_trusted_blindly():
    config = paramiko.SSHConfig.from_text("Host inner\n  HostName 10.9.9.9\n  ProxyJump bastion\n")
    with pytest.raises(UsageError, match="proxyjump"):
        SshTransport("inner", NodeAccess(), config)


def test_unreadable_known_hosts_is_a_usage_error(tmp_path):
    bad = tmp_path / "known_hosts"
    bad.write_text("@cert-authority *.example.net ssh-ed25519 AAAAnotbase64!!\n")
    with pytest.raises(UsageError, match="cannot read known_hosts"):
        SshTransport("root@127.0.0.1:2222", NodeAccess(known_hosts=bad), paramiko.SSHConfig())
