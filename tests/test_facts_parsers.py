"""Pure parsers on recorded text: kernel strings, CTID.conf, CPUMASK, vzlist, /proc/net."""

from __future__ import annotations

import pytest

from havengate.facts.cpumask import MaskError, parse_cpumask
from havengate.facts.ctconf import parse_ctid_conf
from havengate.facts.kernel import parse_kernel_release
from havengate.facts.model import CpuVisibility, KernelFamily
from havengate.facts.procnet import ProcNetError, parse_proc_net_tcp
from havengate.facts.vz import VzlistError, parse_vzctl_version, parse_vzlist
from havengate.model import Unknown


@pytest.mark.parametrize(
    ("release", "family", "visibility", "build"),
    [
        ("2.6.32-042stab134.8", KernelFamily.OVZ_2632, CpuVisibility.CPUS_LIMITED, "042stab134.8"),
        ("2.6.32-042stab037.1\n", KernelFamily.OVZ_2632, CpuVisibility.CPUS_LIMITED, "042stab037.1"),
        ("2.6.32-11-pve", KernelFamily.OVZ_2632, CpuVisibility.CPUS_LIMITED, "042stab053.5"),
        ("2.6.32-5-openvz-amd64", KernelFamily.OVZ_2632, CpuVisibility.CPUS_LIMITED, None),
        ("2.6.24-12-pve", KernelFamily.OVZ_2624, CpuVisibility.ALL_HOST_CPUS, None),
        ("2.6.24-ovz006.5", KernelFamily.OVZ_2624, CpuVisibility.ALL_HOST_CPUS, "ovz006.5"),
        ("2.6.18-028stab059.6", KernelFamily.OVZ_2618, CpuVisibility.VIRTUAL_CPUS, "028stab059.6"),
        ("2.6.18-274.3.1.el5.028stab094.3", KernelFamily.OVZ_2618, CpuVisibility.VIRTUAL_CPUS,
         "028stab094.3"),
        ("2.6.35-1-pve", KernelFamily.UNRECOGNISED, CpuVisibility.UNKNOWN, None),
        ("6.1.0-18-amd64", KernelFamily.UNRECOGNISED, CpuVisibility.UNKNOWN, None),
        ("", KernelFamily.UNRECOGNISED, CpuVisibility.UNKNOWN, None),
        ("2.6.32-042stab\x00junk;$(reboot)", KernelFamily.UNRECOGNISED, CpuVisibility.UNKNOWN, None),
    ],
)
def test_kernel_release_families(release, family, visibility, build):
    kernel = parse_kernel_release(release)
    assert (kernel.family, kernel.visibility, kernel.openvz_build) == (family, visibility, build)


def test_kernel_versions_compare():
    assert parse_kernel_release("2.6.24-12-pve").version < parse_kernel_release("2.6.32-11-pve").version
    assert parse_kernel_release("weird").version is None


def test_ctid_conf_read_like_vzctl(fixture_text):
    conf = parse_ctid_conf(fixture_text("101.conf"), "101")
    assert conf.cpus == 1  # first CPUS wins; the later CPUS="4" is a duplicate
    assert conf.cpumask is None
    assert conf.ve_root == "/var/lib/vz/root/101"
    assert conf.ve_private == "/var/lib/vz/private/101"  # ${VEID} expanded, trailing / stripped
    assert conf.values["IP_ADDRESS"] == "10.0.0.101 10.0.0.111/24"  # accumulates
    assert conf.values["NAMESERVER"] == "inherit # Copy from host system's /etc/resolv.conf"
    assert conf.values["HOSTNAME"] == "activemq.example.com"
    messages = [p.message for p in conf.problems]
    assert any("duplicate CPUS" in m and "'1'" in m for m in messages)
    assert not any("IP_ADDRESS" in m for m in messages)


@pytest.mark.parametrize(
    ("line", "expect_value", "problem"),
    [
        ('CPUS = "2"', None, "not a plain name"),
        ('CPUS="2', None, "unbalanced quote"),
        ('CPUS="2" # two', "2", "vzctl <= 3.0 keeps it"),
        ('HOSTNAME="a b"', None, None),
        ("HOSTNAME=a b", None, "more than one word"),
        ('HOSTNAME="$(reboot)"', None, "command substitution"),
        ("CPUS\x00\x01=2", None, "binary"),
        ("just words", None, "no '='"),
    ],
)
def test_ctid_conf_oddities_are_problems_not_crashes(line, expect_value, problem):
    conf = parse_ctid_conf(line + "\n", "101")
    if expect_value is not None:
        assert conf.values["CPUS"] == expect_value
    messages = " | ".join(p.message for p in conf.problems)
    if problem is None:
        assert not conf.problems
    else:
        assert problem in messages


def test_ctid_conf_rejected_line_makes_the_value_unknown():
    conf = parse_ctid_conf('CPUS="1"\nCPUMASK="0\n', "101")
    assert conf.cpus == 1 and isinstance(conf.cpumask, Unknown)  # not "pinned to CPU 0"
    assert "unbalanced quote" in conf.cpumask.reason
    assert parse_ctid_conf('CPUMASK="0"\nCPUMASK="1\n', "101").cpumask.cpus == (0,)


def test_ctid_conf_bad_cpus_is_unknown_not_zero():
    conf = parse_ctid_conf('CPUS="two"\nCPUMASK="3-1"\n', "101")
    assert isinstance(conf.cpus, Unknown)
    assert isinstance(conf.cpumask, Unknown)
    assert parse_ctid_conf('CPUS="0"\n', "101").cpus is None  # 0 means all CPUs


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("all", None), ("0", (0,)), ("0-3", (0, 1, 2, 3)), ("0,2,4-6", (0, 2, 4, 5, 6)), ("1,", (1,))],
)
def test_cpumask_grammar(text, cpus):
    assert parse_cpumask(text).cpus == cpus


@pytest.mark.parametrize("text", ["", "3-1", "0 1", "a", "0;reboot", "auto", "-1", "0,,1", "9999"])
def test_cpumask_rejects_what_vzctl_rejects(text):
    with pytest.raises(MaskError):
        parse_cpumask(text)


def test_vzlist_rows_both_versions():
    rows = parse_vzlist(
        "       101 running   activemq.example.com\n"
        "       102 stopped   -\n", "", 0)
    assert [(r.ctid, r.status, r.hostname) for r in rows] == [
        ("101", "running", "activemq.example.com"),
        ("102", "stopped", None),
    ]
    assert parse_vzlist("", "Container(s) not found\n", 1) == ()  # vzctl < 2012, empty node


@pytest.mark.parametrize(
    ("stdout", "stderr", "status"),
    [
        ("      CTID      NPROC STATUS    IP_ADDR         HOSTNAME\n", "", 0),
        ("       101 runing x\n", "", 0),
        ("       101 running x /vz/private/101\n", "", 0),
        ("", "Unknown field: private\n", 1),
        ("\x00\xff garbage\n", "", 0),
        ("       101 running a\n       101 stopped b\n", "", 0),  # one CT, two rows
    ],
)
def test_vzlist_of_unexpected_shape_is_an_error(stdout, stderr, status):
    with pytest.raises(VzlistError):
        parse_vzlist(stdout, stderr, status)


def test_vzctl_version():
    assert parse_vzctl_version("vzctl version 3.0.24\n", 0) == (3, 0, 24)
    assert parse_vzctl_version("sh: vzctl: not found\n", 127) is None
    assert isinstance(parse_vzctl_version("Segmentation fault\n", 139), Unknown)


def test_proc_net_tcp_listeners(fixture_text):
    v4 = parse_proc_net_tcp(fixture_text("proc_net_tcp.txt"), "tcp")
    v6 = parse_proc_net_tcp(fixture_text("proc_net_tcp6.txt"), "tcp6")
    assert ("127.0.0.1", 18081) in {(s.address, s.port) for s in v4}
    assert {(s.address, s.port) for s in v6} >= {("::", 18080), ("::ffff:127.0.0.1", 18082)}
    assert all(s.inode > 0 for s in v4 + v6)


def test_proc_net_tcp_foreign_shape():
    with pytest.raises(ProcNetError):
        parse_proc_net_tcp("hello world\n", "tcp")
    assert parse_proc_net_tcp("", "tcp6") == ()
