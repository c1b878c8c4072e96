"""The batched probe: its command line, its sections, and NodeFacts from recorded output."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from lab.fixtures import lab  # noqa: F401 - the fixture, found by name

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


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_a_container_whose_probe_died_is_unknown_never_left_out(tmp_path, shell):
    """The worker probing CT 102 is killed (as an OOM kill or a full /tmp would end it):
    CT 102 is listed with an unknown conf, and 20 others (more than a batch) are whole."""
    import shutil

    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed (.ci/run installs it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ctids = [str(100 + n) for n in range(21)]
    rows = "".join(f"{c} stopped ct{c}\n" for c in ctids)
    scripts = {
        "vzlist": f"#!/bin/sh\nprintf '{rows}'\n",
        "vzctl": "#!/bin/sh\necho 'vzctl version 3.0.24'\n",
        # reading 102's conf kills the worker that asked (its subshell)
        "cat": '#!/bin/sh\nfor a; do case $a in */102.conf) kill -9 $PPID; exit 1;; '
               '*/1[0-9][0-9].conf) echo "CPUS=\\"2\\""; exit 0;; esac; done\n'
               'exec /bin/cat "$@"\n',
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "sh").symlink_to(shutil.which("dash") if shell == "dash"
                                else shutil.which("busybox"))
    result = subprocess.run([str(bin_dir / "sh"), "-c", probe_command(NONCE, Mode.NODE)],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    facts = parse_probe_output(result.stdout, NONCE, "local", "t")
    assert [c.ctid for c in facts.containers] == ctids
    confs = {c.ctid: c.conf for c in facts.containers}
    assert isinstance(confs["102"], Unknown) and "left no output" in confs["102"].reason
    assert all(confs[c].values["CPUS"] == "2" for c in ctids if c != "102")


def test_inside_a_container_the_batched_look_finds_what_a_look_at_each_process_finds(
        lab, tmp_path, monkeypatch):  # noqa: F811
    """One grep and one find name a container's possible JVMs; they must find every one the
    look at each process finds: Java under another argv[0], a jsvc in a folder whose name
    has a newline, a program whose argv[0] alone says java, one merely named like Java, a
    non-Java listener, 40 others."""
    import secrets

    from lab import JavaSpec, ServiceSpec

    from havengate.facts import probe

    node = lab.add_node("master", kernel="2.6.24-12-pve", cpus=4, vzctl_version="3.0.24")
    ct = node.add_container("101", ip="10.200.14.101", java=[JavaSpec(ports=[8161])],
                            services=[ServiceSpec("nginx", [80])])
    assert ct.wait_listening(8161) and ct.wait_listening(80)
    odd = tmp_path / "odd\ndir"
    odd.mkdir()
    programs = {"java": tmp_path / "java", "jsvc": odd / "jsvc"}
    for path in programs.values():
        path.write_bytes(Path("/bin/sleep").read_bytes())
        path.chmod(0o755)
    def start(command: str) -> str:  # in the background, holding nothing of the session
        return f"setsid bash -c {shlex.quote(command)} </dev/null >/dev/null 2>&1 &\n"

    script = "".join([
        start(f"exec -a daemon {shlex.quote(str(programs['java']))} 600"),
        start(f"exec -a svc {shlex.quote(str(programs['jsvc']))} 600"),
        start("exec -a javaish-name sleep 600"),
        start("exec -a /opt/jre/bin/java sleep 600"),  # Java by its argv[0] only
        *(start("sleep 600") for _ in range(40)),
    ])
    assert node.run([str(node.dir / "bin" / "vzctl"), "exec2", "101", script]).returncode == 0

    def look(script_text: str):
        monkeypatch.setattr(probe, "probe_script", lambda: script_text)
        nonce = secrets.token_hex(16)
        result = lab.ssh("master", probe.probe_command(nonce, probe.Mode.FULL), timeout=60)
        (container,) = probe.parse_probe_output(result.stdout, nonce, "master", "t").containers
        return container

    text = probe.probe_script()
    batched = look(text)
    # each batched command failing as it would on a node (an argument list too long, no
    # fork left, a busybox find): the container is then looked at process by process
    for broken, failing in (("grep -l -a -E 'java|jsvc' /proc", "grep --no-such-option /proc"),
                            ("-lname '*java*'", "-no-such-test '*java*'"),
                            ("-lname 'socket:", "-no-such-test 'socket:")):
        assert text.count(broken) == 1, broken
        one_by_one = look(text.replace(broken, failing))
        assert one_by_one.java_processes == batched.java_processes, failing
        assert one_by_one.listening == batched.listening, failing
    found = {(p.argv[0], p.argv[-1]) for p in batched.java_processes}
    assert ("daemon", "600") in found and ("svc", "600") in found  # Java by its executable
    assert ("/opt/jre/bin/java", "600") in found
    assert len(batched.java_processes) == 4  # the lab's JVM, and those three
    assert not any("javaish" in p.argv[0] for p in batched.java_processes)
    owners = {(port.port, port.program, port.java) for port in batched.listening}
    assert {(8161, "java", True), (80, "nginx", False)} <= owners


def test_the_private_area_scan_names_each_init_script_that_runs_java(tmp_path):
    """One grep reads every init script: those naming java or jsvc as a word are named,
    javascript and symlinks are not, nor are names past the init folders."""
    import re

    from havengate.facts.probe import probe_script

    scan = re.search(r"scan=\$\(cat <<'SCAN'\n(.*?)\nSCAN\n", probe_script(), re.S).group(1)
    root = tmp_path / "private"
    files = {
        "etc/init.d/activemq": "#!/bin/sh\nexec /usr/bin/java -jar run.jar\n",
        "etc/init.d/tomcat daemon": "JSVC=/usr/bin/jsvc\n$JSVC -user tomcat\n",
        "etc/init.d/web": "#!/bin/sh\n# javascript bundles, nothing else\n",
        "etc/rc.local": "cd /opt/app && java -cp app.jar Main &\n",
        "etc/systemd/system/app.service": "[Service]\nExecStart=/opt/jdk/bin/java -jar a.jar\n",
        "etc/supervisor/conf.d/worker.conf": "command=/usr/bin/python worker.py\n",
        "etc/default/java-thing": "java\n",  # not an init folder
        "usr/lib/jvm/jdk/bin/java": "",
        "opt/app/bin/jsvc": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for number in range(60):  # tens of init scripts, one grep
        (root / f"etc/init.d/other{number:02d}").write_text("#!/bin/sh\necho ok\n")
    (root / "etc/init.d/linked").symlink_to(root / "etc/init.d/activemq")
    (root / "bin").mkdir()
    # CentOS: etc/init.d and etc/rc.local are links into etc/rc.d, never followed
    centos_root = tmp_path / "centos"
    for name, text in {"etc/rc.d/init.d/tomcat6": "JAVA_HOME=/usr/lib/jvm/jre\n$JAVA_HOME/bin/java &\n",
                       "etc/rc.d/rc.local": "/opt/jre/bin/java -jar /srv/app.jar &\n"}.items():
        (centos_root / name).parent.mkdir(parents=True, exist_ok=True)
        (centos_root / name).write_text(text)
    (centos_root / "usr").mkdir()
    (centos_root / "etc/init.d").symlink_to("rc.d/init.d")
    (centos_root / "etc/rc.local").symlink_to("rc.d/rc.local")

    def scan_of(private: Path) -> list[str]:
        result = subprocess.run(["sh", "-c", scan, "havengate-scan", str(private)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return sorted(result.stdout.splitlines())

    assert scan_of(root) == [
        "init etc/init.d/activemq", "init etc/init.d/tomcat daemon", "init etc/rc.local",
        "init etc/systemd/system/app.service",
        "path opt/app/bin/jsvc", "path usr/lib/jvm", "path usr/lib/jvm/jdk/bin/java",
    ]
    assert scan_of(centos_root) == ["init etc/rc.d/init.d/tomcat6", "init etc/rc.d/rc.local"]
