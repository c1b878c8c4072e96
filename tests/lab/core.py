"""The havengate test lab: fake OpenVZ nodes reached over real SSH, real JVMs inside.

A ``Lab`` owns a base directory, an ed25519 client key, ``known_hosts`` and an OpenSSH
``ssh_config`` whose ``Host`` aliases name its nodes. Each ``Node`` is a real sshd on
127.0.0.1 in its own mount and UTS namespaces, held by ``holder.py``; the OpenVZ tools it
offers are the shims of ``fakevz.py``. Containers are real namespaces with real Java
programs (``java/LabServer.java``). See ``README.md`` next to this file for the rules.

Every wait is bounded; ``Lab.close()`` stops everything the lab started, even after a
failed or partial setup, and may be called any number of times.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import fakevz
from .fakevz import JavaSpec

LAB_DIR = Path(__file__).resolve().parent
FAKEVZ = LAB_DIR / "fakevz.py"
SHIM = LAB_DIR / "shim.sh"
HOLDER = LAB_DIR / "holder.py"
JAVA_SOURCE = LAB_DIR / "java" / "LabServer.java"
SHIMS = ("uname", "nproc", "vzctl", "vzlist", "vzmigrate", "fakevz-lab")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,30}$")
# Paths end up in sshd_config and overlay mount options: keep them free of separators.
SAFE_PATH_RE = re.compile(r"^[A-Za-z0-9_./+-]+$")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=5")

_java_classpath: Path | None = None


class LabError(RuntimeError):
    """The lab itself failed (not the code under test): a setup step or a helper broke."""


# --------------------------------------------------------------------------- helpers


def _python() -> str:
    return sys.executable


# fakevz.py imported, not run as a script: its compiled form is cached between calls
# (shim.sh starts it the same way).
FAKEVZ_CODE = ("import sys; sys.path.insert(0, sys.argv[1]); import fakevz; "
               "sys.exit(fakevz.main(sys.argv[2:]))")
FAKEVZ_MODULE = (_python(), "-I", "-S", "-c", FAKEVZ_CODE, str(LAB_DIR))


def _run(argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a local helper (ssh-keygen, ip, javac) and raise LabError with its stderr."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise LabError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def free_port(avoid: Iterable[int] = ()) -> int:
    """A TCP port on 127.0.0.1 with nothing listening right now, not in ``avoid``."""
    avoid = set(avoid)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in avoid:
            return port
    raise LabError("no free TCP port on 127.0.0.1")


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def java_binary() -> str:
    """The real JVM binary (argv[0] of lab JVMs ends in ``java``, as havengate expects)."""
    found = shutil.which("java")
    if found is None:
        raise LabError("no java on PATH")
    return os.path.realpath(found)


def java_classpath() -> Path:
    """LabServer compiled once per source version into a cache dir (javac takes ~1 s)."""
    global _java_classpath
    if _java_classpath is not None:
        return _java_classpath
    digest = hashlib.sha256(JAVA_SOURCE.read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"havengate-lab-java-{os.getuid()}-{digest}"
    if not (target / "LabServer.class").exists():
        build = Path(tempfile.mkdtemp(prefix="havengate-lab-javac-"))
        _run(["javac", "-d", str(build), str(JAVA_SOURCE)], timeout=120)
        try:
            os.rename(build, target)
        except OSError:  # another session built it first
            shutil.rmtree(build, ignore_errors=True)
    _java_classpath = target
    return target


def _check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(f"{kind} name must match {NAME_RE.pattern}: {name!r}")
    return name


def _holder_call(address: str, request: dict, timeout: float) -> dict:
    """One JSON request to a node's holder over its abstract Unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect("\0" + address)
        conn.sendall(json.dumps(request).encode() + b"\n")
        with conn.makefile("rb") as stream:
            line = stream.readline()
    if not line:
        raise LabError(f"holder {address} closed the connection on {request.get('op')}")
    return json.loads(line)


def _processes_with_token(token: str) -> list[int]:
    """Pids whose environment carries this lab's token (containers, JVMs, their launchers)."""
    marker = f"{fakevz.LAB_TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return f"(no {path})"


# --------------------------------------------------------------------------- containers


class Container:
    """A lab container as the lab sees it from outside (state, namespaces, sockets)."""

    def __init__(self, node: Node, ctid: str, ip: str | None) -> None:
        self.node = node
        self.ctid = ctid
        self.ip = ip

    def __repr__(self) -> str:
        return f"Container({self.node.name}:{self.ctid})"

    @property
    def info(self) -> dict:
        """The node's state entry: status, pid1, seen_cpus, cpus, cpumask, programs (mode)."""
        return self.node.state().get("containers", {}).get(self.ctid, {})

    @property
    def running(self) -> bool:
        return fakevz.FakeNode.is_running(self.info)

    @property
    def pid1(self) -> int | None:
        """Host pid of the container's PID 1 while it runs."""
        info = self.info
        return info["pid1"] if fakevz.FakeNode.is_running(info) else None

    def listening_ports(self) -> set[int]:
        """Ports in LISTEN in the container's network namespace (tcp and tcp6)."""
        pid1 = self.pid1
        return set() if pid1 is None else fakevz.listening_ports(pid1)

    def java_pids(self) -> list[int]:
        """Host pids of the JVMs running inside the container."""
        pid1 = self.pid1
        if pid1 is None:
            return []
        return [pid for pid in fakevz.processes_in_namespace(pid1) if _comm(pid) == "java"]

    def wait_listening(self, port: int, timeout: float = 10.0) -> bool:
        """Wait (bounded) until ``port`` listens inside the container."""
        return fakevz.wait_for(lambda: port in self.listening_ports(), timeout, 0.05)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- nodes


class Node:
    """One fake OpenVZ hardware node: a holder process, its sshd, its shims and state."""

    def __init__(
        self,
        lab: Lab,
        name: str,
        kernel: str,
        cpus: int,
        vzctl_version: str,
        vzctl_quirk: str | None,
    ) -> None:
        if vzctl_quirk not in (None, "no-save", "junk-vzlist"):
            raise ValueError(f"unknown vzctl_quirk {vzctl_quirk!r}")
        if cpus < 1:
            raise ValueError("a node has at least one CPU")
        self.lab = lab
        self.name = name
        self.kernel = kernel
        self.cpus = cpus
        self.vzctl_version = vzctl_version
        self.vzctl_quirk = vzctl_quirk
        self.dir = lab.base / "nodes" / name
        self.port = 0
        self.holder: subprocess.Popen[bytes] | None = None
        self.sshd_pid: int | None = None
        self.socket_name = f"havengate-lab-{lab.token}-{name}"

    def __repr__(self) -> str:
        return f"Node({self.name}, port={self.port}, kernel={self.kernel})"

    # ----- setup
    def start(self) -> None:
        """Lay out the node directory, then start the holder and wait for sshd."""
        self._make_dirs()
        self._write_etc()
        self._write_node_json()
        self._write_shims()
        self._write_ssh_files()
        self._start_holder()

    def _make_dirs(self) -> None:
        for sub in (
            "bin",
            "home",
            "logs",
            "ct",
            "private",
            "root",
            "etc-upper/vz/conf",
            "etc-upper/init.d",
            "etc-work",
            "varlib-upper/vz/private",
            "varlib-upper/vz/root",
            "varlib-work",
        ):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def _write_etc(self) -> None:
        """The node's own files in the /etc overlay, written before it is mounted."""
        upper = self.dir / "etc-upper"
        home = self.dir / "home"
        passwd = re.sub(
            r"(?m)^(root:[^:]*:0:0:[^:]*:)[^:]*:", rf"\g<1>{home}:", Path("/etc/passwd").read_text()
        )
        (upper / "passwd").write_text(passwd)
        (upper / "vz" / "vz.conf").write_text(
            "## Global parameters (havengate lab node)\n"
            "VIRTUOZZO=yes\n"
            "LOCKDIR=/var/lib/vz/lock\n"
            "VE_ROOT=/var/lib/vz/root/$VEID\n"
            "VE_PRIVATE=/var/lib/vz/private/$VEID\n"
        )
        init = upper / "init.d" / "vz"
        init.write_text(
            "#!/bin/sh\n# lab: what vzmigrate asks before moving a container\n"
            'case "$1" in status) echo "OpenVZ is running..."; exit 0;; esac\nexit 0\n'
        )
        init.chmod(0o755)
        template = Path("/proc/cpuinfo").read_text()
        (self.dir / "cpuinfo.template").write_text(template)
        (self.dir / "cpuinfo").write_text(fakevz.cpuinfo_for(self.cpus, template))

    def _write_node_json(self) -> None:
        info = {
            "name": self.name,
            "kernel": self.kernel,
            "cpus": self.cpus,
            "vzctl_version": self.vzctl_version,
            "vzctl_quirk": self.vzctl_quirk,
            "token": self.lab.token,
            "ssh_config": str(self.lab.ssh_config),
            "java_bin": java_binary(),
            "java_classpath": str(java_classpath()),
            "path_tail": str(self.lab.sysbin),
        }
        (self.dir / "node.json").write_text(json.dumps(info, indent=1))
        (self.dir / "state.json").write_text(json.dumps({"containers": {}}))

    def _write_shims(self) -> None:
        """``<node>/bin``: the fakevz wrappers, and a getconf that counts the node's CPUs."""
        settings = {
            "node": str(self.dir),
            "kernel": self.kernel,
            "real_release": os.uname().release,
            "cpus": str(self.cpus),
            "vzctl_text": self.vzctl_version,
            "path_tail": str(self.lab.sysbin),
            "token": self.lab.token,
            "token_variable": fakevz.LAB_TOKEN_ENV,
            "python": _python(),
            "fakevz_code": FAKEVZ_CODE,
            "lab": str(LAB_DIR),
        }
        head = "".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items())
        scripts = {
            tool: f"#!/bin/sh\n# lab: {tool} of node {self.name} (see shim.sh)\ntool={tool}\n{head}"
            f". {shlex.quote(str(SHIM))}\n"
            for tool in SHIMS
        }
        scripts["getconf"] = (
            "#!/bin/sh\n# lab: processor counts of the node\n"
            f'case "$1" in _NPROCESSORS_ONLN|_NPROCESSORS_CONF) echo {self.cpus}; exit 0;; esac\n'
            'exec /usr/bin/getconf "$@"\n'
        )
        for name, text in scripts.items():
            path = self.dir / "bin" / name
            path.write_text(text)
            path.chmod(0o755)

    def _write_ssh_files(self) -> None:
        key = self.dir / "ssh_host_ed25519_key"
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{self.name}", "-f", str(key)])
        self.port = self.lab.allocate_port()
        path = f"{self.dir / 'bin'}:{self.lab.sysbin}"  # an OpenVZ node has no Python 3
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.lab.authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            "Subsystem sftp internal-sftp",
            f"SetEnv PATH={path} FAKEHOST={self.dir}",
        ]
        (self.dir / "sshd_config").write_text("\n".join(lines) + "\n")

    def _holder_config(self) -> dict:
        d = self.dir
        overlay = "lowerdir={},upperdir={},workdir={}"
        return {
            "hostname": self.name,
            "home": str(d / "home"),
            "socket": self.socket_name,
            "sshd_out": str(d / "sshd.out"),
            "sshd_argv": ["/usr/sbin/sshd", "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
            "mounts": [
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    overlay.format("/etc", d / "etc-upper", d / "etc-work"),
                    "/etc",
                ],
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    overlay.format("/var/lib", d / "varlib-upper", d / "varlib-work"),
                    "/var/lib",
                ],
                ["mount", "--bind", str(d / "private"), "/var/lib/vz/private"],
                ["mount", "--bind", str(d / "root"), "/var/lib/vz/root"],
                ["mount", "--bind", str(d / "cpuinfo"), "/proc/cpuinfo"],
            ],
        }

    def _start_holder(self) -> None:
        config = self.dir / "holder.json"
        config.write_text(json.dumps(self._holder_config(), indent=1))
        argv = [
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            _python(),
            "-I",
            "-S",
            str(HOLDER),
            str(config),
        ]
        with open(self.dir / "holder.log", "ab") as log:
            self.holder = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": fakevz.CT_PATH_TAIL},
                cwd=self.dir,
            )
        self.sshd_pid = self._wait_holder()["sshd_pid"]
        self.wait_sshd()

    def _wait_holder(self) -> dict:
        deadline = time.monotonic() + 10
        while True:
            if self.holder is not None and self.holder.poll() is not None:
                raise LabError(f"holder of {self.name} died: {_tail(self.dir / 'holder.log')}")
            with contextlib.suppress(OSError):
                return _holder_call(self.socket_name, {"op": "status"}, 5)
            if time.monotonic() > deadline:
                raise LabError(f"holder of {self.name} not ready: {_tail(self.dir / 'holder.log')}")
            time.sleep(0.02)

    def wait_sshd(self, timeout: float = 5.0) -> None:
        """Wait until the node's sshd accepts TCP connections."""
        if not fakevz.wait_for(lambda: port_accepts(self.port), timeout, 0.01):
            raise LabError(
                f"sshd of {self.name} not listening on {self.port}: {_tail(self.dir / 'sshd.log')}"
            )

    def restart_sshd(self) -> None:
        """Restart the node's sshd (same port and config, re-reads the host key)."""
        reply = self._call({"op": "restart-sshd"}, 20)
        self.sshd_pid = reply["sshd_pid"]
        self.wait_sshd()

    def _call(self, request: dict, timeout: float) -> dict:
        reply = _holder_call(self.socket_name, request, timeout)
        if not reply.get("ok"):
            raise LabError(f"holder of {self.name}: {reply.get('error')}")
        return reply

    @property
    def ns_pid(self) -> int | None:
        """Pid of the holder: first process of the node's mount/UTS namespaces."""
        return self.holder.pid if self.holder is not None else None

    # ----- running things inside the node
    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes = b"",
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` inside the node's mount namespace (as the holder's child)."""
        request = {
            "op": "run",
            "argv": list(argv),
            "stdin": base64.b64encode(input).decode(),
            "timeout": timeout,
            "env": {"FAKEHOST": str(self.dir), fakevz.LAB_TOKEN_ENV: self.lab.token, **(env or {})},
        }
        reply = self._call(request, timeout + 10)
        if reply["timed_out"]:
            raise LabError(f"{shlex.join(argv)} on {self.name} timed out after {timeout} s")
        return subprocess.CompletedProcess(
            list(argv), reply["rc"], base64.b64decode(reply["stdout"]), base64.b64decode(reply["stderr"])
        )

    def _lab_op(
        self, *args: str, input: bytes = b"", check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [*FAKEVZ_MODULE, str(self.dir), "fakevz-lab", *args]
        result = self.run(argv, input=input, timeout=60)
        if check and result.returncode != 0:
            raise LabError(
                f"fakevz-lab {' '.join(args)} on {self.name} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result

    # ----- containers
    def add_container(
        self,
        ctid: str,
        conf: str | None = None,
        running: bool = True,
        java: Iterable[JavaSpec] = (),
        private_files: dict[str, str | bytes] | None = None,
        ip: str | None = None,
        services: Iterable[fakevz.ServiceSpec] = (),
    ) -> Container:
        """Create a container: CTID.conf (default: ``default_conf``), its private area with
        ``private_files``, what it runs; started at once when ``running``."""
        ctid = str(ctid)
        if not ctid.isdigit() or int(ctid) <= 0:
            raise ValueError(f"CTID must be a positive number, not {ctid!r}")
        address = fakevz.lab_ip(ip) if ip else None
        self.write_conf(ctid, conf if conf is not None else fakevz.default_conf(ctid, ip=address))
        self._write_private(ctid, private_files or {})
        meta = {"java": [spec.to_json() for spec in java],
                "services": [service.to_json() for service in services], "ip": address}
        self._lab_op("register", ctid, input=json.dumps(meta).encode())
        container = Container(self, ctid, address)
        if running:
            self.start_container(ctid)
        return container

    def add_stopped_containers(self, ctids: Iterable[str]) -> None:
        """Many stopped containers at once (default_conf, an empty root filesystem): what
        the benchmarks need of a fleet, in one call instead of two per container."""
        items = []
        for ctid in map(str, ctids):
            if not ctid.isdigit() or int(ctid) <= 0:
                raise ValueError(f"CTID must be a positive number, not {ctid!r}")
            self._write_private(ctid, {})
            items.append({"ctid": ctid, "conf": fakevz.default_conf(ctid)})
        self._lab_op("add-many", input=json.dumps(items).encode())

    def _write_private(self, ctid: str, files: dict[str, str | bytes]) -> None:
        root = self.private_dir(ctid)
        root.mkdir(parents=True, exist_ok=True)
        for skeleton in ("etc", "usr/bin", "bin"):  # a simfs private area is a root filesystem
            (root / skeleton).mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            path = (root / relative).resolve()
            if root.resolve() not in path.parents:
                raise ValueError(f"private file outside the private area: {relative!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            if content[:2] in ("#!", b"#!") or relative.startswith(("usr/bin/", "bin/", "etc/init.d/")):
                path.chmod(0o755)

    def private_dir(self, ctid: str) -> Path:
        """Host path of ``/var/lib/vz/private/CTID`` on this node."""
        return self.dir / "private" / str(ctid)

    def container(self, ctid: str) -> Container:
        entry = self.state().get("containers", {}).get(str(ctid), {})
        return Container(self, str(ctid), entry.get("ip"))

    def conf_path(self, ctid: str) -> str:
        """Path of CTID.conf inside the node (exists only in the node's namespace)."""
        return str(fakevz.CONF_DIR / f"{ctid}.conf")

    def write_conf(self, ctid: str, text: str | bytes) -> None:
        """Write /etc/vz/conf/CTID.conf through the node's namespace (tmp + rename)."""
        data = text.encode() if isinstance(text, str) else text
        self._lab_op("write-conf", str(ctid), input=data)

    def read_conf(self, ctid: str) -> str:
        """/etc/vz/conf/CTID.conf as the node sees it."""
        return self._lab_op("read-conf", str(ctid)).stdout.decode()

    def read_conf_bytes(self, ctid: str) -> bytes:
        return self._lab_op("read-conf", str(ctid)).stdout

    def has_conf(self, ctid: str) -> bool:
        return self._lab_op("read-conf", str(ctid), check=False).returncode == 0

    def start_container(self, ctid: str) -> None:
        """Start a container as ``vzctl start`` would (without touching CTID.conf)."""
        self._lab_op("start", str(ctid))

    def stop_container(self, ctid: str) -> None:
        """Stop a container (SIGKILL to its PID 1) as ``vzctl stop`` would."""
        self._lab_op("stop", str(ctid))

    # ----- observation
    def slow_vzmigrate(self, seconds: float) -> None:
        """vzmigrate from this node spends ``seconds`` syncing the private area (0: not)."""
        path = self.dir / fakevz.SLOW_SYNC_FILE
        if seconds:
            path.write_text(str(seconds))
        else:
            path.unlink(missing_ok=True)

    def commands(self) -> list[list[str]]:
        """argv of every shim invocation on this node, in order (first item: the tool)."""
        path = self.dir / "commands.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def state(self) -> dict:
        """The node's state.json (containers: status, pid1, seen_cpus, programs…)."""
        try:
            return json.loads((self.dir / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {"containers": {}}

    # ----- teardown
    def stop_everything(self) -> None:
        """Stop every container (SIGKILL to PID 1s) and remove their veths."""
        if self.holder is not None and self.holder.poll() is None:
            self._lab_op("cleanup")

    def shutdown(self) -> None:
        """Stop the holder (it stops sshd and reaps what is left); bounded."""
        holder, self.holder = self.holder, None
        if holder is None:
            return
        if holder.poll() is None:
            with contextlib.suppress(OSError, LabError, ValueError):
                _holder_call(self.socket_name, {"op": "shutdown"}, 5)
            try:
                holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait(timeout=5)
        self.sshd_pid = None


def _python_free_bin(farm: Path) -> Path:
    """One directory of links to every command of the system's bin directories but Python
    and its tools: the PATH of the lab's nodes and containers (a lenny or Proxmox VE 1.x
    node has no Python 3; whatever havengate runs there must not need one)."""
    farm.mkdir(exist_ok=True)
    for directory in fakevz.CT_PATH_TAIL.split(":"):
        for entry in sorted(Path(directory).iterdir()):
            link = farm / entry.name
            if PYTHON_RE.match(entry.name) or link.is_symlink() or not os.access(entry, os.X_OK):
                continue
            link.symlink_to(entry)
    return farm


PYTHON_RE = re.compile(r"^(python|pypy|pydoc|pip|py3|idle)")


# --------------------------------------------------------------------------- the lab


class Lab:
    """A set of fake OpenVZ nodes, the SSH client files to reach them, and their teardown."""

    def __init__(self, base: Path) -> None:
        base = Path(base).resolve()
        if not SAFE_PATH_RE.match(str(base)):
            raise ValueError(f"lab base path must match {SAFE_PATH_RE.pattern}: {base}")
        self.base = base
        self.token = secrets.token_hex(8)
        self.nodes: dict[str, Node] = {}
        self._ports: set[int] = set()
        self._closed = False
        base.mkdir(parents=True, exist_ok=True)
        self.client_key = base / "id_ed25519"
        self.authorized_keys = base / "authorized_keys"
        self.known_hosts = base / "known_hosts"
        self.ssh_config = base / "ssh_config"
        _run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "havengate-lab", "-f", str(self.client_key)]
        )
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        self.known_hosts.write_text("")
        self.ssh_config.write_text("# havengate test lab\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.sysbin = _python_free_bin(base / "sysbin")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- nodes and aliases
    def add_node(
        self,
        name: str = "master",
        kernel: str = "2.6.24-12-pve",
        cpus: int = 4,
        vzctl_version: str = "3.0.24",
        vzctl_quirk: str | None = None,
    ) -> Node:
        """Start a node (sshd on a free 127.0.0.1 port) and add ``Host name`` to ssh_config."""
        if self._closed:
            raise LabError("lab is closed")
        if _check_name("node", name) in self.nodes:
            raise ValueError(f"node {name} exists already")
        node = Node(self, name, kernel, cpus, vzctl_version, vzctl_quirk)
        self.nodes[name] = node  # registered first so close() cleans up a half-started node
        node.start()
        self._add_alias(name, node.port)
        self.trust_host_key(node)
        return node

    def _add_alias(self, name: str, port: int) -> None:
        entry = (
            f"\nHost {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
            f"  IdentityFile {self.client_key}\n  UserKnownHostsFile {self.known_hosts}\n"
            "  IdentitiesOnly yes\n"
        )
        with open(self.ssh_config, "a") as config:
            config.write(entry)

    def add_master_and_slave(self) -> tuple[Node, Node]:
        """The usual pair: ``master`` (2.6.24-12-pve, vzctl 3.0.24) and ``slave``
        (2.6.32-042stab134.8, vzctl 4.9.4), 4 CPUs each."""
        return (self.add_node("master", kernel="2.6.24-12-pve", cpus=4, vzctl_version="3.0.24"),
                self.add_node("slave", kernel="2.6.32-042stab134.8", cpus=4,
                              vzctl_version="4.9.4"))

    def add_dead_alias(self, name: str) -> str:
        """An ssh_config alias for a 127.0.0.1 port where nothing listens."""
        _check_name("alias", name)
        self._add_alias(name, self.allocate_port())
        return name

    def allocate_port(self) -> int:
        """A free port never handed out before by this lab (a dead alias stays dead)."""
        port = free_port(avoid=self._ports)
        self._ports.add(port)
        return port

    def trust_host_key(self, node: Node) -> None:
        """(Re)write the node's known_hosts line from its current host key."""
        key_type, key_data = (node.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        host = f"[127.0.0.1]:{node.port}"
        lines = [
            line for line in self.known_hosts.read_text().splitlines() if not line.startswith(host + " ")
        ]
        lines.append(f"{host} {key_type} {key_data}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def replace_host_key(self, node: Node) -> None:
        """New host key for the node, sshd restarted: known_hosts no longer matches it."""
        key = node.dir / "ssh_host_ed25519_key"
        key.unlink()
        key.with_suffix(".pub").unlink()
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{node.name}-new", "-f", str(key)])
        node.restart_sshd()

    # ----- ssh from the test
    def ssh_argv(self, alias: str, command: str, options: Sequence[str] = ()) -> list[str]:
        """OpenSSH client argv for ``command`` (a shell string, as ssh sends it) on ``alias``."""
        return ["ssh", "-F", str(self.ssh_config), *SSH_OPTIONS, *options, alias, command]

    def ssh(
        self,
        alias: str,
        command: str,
        *,
        input: str | None = None,
        timeout: float = 30,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``alias`` with the real ssh client (BatchMode=yes)."""
        return subprocess.run(
            self.ssh_argv(alias, command, options),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    # ----- teardown
    def close(self) -> None:
        """Stop every container, JVM, sshd and holder the lab started; remove its veths.

        Safe after a partial setup and idempotent. Raises LabError at the end if some step
        failed (after still doing all the others)."""
        if self._closed:
            return
        self._closed = True
        problems: list[str] = []
        for node in reversed(list(self.nodes.values())):
            try:
                node.stop_everything()
            except (LabError, OSError, subprocess.SubprocessError) as error:
                problems.append(f"{node.name}: {error}")
        self._kill_tokened()
        for node in reversed(list(self.nodes.values())):
            try:
                node.shutdown()
            except (OSError, subprocess.SubprocessError) as error:
                problems.append(f"{node.name} holder: {error}")
        problems += self._remove_links()
        left = self._kill_tokened()
        if left:
            problems.append(f"processes still alive after close: {left}")
        if problems:
            raise LabError("lab teardown: " + "; ".join(problems))

    def _kill_tokened(self) -> list[int]:
        """SIGKILL every process that carries this lab's token; wait (bounded) for them."""
        victims = _processes_with_token(self.token)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        fakevz.wait_for(lambda: not [p for p in victims if fakevz.proc_start_time(p) is not None], 5.0, 0.02)
        return [p for p in victims if fakevz.proc_start_time(p) is not None]

    def _remove_links(self) -> list[str]:
        """Delete veths named after this lab's token that are still around."""
        prefix = f"hv{self.token[:7]}"
        problems = []
        for link in Path("/sys/class/net").iterdir():
            if link.name.startswith(prefix):
                try:
                    _run(["ip", "link", "del", link.name])
                except LabError as error:
                    problems.append(str(error))
        return problems
