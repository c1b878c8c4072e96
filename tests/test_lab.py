"""The lab's fakes behave like OpenVZ nodes where havengate looks (real sshd, real JVMs).

Every assertion goes through the real OpenSSH client and the node's shims, the way
havengate will see them. Formats and exit codes: /work/shared/reference/openvz.md.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import sys
import time

import paramiko
import pytest
from lab import JavaSpec, Lab, LabError, default_conf, port_accepts
from lab.core import FAKEVZ, _processes_with_token
from lab.fixtures import lab  # noqa: F401 - the fixture, found by name

OLD = {"kernel": "2.6.24-12-pve", "cpus": 4, "vzctl_version": "3.0.24"}
NEW = {"kernel": "2.6.32-042stab134.8", "cpus": 4, "vzctl_version": "4.9.4"}
DEFAULT_HEADER = "      CTID      NPROC STATUS    IP_ADDR         HOSTNAME"


def run(lab_: Lab, alias: str, command: str, **kwargs) -> tuple[int, str, str]:
    result = lab_.ssh(alias, command, **kwargs)
    return result.returncode, result.stdout, result.stderr


def tcp6_listens(table: str, port: int) -> bool:
    """A LISTEN (0A) line for ``port`` in /proc/net/tcp6 text."""
    return any(
        fields[1].endswith(f":{port:04X}") and fields[3] == "0A"
        for fields in (line.split() for line in table.splitlines()[1:])
    )


# --------------------------------------------------------------------------- node facts


def test_node_facts_over_ssh(lab: Lab) -> None:  # noqa: F811
    master, slave = lab.add_master_and_slave()
    assert run(lab, "master", "uname -r") == (0, "2.6.24-12-pve\n", "")
    assert run(lab, "slave", "uname -r; nproc; vzctl --version; uname -s") == (
        0,
        "2.6.32-042stab134.8\n4\nvzctl version 4.9.4\nLinux\n",
        "",
    )
    status, out, _ = run(lab, "master", "nproc; vzctl --version; grep -c ^processor /proc/cpuinfo; hostname")
    assert (status, out) == (0, "4\nvzctl version 3.0.24\n4\nmaster\n")
    status, out, _ = run(lab, "master", 'echo "$PATH"; echo "$HOME"; getconf _NPROCESSORS_ONLN; uname -a')
    path, home, online, uname_a = out.splitlines()
    assert (path, home, online) == (
        f"{master.dir}/bin:{lab.sysbin}",
        f"{master.dir}/home",
        "4",
    )
    assert uname_a.split()[2] == "2.6.24-12-pve" and os.uname().release not in uname_a
    assert master.sshd_pid and slave.sshd_pid and master.port != slave.port


def test_nodes_and_their_containers_have_no_python(lab: Lab) -> None:  # noqa: F811
    """An OpenVZ 2.6.24 node (lenny, Proxmox VE 1.x) has no Python 3: neither has a lab
    node, nor a container on it, so whatever havengate runs there must do without."""
    master, _ = lab.add_master_and_slave()
    master.add_container("170", conf=default_conf("170", cpus=1))
    hunt = ("for p in python python2 python3 python3.11 pypy pypy3; do "
            "command -v $p && exit 1; done; echo none; command -v sh ps awk sha256sum")
    status, out, _ = run(lab, "master", hunt)
    assert status == 0 and out.split()[0] == "none", out
    status, out, _ = run(lab, "master", f"vzctl exec2 170 {shlex.quote(hunt)}")
    assert status == 0 and out.split()[0] == "none", out
    assert not list(lab.sysbin.glob("python*"))


# --------------------------------------------------------------------------- vzlist


def test_vzlist_formats_by_version(lab: Lab) -> None:  # noqa: F811
    for node in lab.add_master_and_slave():
        node.add_container("101")
        node.add_container("102", running=False)

    status, out, _ = run(lab, "slave", "vzlist")
    assert status == 0
    assert out.splitlines()[0] == DEFAULT_HEADER
    assert re.fullmatch(r" {7}101 {10}\d running   -               ct101\.lab", out.splitlines()[1])
    status, out, _ = run(lab, "slave", "vzlist -a -H -o ctid,status,private,hostname")
    assert (status, out) == (
        0,
        "       101 running   /var/lib/vz/private/101          ct101.lab\n"
        "       102 stopped   /var/lib/vz/private/102          ct102.lab\n",
    )
    status, out, _ = run(lab, "slave", "vzlist -j -a -o ctid,status")
    assert status == 0
    assert json.loads(out) == [{"ctid": 101, "status": "running"}, {"ctid": 102, "status": "stopped"}]

    status, out, _ = run(lab, "master", "vzlist -a")
    assert out.splitlines()[0] == DEFAULT_HEADER
    assert out.splitlines()[2] == "       102          - stopped   -               ct102.lab"
    # vzlist got the private/root fields in vzctl 3.2: 3.0.24 does not know them.
    assert run(lab, "master", "vzlist -a -H -o ctid,status,private,hostname") == (
        1,
        "",
        "Unknown field: private\n",
    )
    assert run(lab, "master", "vzlist -a -H -o ctid,status,hostname")[1].splitlines()[1] == (
        "       102 stopped   ct102.lab"
    )
    status, _, err = run(lab, "master", "vzlist -j")
    assert status == 1
    assert err.startswith("vzlist: invalid option -- 'j'\n")
    assert run(lab, "master", "vzlist 999") == (1, "", "Container(s) not found\n")


# --------------------------------------------------------------------------- vzctl exec / status


def test_cpu_visibility_and_exec_status(lab: Lab) -> None:  # noqa: F811
    for node in lab.add_master_and_slave():
        node.add_container("101", conf=default_conf("101", cpus=1))
        node.add_container("102", running=False)

    inside = "vzctl exec2 101 nproc; vzctl exec2 101 grep -c ^processor /proc/cpuinfo"
    assert run(lab, "master", inside) == (0, "4\n4\n", "")  # 2.6.24: all host CPUs whatever CPUS says
    assert run(lab, "slave", inside) == (0, "1\n1\n", "")  # 2.6.32: CPUS is what the CT sees
    script = (
        "vzctl exec 101 false; echo $?; vzctl exec2 101 'exit 3'; echo $?; "
        "vzctl exec 102 true; echo $?; vzctl exec2 102 true; echo $?; "
        "vzctl status 101; vzctl status 102; vzctl status 999"
    )
    for alias in ("master", "slave"):
        _, out, err = run(lab, alias, script)
        assert out.splitlines() == [
            "8",
            "3",
            "8",
            "31",
            "CTID 101 exist mounted running",
            "CTID 102 exist unmounted down",
            "CTID 999 deleted unmounted down",
        ]
        assert err == "Container is not running\nContainer is not running\n"
    # exec joins its arguments with spaces for bash -c, inside the container's namespaces
    assert run(lab, "slave", "vzctl exec2 101 echo a   b '$(hostname)'") == (0, "a b ct101.lab\n", "")
    # a live --cpus on 2.6.32 changes what the container sees at once
    assert run(lab, "slave", "vzctl set 101 --cpus 2 >/dev/null; vzctl exec2 101 nproc")[1] == "2\n"


# --------------------------------------------------------------------------- Java and the hang rule


def test_java_listens_and_the_hang_rule(lab: Lab) -> None:  # noqa: F811
    master, slave = lab.add_master_and_slave()
    java = [JavaSpec(ports=[61616, 8161], flags=["-Xms16m"])]
    healthy = slave.add_container("101", conf=default_conf("101", cpus=2), java=java, ip="10.200.2.101")
    hung = slave.add_container("102", conf=default_conf("102", cpus=1), java=java, ip="10.200.2.102")
    pinned = slave.add_container("103", conf=default_conf("103", cpus=1, cpumask="0"), java=java)
    assume_mp = [JavaSpec(ports=[61616], flags=["-XX:+AssumeMP"])]
    mitigated = slave.add_container("104", conf=default_conf("104", cpus=1), java=assume_mp)
    old = master.add_container("101", conf=default_conf("101", cpus=1), java=java)

    for container in (healthy, pinned, mitigated, old):
        assert container.wait_listening(61616, 10), container
    status, table, _ = run(lab, "slave", "vzctl exec2 101 cat /proc/net/tcp6")
    assert status == 0 and tcp6_listens(table, 61616) and tcp6_listens(table, 8161)
    with socket.create_connection(("10.200.2.101", 8161), timeout=5) as conn:  # reachable from the node
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.0 200 OK")
    status, out, _ = run(lab, "slave", 'vzctl exec2 101 \'cat /proc/[0-9]*/cmdline | tr "\\0" " "\'')
    assert "/bin/java " in out and " -Xms16m " in out and "-XX:ActiveProcessorCount=2" in out

    time.sleep(2)  # 2.6.32, CPUS=1, no CPUMASK, no AssumeMP: alive, but no port ever opens
    assert [p["mode"] for p in hung.info["programs"]] == ["hang"]
    jvms = hung.java_pids()
    assert len(jvms) == 1
    assert hung.listening_ports() == set()
    assert not tcp6_listens(run(lab, "slave", "vzctl exec2 102 cat /proc/net/tcp6")[1], 61616)
    assert not port_accepts(61616, "10.200.2.102")
    os.kill(jvms[0], signal.SIGTERM)  # like the real hang, SIGTERM does not end it
    time.sleep(0.5)
    assert hung.java_pids() == jvms


# --------------------------------------------------------------------------- vzctl set --save


MESSY_CONF = (
    '# CPUMASK="9" in a comment stays\n'
    'CPUS="1"\n'
    'CPUMASK="0-3"\n'
    'VE_ROOT="/var/lib/vz/root/$VEID"\n'
    'VE_PRIVATE="/var/lib/vz/private/$VEID"\n'
    'HOSTNAME="ct101.lab"\n'
    "CPUMASK=5\n"
    '  CPUMASK="7"\n'
    'VE_LAYOUT="simfs"'
)


def test_set_cpumask_save_rewrites_only_the_first_line(lab: Lab) -> None:  # noqa: F811
    slave = lab.add_node("slave", **NEW)
    slave.add_container("101", conf=MESSY_CONF)
    slave.add_container("102", running=False)

    assert run(lab, "slave", "vzctl set 101 --cpumask 0 --save") == (
        0,
        "Setting CPU mask: 0\nCT configuration saved to /etc/vz/conf/101.conf\n",
        "",
    )
    expected = MESSY_CONF.replace('CPUMASK="0-3"\n', 'CPUMASK="0"\n', 1) + "\n"
    assert slave.read_conf("101") == expected
    assert run(lab, "slave", "vzctl set 102 --cpus 2 --cpumask 1,0 --save") == (
        0,
        "CT configuration saved to /etc/vz/conf/102.conf\n",
        "",
    )
    assert slave.read_conf("102").endswith('VE_LAYOUT="simfs"\nCPUS="2"\nCPUMASK="0-1"\n')
    assert run(lab, "slave", "vzctl set 101 --cpumask 3-1 --save") == (
        21,
        "",
        "Bad parameter for --cpumask: 3-1\n",
    )
    assert run(lab, "slave", "vzctl set 102 --cpus 2") == (
        31,
        "",
        "Unable to apply CPU parameters: container is not running\n",
    )
    assert slave.read_conf("101") == expected


def test_old_vzctl_has_no_cpumask_and_liars_save_nothing(lab: Lab) -> None:  # noqa: F811
    master = lab.add_node("master", **OLD)
    liar = lab.add_node("liar", **NEW, vzctl_quirk="no-save")
    for node in (master, liar):
        node.add_container("101", conf=MESSY_CONF)

    assert run(lab, "master", "vzctl set 101 --cpumask 0 --save") == (
        21,
        "",
        "vzctl: unrecognized option '--cpumask'\n",
    )
    assert master.read_conf("101") == MESSY_CONF
    assert run(lab, "master", "vzctl set 101 --cpus 2 --save") == (
        0,
        "Setting CPUs: 2\nSaved parameters for CT 101\n",
        "",
    )
    assert 'CPUS="2"\n' in master.read_conf("101")
    assert run(lab, "master", "vzctl exec2 101 nproc")[1] == "4\n"  # 2.6.24 applies nothing, exit 0 anyway

    assert run(lab, "liar", "vzctl set 101 --cpumask 0 --save") == (
        0,
        "Setting CPU mask: 0\nCT configuration saved to /etc/vz/conf/101.conf\n",
        "",
    )
    assert liar.read_conf("101") == MESSY_CONF


# --------------------------------------------------------------------------- vzmigrate


def test_vzmigrate_moves_the_container_verbatim(lab: Lab) -> None:  # noqa: F811
    master, slave = lab.add_master_and_slave()
    conf = default_conf("101", cpus=1, ip="10.200.1.101") + "# no newline at the end"
    java = [JavaSpec(ports=[61616])]
    source = master.add_container(
        "101",
        conf=conf,
        java=java,
        ip="10.200.1.101",
        private_files={"usr/bin/java": "", "etc/init.d/activemq": "#!/bin/sh\n"},
    )
    slave.add_container("102", running=False)
    master.add_container("102", running=False)
    assert source.wait_listening(61616, 10)
    original = master.read_conf_bytes("101")

    status, out, err = run(lab, "master", "vzmigrate slave 101")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "Starting migration of CT 101 to slave"
    assert slave.read_conf_bytes("101") == original
    assert run(lab, "master", "vzlist -a -H -o ctid")[1] == "       102\n"
    assert not master.has_conf("101")
    assert (slave.private_dir("101") / "etc/init.d/activemq").read_text() == "#!/bin/sh\n"
    moved = slave.container("101")
    assert moved.running and moved.info["seen_cpus"] == 1
    assert [p["mode"] for p in moved.info["programs"]] == ["hang"]  # the destination's rule applies
    assert ["vzctl", "start", "101"] in slave.commands()

    assert run(lab, "master", "vzmigrate slave 101") == (10, "", "Error: CT #101 doesn't exist\n")
    assert run(lab, "slave", "vzmigrate master 102")[0] == 9
    lab.add_dead_alias("ghost")
    status, _, err = run(lab, "slave", "vzmigrate ghost 101")
    assert status == 4 and "Can't connect to destination address" in err
    assert slave.container("101").running


# --------------------------------------------------------------------------- ssh failure modes


def test_dead_alias_and_replaced_host_key(lab: Lab) -> None:  # noqa: F811
    master = lab.add_node("master", **OLD)
    lab.add_dead_alias("gone")
    status, _, err = run(lab, "gone", "true")
    assert status == 255 and "Connection refused" in err

    strict = ["-o", "StrictHostKeyChecking=yes"]
    assert run(lab, "master", "true", options=strict)[0] == 0
    old_pid = master.sshd_pid
    lab.replace_host_key(master)
    assert master.sshd_pid != old_pid
    status, _, err = run(lab, "master", "true", options=strict)
    assert status == 255 and "Host key verification failed" in err
    lab.trust_host_key(master)
    assert run(lab, "master", "true", options=strict)[0] == 0


def test_paramiko_and_sftp_reach_a_node(lab: Lab) -> None:  # noqa: F811
    """What havengate's fabric transport needs: key auth, known_hosts, exec, sftp."""
    node = lab.add_node("slave", **NEW)
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=node.port,
        username="root",
        key_filename=str(lab.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
    )
    try:
        _, stdout, _ = client.exec_command("vzctl --version")
        assert stdout.read() == b"vzctl version 4.9.4\n"
        with client.open_sftp() as sftp:
            assert "vz.conf" in sftp.listdir("/etc/vz")
    finally:
        client.close()


# --------------------------------------------------------------------------- bookkeeping


def test_commands_are_logged_in_order(lab: Lab) -> None:  # noqa: F811
    node = lab.add_node("master", **OLD)
    node.add_container("101")  # the lab's own setup calls are not logged
    run(lab, "master", "uname -r; vzlist -a -H -o ctid; vzctl exec2 101 'echo hi there'")
    assert node.commands() == [
        ["uname", "-r"],
        ["vzlist", "-a", "-H", "-o", "ctid"],
        ["vzctl", "exec2", "101", "echo hi there"],
    ]


def test_the_shims_sh_answers_are_fakevz_answers(lab: Lab) -> None:  # noqa: F811
    """shim.sh answers a probe's usual calls without Python: same output, status and log
    line as fakevz.py; with Python taken away those still work and nothing else does."""
    node = lab.add_node("master", **OLD)
    node.add_container("101")
    node.add_container("102", running=False)
    awkward = 'printf "%s|" "$PWD" "$HOME" "$TERM"; echo "a\\b \'q\' \t"\necho done'
    calls = [
        ["uname", "-r"], ["uname", "-n"], ["nproc"], ["vzctl", "--version"],
        ["vzctl", "exec2", "101", awkward], ["vzctl", "exec2", "101", "exit 3"],
    ]
    slow = [["vzctl", "exec2", "102", "true"], ["vzctl", "exec2", "101", "-"],
            ["vzctl", "exec2", "101", "echo é"], ["uname", "-a"], ["vzlist", "-H", "-o", "ctid"]]
    no_python = node.dir / "no-python"
    no_python.mkdir()
    for tool in ("uname", "nproc", "vzctl", "vzlist"):  # the wrappers, with no Python to run
        text = (node.dir / "bin" / tool).read_text()
        (no_python / tool).write_text(re.sub(r"(?m)^python=.*$", "python=/nonexistent/python", text))
        (no_python / tool).chmod(0o755)
    for argv in calls + slow:
        before = len(node.commands())
        shim = node.run([str(node.dir / "bin" / argv[0]), *argv[1:]])
        logged = node.commands()[before:]
        python = node.run([sys.executable, "-I", "-S", str(FAKEVZ), str(node.dir), *argv])
        assert (shim.returncode, shim.stdout, shim.stderr) == (
            python.returncode, python.stdout, python.stderr), argv
        assert logged == [argv] == node.commands()[-1:], argv
        without = node.run([str(no_python / argv[0]), *argv[1:]])
        if argv in calls:
            assert (without.returncode, without.stdout) == (shim.returncode, shim.stdout), argv
        else:
            assert without.returncode == 127, argv
    assert node.run([str(node.dir / "bin" / "vzctl"), "exec2", "101", awkward]).stdout == (
        b"/|/|linux|a\\b 'q' \t\ndone\n")
    node.stop_container("101")  # a stopped container: the sh path steps aside
    assert node.run([str(no_python / "vzctl"), "exec2", "101", "true"]).returncode == 127
    assert node.run([str(node.dir / "bin" / "vzctl"), "exec2", "101", "true"]).returncode == 31


def test_close_stops_everything_and_is_idempotent(tmp_path) -> None:
    lab_ = Lab(tmp_path / "lab")
    node = lab_.add_node("slave", **NEW)
    container = node.add_container(
        "101", conf=default_conf("101", cpus=1), java=[JavaSpec(ports=[8080])], ip="10.200.9.101"
    )
    holder, sshd, pid1 = node.holder, node.sshd_pid, container.pid1
    assert container.java_pids() and _processes_with_token(lab_.token)
    lab_.close()
    lab_.close()
    assert holder is not None and holder.poll() is not None
    assert not os.path.exists(f"/proc/{sshd}") and not os.path.exists(f"/proc/{pid1}")
    assert _processes_with_token(lab_.token) == []
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"hv{lab_.token[:7]}")]
    with pytest.raises(LabError):
        lab_.add_node("again", **NEW)
