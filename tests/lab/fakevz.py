"""The fake OpenVZ node tools of the havengate test lab, in one file.

Every shim in ``<node>/bin`` (``uname``, ``nproc``, ``vzctl``, ``vzlist``, ``vzmigrate``) is a
two-line ``sh`` wrapper that execs this file with the lab's Python, so the behaviour of a
fake node lives in one place. The formats, messages and exit codes follow vzctl's own
source (``kolyshkin/vzctl`` at the tags named below) and ``reference/openvz.md``; where the
lab simplifies, the docstring says so.

The *lab rule* (which CPUs a container sees, and when its JVM hangs) is kept here, in the
lab, never in havengate: the tool is tested against behaviour, not against its own model.

This file runs as a script inside a node's mount namespace (through sshd, or through the
node's holder for the lab's own calls). It uses the standard library only, and is also
importable as ``lab.fakevz`` so the lab shares its data model (``JavaSpec``) and rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import getopt
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

CONF_DIR = Path("/etc/vz/conf")
GLOBAL_CONF = Path("/etc/vz/vz.conf")
LAB_TOKEN_ENV = "HAVENGATE_LAB_TOKEN"
SLOW_SYNC_FILE = "vzmigrate-sync-seconds"
CT_PATH_TAIL = "/usr/sbin:/usr/bin:/sbin:/bin"
LAB_NET = ipaddress.ip_network("10.200.0.0/16")
GATEWAY = "10.200.255.254"  # the node side of every container's veth

# vzctl exit codes (include/vzerror.h)
VZ_SYSTEM_ERROR = 3
VZ_ENVCREATE_ERROR = 7
VZ_COMMAND_EXECUTION_ERROR = 8
VZ_LOCKED = 9
VZ_NOVECONFIG = 14
VZ_INVALID_PARAMETER_SYNTAX = 20
VZ_INVALID_PARAMETER_VALUE = 21
VZ_VE_NOT_RUNNING = 31
VZ_VE_RUNNING = 32
VZ_FS_NOPRVT = 43
VZ_IP_INUSE = 78
VZ_CONFIG_SAVE_ERROR = 139

# vzmigrate exit codes (bin/vzmigrate.in, MIG_ERR_*)
MIG_ERR_USAGE = 1
MIG_ERR_CANT_CONNECT = 4
MIG_ERR_COPY = 6
MIG_ERR_START_VPS = 7
MIG_ERR_STOP_SOURCE = 8
MIG_ERR_EXISTS = 9
MIG_ERR_NOEXIST = 10
MIG_ERR_OVZ_NOT_RUNNING = 14

JAVA_MODES = ("normal", "hang", "exit", "port_override")
# JDK 17 refuses flags it no longer knows (-XX:+AssumeMP); the lab still wants them on the
# command line, where havengate looks for them, as a JDK 8 would take them. The lab's JVMs
# get -XX:+IgnoreUnrecognizedVMOptions from an options file, so their argv stays what a
# JDK 8 deployment shows (havengate rightly distrusts AssumeMP next to that flag).
JVM_OPTIONS_FILE_TEXT = "-XX:+IgnoreUnrecognizedVMOptions\n"
JVM_BASE_FLAGS = (
    "-Xmx32m",
    "-Xss256k",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
)


class ToolExit(Exception):
    """Ends a fake tool with an exit status (messages were printed already)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --------------------------------------------------------------------------- data model


@dataclass
class JavaSpec:
    """One Java program a container runs when it starts.

    ``mode``: ``normal`` opens ``ports`` and answers ``HTTP/1.0 200 OK``; ``hang`` starts,
    loops in timed waits and never opens a port (ignores SIGTERM); ``exit`` exits 1 at
    once; ``port_override`` listens on ``port_override`` (default: each port + 1) instead of
    the baseline ``ports``. The lab's hang rule overrides the mode (see ``jvm_hangs``).
    ``bind``: ``*`` (wildcard, shows as ``::`` in tcp6), ``0.0.0.0`` (IPv4 socket, shows in
    /proc/net/tcp), ``127.0.0.1``, ``::`` or any address of the container.
    """

    ports: list[int] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    bind: str = "*"
    delay: float = 0.0
    mode: str = "normal"
    port_override: list[int] | None = None
    name: str = "app"
    # Share of one CPU the program burns: while it starts (``delay`` seconds, a slow
    # starter), or, hung, in a metrics thread that keeps working (a hung JVM is not idle).
    busy: float = 0.0
    # None: the lab's hang rule decides; False: this program never hangs (the bug does not
    # strike every JVM), whatever the rule says.
    hangs: bool | None = None

    def __post_init__(self) -> None:
        if self.mode not in JAVA_MODES:
            raise ValueError(f"JavaSpec.mode must be one of {JAVA_MODES}, not {self.mode!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"JavaSpec.name must be a plain word, not {self.name!r}")
        self.ports = [int(p) for p in self.ports]
        self.flags = [str(f) for f in self.flags]
        if self.port_override is not None:
            self.port_override = [int(p) for p in self.port_override]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> JavaSpec:
        return cls(**data)

    def listen_ports(self) -> list[int]:
        """The ports the program really opens when it runs normally."""
        if self.mode != "port_override":
            return list(self.ports)
        if self.port_override is not None:
            return list(self.port_override)
        return [p + 1 for p in self.ports]


@dataclass(frozen=True)
class VzVersion:
    """A vzctl version and the behaviour that depends on it (tags of kolyshkin/vzctl)."""

    text: str

    @property
    def parts(self) -> tuple[int, ...]:
        nums = [int(n) for n in re.findall(r"\d+", self.text)[:4]]
        return tuple(nums + [0] * (4 - len(nums)))

    def at_least(self, *version: int) -> bool:
        return self.parts >= tuple(list(version) + [0] * (4 - len(version)))

    @property
    def id_word(self) -> str:
        """``vzctl status`` and vzlist's header say VEID up to 3.0.22, CTID from 3.0.23."""
        return "CTID" if self.at_least(3, 0, 23) else "VEID"

    @property
    def has_cpumask(self) -> bool:
        return self.at_least(3, 0, 26)

    @property
    def cpumask_bits(self) -> int:
        return 4096 if self.at_least(4, 7) else 1024

    @property
    def has_vzlist_cpus(self) -> bool:
        return self.at_least(3, 0, 30)

    @property
    def has_vzlist_private(self) -> bool:
        """vzlist's ``private`` and ``root`` fields arrived in 3.2 (commit 46527d3a)."""
        return self.at_least(3, 2)

    @property
    def has_json(self) -> bool:
        return self.at_least(4, 0)

    @property
    def new_messages(self) -> bool:
        """3.1 brought "CT configuration saved to …" and the stricter quote parser."""
        return self.at_least(3, 1)

    @property
    def saves_layout_on_start(self) -> bool:
        """4.9.4 appends VE_LAYOUT to CTID.conf on start when it is missing (22d967c3)."""
        return self.at_least(4, 9, 4)


# --------------------------------------------------------------------------- CTID.conf


def _unquote(value: str) -> str:
    """vzctl >= 3.1: a value starting with '"' ends at the last '"' of the line."""
    if value.startswith('"'):
        end = value.rfind('"')
        return value[1:end] if end > 0 else value[1:]
    return value


def parse_conf(text: str) -> dict[str, str]:
    """CTID.conf as vzctl reads it: first occurrence wins, IP_ADDRESS accumulates."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.replace("\\\\", "\0").replace("\\", "").replace("\0", "\\").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = _unquote(value)
        if key == "IP_ADDRESS" and key in values:
            values[key] = f"{values[key]} {value}".strip()
        elif key not in values:
            values[key] = value
    return values


def save_conf_values(text: str, updates: Sequence[tuple[str, str]]) -> str:
    """The file after ``vzctl set … --save``: vps_merge_conf()/write_conf() of vzctl.

    The first line that starts exactly with ``KEY=`` becomes ``KEY="value"``; a key with no
    such line is appended. Every other line is kept; a last line without a newline gets one.
    """
    lines = text.splitlines(keepends=True)
    for key, value in updates:
        new = f'{key}="{value}"'
        for index, line in enumerate(lines):
            if line.startswith(f"{key}="):
                lines[index] = new
                break
        else:
            lines.append(new)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def expand_veid(path: str, ctid: str) -> str:
    """subst_VEID(): the first ``$VEID``/``${VEID}`` becomes the CTID; trailing '/' dropped."""
    for token in ("${VEID}", "$VEID"):
        if token in path:
            path = path.replace(token, ctid, 1)
            break
    return path.rstrip("/") or path


CPUMASK_RE = re.compile(r"^(all|\d+(-\d+)?(,\d+(-\d+)?)*,?)$")


def parse_cpumask(value: str, nbits: int) -> list[tuple[int, int]] | None:
    """bitmap_parse(): ranges of a CPUMASK, None for ``all``; ValueError when vzctl refuses it."""
    if not CPUMASK_RE.match(value):
        raise ValueError(value)
    if value == "all":
        return None
    ranges = []
    for item in filter(None, value.split(",")):
        first, _, last = item.partition("-")
        low, high = int(first), int(last or first)
        if low > high or high >= nbits:
            raise ValueError(value)
        ranges.append((low, high))
    return ranges


def canonical_cpumask(ranges: list[tuple[int, int]] | None, nbits: int) -> tuple[str, str]:
    """(what ``Setting CPU mask:`` prints, what --save stores): bitmap_snprintf / 'all'."""
    bits = set(range(nbits)) if ranges is None else {b for lo, hi in ranges for b in range(lo, hi + 1)}
    parts: list[str] = []
    run: list[int] = []
    for bit in sorted(bits):
        if run and bit != run[-1] + 1:
            parts.append(_range_text(run))
            run = []
        run.append(bit)
    if run:
        parts.append(_range_text(run))
    shown = ",".join(parts)
    return shown, "all" if len(bits) == nbits else shown


def _range_text(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def cpumask_width(mask: str | None) -> int | None:
    """How many CPUs a CPUMASK names; None when unset, empty or ``all``."""
    if not mask:
        return None
    try:
        ranges = parse_cpumask(mask, 1 << 16)
    except ValueError:
        return None
    if ranges is None:
        return None
    return len({b for lo, hi in ranges for b in range(lo, hi + 1)})


def parse_cpus(value: str | None) -> int | None:
    """CPUS as conf_parse_ulong() takes it; None when unset or not a number."""
    if value is None or not value.isdigit():
        return None
    return int(value)


# --------------------------------------------------------------------------- the lab rule


def kernel_regime(kernel: str) -> str:
    """``2.6.24`` (all host CPUs visible), ``2.6.18`` (vsched VCPUs) or ``2.6.32`` (and later)."""
    if kernel.startswith("2.6.24"):
        return "2.6.24"
    if kernel.startswith("2.6.18"):
        return "2.6.18"
    return "2.6.32"


def visible_cpus(kernel: str, node_cpus: int, cpus: int | None) -> int:
    """The CPUs a container sees (nproc, /proc/cpuinfo, the JVM) on this node."""
    regime = kernel_regime(kernel)
    if regime == "2.6.24" or not cpus:
        return node_cpus
    if regime == "2.6.32":
        return min(cpus, node_cpus)
    return cpus


def assumes_mp(flags: Sequence[str]) -> bool:
    """The last ``-XX:[+-]AssumeMP`` on the JVM's command line wins."""
    setting = False
    for flag in flags:
        if flag in ("-XX:+AssumeMP", "-XX:-AssumeMP"):
            setting = flag == "-XX:+AssumeMP"
    return setting


def jvm_hangs(kernel: str, node_cpus: int, seen: int, cpumask: str | None, flags: Sequence[str]) -> bool:
    """The lab's model of OpenVZ bug 2206: a JVM that sees one CPU of a multi-core 2.6.32
    node while its threads may still run on several CPUs, without -XX:+AssumeMP."""
    return (
        kernel_regime(kernel) == "2.6.32"
        and node_cpus > 1
        and seen == 1
        and cpumask_width(cpumask) != 1
        and not assumes_mp(flags)
    )


@dataclass
class ServiceSpec:
    """A program that is not Java (nginx, a mail server): it listens on ``ports`` under its
    own name, as /proc shows it (the name of the file it runs)."""

    name: str
    ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,14}", self.name) or self.name.startswith("java"):
            raise ValueError(f"ServiceSpec.name must be a short plain name, not {self.name!r}")
        self.ports = [int(p) for p in self.ports]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ServiceSpec:
        return cls(**data)


SERVICE_CODE = (
    "import socket,sys,threading\n"
    "def serve(s):\n"
    "    while True:\n"
    "        c,_=s.accept(); c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n');"
    " c.close()\n"
    "for p in sys.argv[1:]:\n"
    "    s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "    s.bind(('::',int(p))); s.listen(16); threading.Thread(target=serve,args=(s,)).start()\n"
)


def start_service(node: FakeNode, ctid: str, pid1: int, service: ServiceSpec) -> int:
    """Start a non-Java listener in the container, named as the service (a link to the lab's
    Python interpreter called ``nginx`` runs as ``nginx`` in /proc)."""
    program = node.root / "services" / service.name
    program.parent.mkdir(exist_ok=True)
    if not program.exists():
        program.symlink_to(sys.executable)
    with open(node.root / "logs" / f"ct{ctid}-{service.name}.log", "ab") as log:
        process = subprocess.Popen(
            ["nsenter", "-t", str(pid1), "-n", "-p", "-m", "-u", "--", str(program), "-I", "-S",
             "-c", SERVICE_CODE, *map(str, service.ports)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    return process.pid


def effective_mode(spec: JavaSpec, hangs: bool) -> str:
    """``hang`` whenever the rule says so (unless the spec is immune), else its own mode."""
    if hangs and spec.hangs is not False:
        return "hang"
    return "normal" if spec.mode == "port_override" else spec.mode


def default_conf(
    ctid: str,
    *,
    cpus: int | None = None,
    cpumask: str | None = None,
    hostname: str | None = None,
    ip: str | None = None,
    layout: bool = True,
) -> str:
    """A CTID.conf as vzctl 3.x/4.x would have written it (vswap sample), for lab containers."""
    lines = [
        "# Lab container configuration (vswap-256m sample)",
        'ONBOOT="yes"',
        'PHYSPAGES="0:262144"',
        'SWAPPAGES="0:131072"',
        'DISKSPACE="4194304:4613734"',
        'DISKINODES="800000:880000"',
        'QUOTATIME="0"',
        'CPUUNITS="1000"',
    ]
    if cpus is not None:
        lines.append(f'CPUS="{cpus}"')
    if cpumask is not None:
        lines.append(f'CPUMASK="{cpumask}"')
    lines += [
        'VE_ROOT="/var/lib/vz/root/$VEID"',
        'VE_PRIVATE="/var/lib/vz/private/$VEID"',
        'OSTEMPLATE="debian-6.0-x86_64"',
        'ORIGIN_SAMPLE="vswap-256m"',
        f'HOSTNAME="{hostname or f"ct{ctid}.lab"}"',
    ]
    if ip is not None:
        lines.append(f'IP_ADDRESS="{ip}"')
    if layout:
        lines.append('VE_LAYOUT="simfs"')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- processes


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: tells a live process from a recycled pid; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def proc_children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for(predicate, timeout: float, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed (every wait is bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_in_namespace(pid1: int) -> list[int]:
    """Host pids of the processes in the pid namespace whose PID 1 is ``pid1``."""
    target = pid_namespace(pid1)
    if target is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_namespace(int(entry.name)) == target:
            found.append(int(entry.name))
    return sorted(found)


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN (0A) in the network namespace of ``pid`` (tcp and tcp6)."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def run_checked(argv: Sequence[str], timeout: float = 10) -> None:
    """Run a helper (ip, mount) and fail loudly with its stderr."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")


# --------------------------------------------------------------------------- the node


class FakeNode:
    """A lab node seen from inside its mount namespace: static facts, state, CTID.conf files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = json.loads((root / "node.json").read_text())
        self.kernel: str = self.info["kernel"]
        self.cpus: int = int(self.info["cpus"])
        self.version = VzVersion(self.info["vzctl_version"])
        self.quirk: str | None = self.info.get("vzctl_quirk")
        self.token: str = self.info["token"]
        self.path_tail: str = self.info.get("path_tail", CT_PATH_TAIL)  # Python-free PATH
        self.quiet = False

    # ----- output, like vzctl's logger(): level 0 to stdout, errors to stderr
    @contextlib.contextmanager
    def silenced(self) -> Iterator[FakeNode]:
        """Hide informational messages of nested steps (vzmigrate's own vzctl calls)."""
        before, self.quiet = self.quiet, True
        try:
            yield self
        finally:
            self.quiet = before

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    @staticmethod
    def error(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # ----- state
    @contextlib.contextmanager
    def locked_state(self, timeout: float = 10.0) -> Iterator[dict]:
        """Exclusive access to state.json; ``Container already locked`` (exit 9) on timeout."""
        with open(self.root / "state.lock", "a+") as lock:
            if not wait_for(lambda: _try_flock(lock.fileno()), timeout, 0.02):
                self.error("Container already locked")
                raise ToolExit(VZ_LOCKED)
            state = self.read_state()
            yield state
            tmp = self.root / "state.json.tmp"
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            os.replace(tmp, self.root / "state.json")
            self.write_pid1_files(state)

    def write_pid1_files(self, state: dict) -> None:
        """``ct/CTID/pid1`` ("PID START") for each container the state has running, and
        none for the others: what shim.sh's exec2 reads, sh having no JSON parser."""
        running = {ctid: entry for ctid, entry in state.get("containers", {}).items()
                   if entry.get("pid1") and entry.get("pid1_start")}
        for path in (self.root / "ct").glob("*/pid1"):
            if path.parent.name not in running:
                path.unlink(missing_ok=True)
        for ctid, entry in running.items():
            path = self.ct_dir(ctid) / "pid1"
            text = f"{entry['pid1']} {entry['pid1_start']}\n"
            with contextlib.suppress(FileNotFoundError):
                if path.read_text() == text:
                    continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("pid1.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)

    def read_state(self) -> dict:
        try:
            return json.loads((self.root / "state.json").read_text())
        except FileNotFoundError:
            return {"containers": {}}

    # ----- CTID.conf
    @staticmethod
    def conf_path(ctid: str) -> Path:
        return CONF_DIR / f"{ctid}.conf"

    def conf_text(self, ctid: str) -> str | None:
        try:
            return self.conf_path(ctid).read_text(errors="replace")  # vzctl reads bytes
        except FileNotFoundError:
            return None

    def conf_values(self, ctid: str) -> dict[str, str] | None:
        text = self.conf_text(ctid)
        return None if text is None else parse_conf(text)

    @staticmethod
    def write_conf_atomic(ctid: str, data: bytes) -> None:
        """Write CTID.conf as vzctl does: CTID.conf.tmp, then rename."""
        path = FakeNode.conf_path(ctid)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def list_ctids(self) -> list[str]:
        """Containers that exist: ``N.conf`` files, as vzlist's ``%d.%5s`` scan finds them."""
        found = []
        for path in CONF_DIR.glob("*.conf"):
            stem = path.name[: -len(".conf")]
            if stem.isdigit() and int(stem) > 0:
                found.append(stem)
        return sorted(found, key=int)

    def area(self, ctid: str, key: str, values: dict[str, str] | None = None) -> str | None:
        """VE_PRIVATE / VE_ROOT of a container, ``$VEID`` expanded (CT conf, then vz.conf)."""
        values = values if values is not None else (self.conf_values(ctid) or {})
        raw = values.get(key)
        if raw is None:
            with contextlib.suppress(OSError):
                raw = parse_conf(GLOBAL_CONF.read_text()).get(key)
        return None if raw is None else expand_veid(raw, ctid)

    def exists(self, ctid: str) -> bool:
        """vzctl's ``exist``: the conf and the private area are both there."""
        if not self.conf_path(ctid).exists():
            return False
        private = self.area(ctid, "VE_PRIVATE")
        return private is not None and Path(private).is_dir()

    # ----- containers
    def ct_entry(self, state: dict, ctid: str) -> dict:
        return state.setdefault("containers", {}).setdefault(ctid, {"java": [], "ip": None})

    @staticmethod
    def is_running(entry: dict | None) -> bool:
        if not entry or not entry.get("pid1"):
            return False
        return proc_start_time(entry["pid1"]) == entry.get("pid1_start")

    def running(self, ctid: str) -> dict | None:
        entry = self.read_state().get("containers", {}).get(ctid)
        return entry if self.is_running(entry) else None

    def ct_dir(self, ctid: str) -> Path:
        return self.root / "ct" / ctid


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# --------------------------------------------------------------------------- container runtime


def cpuinfo_for(count: int, template: str) -> str:
    """/proc/cpuinfo with ``count`` processors, built from the first block of ``template``."""
    block = template.strip().split("\n\n")[0]
    blocks = []
    for index in range(count):
        text = re.sub(r"(?m)^(processor|core id|apicid|initial apicid)(\s*):.*$", rf"\1\2: {index}", block)
        text = re.sub(r"(?m)^(siblings|cpu cores)(\s*):.*$", rf"\1\2: {count}", text)
        blocks.append(text)
    return "\n\n".join(blocks) + "\n\n"


def write_in_place(path: Path, text: str) -> None:
    """Rewrite a file keeping its inode, so a bind mount of it shows the new content."""
    with open(path, "a+") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text)


def write_visibility(node: FakeNode, ctid: str, seen: int) -> Path:
    """The per-container ``nproc``/``getconf`` shims and /proc/cpuinfo for ``seen`` CPUs."""
    ctdir = node.ct_dir(ctid)
    bindir = ctdir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (ctdir / "cpus").write_text(f"{seen}\n")
    count_file = shlex.quote(str(ctdir / "cpus"))
    scripts = {
        "nproc": f"#!/bin/sh\n# lab: the CPUs this container sees\nexec cat {count_file}\n",
        "getconf": (
            "#!/bin/sh\n# lab: processor counts as this container sees them\n"
            'case "$1" in _NPROCESSORS_ONLN|_NPROCESSORS_CONF|NPROCESSORS_ONLN|NPROCESSORS_CONF)'
            f" exec cat {count_file};; esac\n"
            'exec /usr/bin/getconf "$@"\n'
        ),
    }
    for name, text in scripts.items():
        path = bindir / name
        path.write_text(text)
        path.chmod(0o755)
    cpuinfo = ctdir / "cpuinfo"
    write_in_place(cpuinfo, cpuinfo_for(seen, (node.root / "cpuinfo.template").read_text()))
    return cpuinfo


def container_env(node: FakeNode, ctid: str) -> dict[str, str]:
    """The environment of commands run inside a container (vzctl exec: HOME=/, TERM=linux)."""
    return {
        "PATH": f"{node.ct_dir(ctid) / 'bin'}:{node.path_tail}",
        "HOME": "/",
        "TERM": "linux",
        LAB_TOKEN_ENV: node.token,
    }


def spawn_container(node: FakeNode, ctid: str, hostname: str, cpuinfo: Path) -> tuple[int, int, int]:
    """Start PID 1 of a container; returns (unshare pid, PID 1's host pid, its start time).

    The unshare parent outlives this process; the node's holder (a child subreaper)
    adopts and reaps it when the container stops."""
    script = "; ".join(
        [
            f"hostname {shlex.quote(hostname)}",
            "ip link set lo up",
            f"mount --bind {shlex.quote(str(cpuinfo))} /proc/cpuinfo",
            "exec sleep infinity",
        ]
    )
    argv = ["unshare", "--net", "--pid", "--uts", "--mount", "--fork", "--mount-proc", "--kill-child"]
    with open(node.root / "logs" / f"ct{ctid}-init.log", "ab") as log:
        parent = subprocess.Popen(
            [*argv, "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            env={"PATH": node.path_tail, LAB_TOKEN_ENV: node.token},
            cwd="/",
        )
    pid1 = _wait_pid1(parent.pid)
    start = proc_start_time(pid1) if pid1 else None
    if pid1 is None or start is None:
        parent.kill()
        raise RuntimeError(f"container {ctid} did not come up (see logs/ct{ctid}-init.log)")
    return parent.pid, pid1, start


def _wait_pid1(unshare_pid: int, timeout: float = 5.0) -> int | None:
    """The child of ``unshare --fork`` once it has exec'd ``sleep`` (its setup is done)."""
    found: list[int] = []

    def ready() -> bool:
        found[:] = proc_children(unshare_pid)
        if not found:
            return False
        with contextlib.suppress(OSError):
            return Path(f"/proc/{found[0]}/comm").read_text().strip() == "sleep"
        return False

    return found[0] if wait_for(ready, timeout) else None


def veth_names(node: FakeNode, ctid: str) -> tuple[str, str]:
    """Host and container ends of a container's veth: ``hv``/``hc`` + token + node + ctid hash."""
    digest = hashlib.sha1(f"{node.info['name']}:{ctid}".encode()).hexdigest()[:6]
    stem = f"{node.token[:7]}{digest}"
    return f"hv{stem}", f"hc{stem}"


def lab_ip(value: str) -> str:
    """A container address the lab may use: only 10.200.0.0/16, never the gateway."""
    address = ipaddress.ip_address(value)
    if address not in LAB_NET or str(address) == GATEWAY:
        raise ValueError(f"lab container addresses must be in {LAB_NET} (got {value})")
    return str(address)


def ip_in_use(address: str) -> bool:
    result = subprocess.run(
        ["ip", "-4", "route", "show", "exact", f"{address}/32"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return bool(result.stdout.strip())


def plumb_network(node: FakeNode, ctid: str, pid1: int, address: str) -> str:
    """A veth pair: the CT's /32 inside its netns, a host route to it in the node's netns."""
    host_end, ct_end = veth_names(node, ctid)
    gateway = GATEWAY
    in_ct = ["nsenter", "-t", str(pid1), "-n", "--", "ip"]
    steps = [
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ct_end],
        ["ip", "link", "set", ct_end, "netns", str(pid1)],
        ["ip", "addr", "add", f"{gateway}/32", "peer", f"{address}/32", "dev", host_end],
        ["ip", "link", "set", host_end, "up"],
        [*in_ct, "link", "set", ct_end, "name", "eth0"],
        [*in_ct, "addr", "add", f"{address}/32", "peer", f"{gateway}/32", "dev", "eth0"],
        [*in_ct, "link", "set", "eth0", "up"],
        [*in_ct, "route", "add", "default", "via", gateway, "dev", "eth0"],
    ]
    try:
        for argv in steps:
            run_checked(argv)
    except (RuntimeError, subprocess.TimeoutExpired):
        remove_link(host_end)
        raise
    return host_end


def remove_link(name: str | None) -> None:
    """Delete a lab veth if it still exists (its peer goes with it). The kernel may be
    tearing it down at the same moment (the container's netns dies with its PID 1)."""
    if not name or not Path(f"/sys/class/net/{name}").exists():
        return
    result = subprocess.run(["ip", "link", "del", name], capture_output=True, text=True,
                            timeout=10, check=False)
    if result.returncode != 0 and Path(f"/sys/class/net/{name}").exists():
        raise RuntimeError(f"ip link del {name}: {result.stderr.strip()}")


def java_argv(node: FakeNode, spec: JavaSpec, seen: int, control: Path, ctid: str) -> list[str]:
    """The JVM command line: real java binary, the spec's flags, the CPUs the CT sees.
    What the program does (mode, ports) is in ``control``, not on the command line."""
    options_file = node.root / "jvm.options"
    if not options_file.exists():
        options_file.write_text(JVM_OPTIONS_FILE_TEXT)
    argv = [node.info["java_bin"], f"-XX:VMOptionsFile={options_file}", *JVM_BASE_FLAGS,
            f"-XX:ActiveProcessorCount={seen}"]
    if spec.bind == "0.0.0.0":
        argv.append("-Djava.net.preferIPv4Stack=true")
    argv += [*spec.flags, f"-Dlab.ctid={ctid}", f"-Dlab.app={spec.name}"]
    return [*argv, "-cp", node.info["java_classpath"], "LabServer", str(control)]


def write_control(node: FakeNode, ctid: str, index: int, spec: JavaSpec, mode: str) -> Path:
    """The LabServer control file of one program."""
    path = node.ct_dir(ctid) / f"program-{index}.ctl"
    ports = ",".join(str(p) for p in spec.listen_ports())
    path.write_text(f"name={spec.name}\nmode={mode}\nbind={spec.bind}\ndelay={spec.delay}\n"
                    f"busy={spec.busy}\nports={ports}\n")
    return path


def start_java(node: FakeNode, ctid: str, pid1: int, index: int, argv: list[str], name: str) -> int:
    """Start one JVM inside the container (nsenter, detached); returns nsenter's pid."""
    with open(node.root / "logs" / f"ct{ctid}-{index}-{name}.log", "ab") as log:
        process = subprocess.Popen(
            ["nsenter", "-t", str(pid1), "-n", "-p", "-m", "-u", "--", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=container_env(node, ctid),
            cwd="/",
        )
    return process.pid


def start_container(node: FakeNode, ctid: str, *, save_layout: bool) -> int:
    """``vzctl start``: checks, then PID 1, network, Java programs. Returns an exit status."""
    values = node.conf_values(ctid)
    if values is not None:
        # vzctl parses vz.conf, then CTID.conf; merge_cpu() keeps a vz.conf CPU value
        # the container's file does not set (kolyshkin/vzctl src/lib/config.c)
        with contextlib.suppress(OSError):
            defaults = parse_conf(GLOBAL_CONF.read_text())
            values = {**{k: v for k, v in defaults.items() if k in ("CPUS", "CPUMASK")}, **values}
    if values is None:
        node.error("Container config file does not exist")
        return VZ_NOVECONFIG
    private = node.area(ctid, "VE_PRIVATE", values)
    if private is None or not Path(private).is_dir():
        node.error(f"Container private area {private} does not exist")
        return VZ_FS_NOPRVT
    with node.locked_state() as state:
        entry = node.ct_entry(state, ctid)
        if node.is_running(entry):
            node.error("Container is already running")
            return VZ_VE_RUNNING
        address = entry.get("ip")
        # The kernel drops a stopped container's veth (and its route) asynchronously, with
        # its netns; real venet does it synchronously. Give the teardown a moment.
        if address and not wait_for(lambda: not ip_in_use(address), 5.0, 0.05):
            node.error(f"IP address {address} is already in use")
            return VZ_IP_INUSE
        node.say("Starting container ..." if not node.version.at_least(4) else "Starting container...")
        _boot(node, ctid, values, entry)
        node.say("Container is mounted")
        if values.get("IP_ADDRESS"):
            node.say(f"Adding IP address(es): {values['IP_ADDRESS']}")
        if values.get("CPUUNITS", "").isdigit():
            node.say(f"Setting CPU units: {values['CPUUNITS']}")
        if parse_cpus(values.get("CPUS")):
            node.say(f"Setting CPUs: {values['CPUS']}")
        node.say("Container start in progress...")
    if save_layout and node.version.saves_layout_on_start and "VE_LAYOUT" not in values:
        node.say("Saving VE layout 'simfs' to the VE config file")
        save_values(node, ctid, [("VE_LAYOUT", "simfs")])
    return 0


def _boot(node: FakeNode, ctid: str, values: dict[str, str], entry: dict) -> None:
    """Bring a container up and record it in ``entry`` (state lock held by the caller)."""
    cpus = parse_cpus(values.get("CPUS"))
    mask = values.get("CPUMASK")
    seen = visible_cpus(node.kernel, node.cpus, cpus)
    cpuinfo = write_visibility(node, ctid, seen)
    hostname = values.get("HOSTNAME") or f"ct{ctid}"
    unshare_pid, pid1, start = spawn_container(node, ctid, hostname, cpuinfo)
    entry.update(status="running", pid1=pid1, pid1_start=start, unshare_pid=unshare_pid)
    entry.update(seen_cpus=seen, cpus=cpus, cpumask=mask, veth=None, programs=[])
    try:
        if entry.get("ip"):
            entry["veth"] = plumb_network(node, ctid, pid1, entry["ip"])
        for index, raw in enumerate(entry.get("java", [])):
            spec = JavaSpec.from_json(raw)
            hangs = jvm_hangs(node.kernel, node.cpus, seen, mask, spec.flags)
            mode = effective_mode(spec, hangs)
            argv = java_argv(node, spec, seen, write_control(node, ctid, index, spec, mode), ctid)
            launcher = start_java(node, ctid, pid1, index, argv, spec.name)
            entry["programs"].append({"name": spec.name, "mode": mode, "launcher_pid": launcher})
        for raw in entry.get("services", []):
            service = ServiceSpec.from_json(raw)
            launcher = start_service(node, ctid, pid1, service)
            entry["programs"].append({"name": service.name, "mode": "service",
                                      "launcher_pid": launcher})
    except Exception:
        kill_container(entry)
        raise


def kill_container(entry: dict) -> None:
    """SIGKILL a container's PID 1 (the kernel then kills everything inside), drop its veth."""
    pid1 = entry.get("pid1")
    if pid1 and FakeNode.is_running(entry):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid1, signal.SIGKILL)
        if not wait_for(lambda: proc_start_time(pid1) != entry.get("pid1_start"), 5.0):
            raise RuntimeError(f"container PID 1 ({pid1}) did not die")
    remove_link(entry.get("veth"))
    entry.update(status="stopped", pid1=None, pid1_start=None, unshare_pid=None, veth=None, programs=[])


def stop_container(node: FakeNode, ctid: str) -> int:
    """``vzctl stop``; stopping a stopped container is not an error (vps_stop returns 0)."""
    if node.conf_text(ctid) is None:
        node.error("Container config file does not exist")
        return VZ_NOVECONFIG
    with node.locked_state() as state:
        entry = node.ct_entry(state, ctid)
        if not node.is_running(entry):
            node.error("Unable to stop: container is not running")
            kill_container(entry)
            return 0
        node.say("Stopping container ...")
        kill_container(entry)
        node.say("Container was stopped")
        node.say("Container is unmounted")
    return 0


def save_values(node: FakeNode, ctid: str, updates: Sequence[tuple[str, str]]) -> None:
    """--save: rewrite CTID.conf (the ``no-save`` quirk prints the same but writes nothing)."""
    path = node.conf_path(ctid)
    if node.quirk != "no-save":
        text = node.conf_text(ctid) or ""
        node.write_conf_atomic(ctid, save_conf_values(text, updates).encode())
    if node.version.new_messages:
        node.say(f"CT configuration saved to {path}")
    else:
        node.say(f"Saved parameters for CT {ctid}")


# --------------------------------------------------------------------------- getopt


def getopt_message(prog: str, error: getopt.GetoptError) -> str:
    """GNU getopt's wording for an option error (glibc's messages, not Python's)."""
    opt, msg = error.opt, error.msg
    if "requires argument" in msg:
        return (
            f"{prog}: option '--{opt}' requires an argument"
            if len(opt) > 1
            else (f"{prog}: option requires an argument -- '{opt}'")
        )
    if "must not have an argument" in msg:
        return f"{prog}: option '--{opt}' doesn't allow an argument"
    if "not a unique prefix" in msg:
        return f"{prog}: option '--{opt}' is ambiguous"
    if len(opt) > 1:
        return f"{prog}: unrecognized option '--{opt}'"
    return f"{prog}: invalid option -- '{opt}'"


# --------------------------------------------------------------------------- uname, nproc


def tool_uname(node: FakeNode, args: list[str]) -> int:
    """The real uname, with the node's fake kernel release in place of the real one."""
    result = subprocess.run(["/usr/bin/uname", *args], capture_output=True, text=True, check=False)
    release = re.compile(rf"(?<!\S){re.escape(os.uname().release)}(?!\S)")
    sys.stdout.write(release.sub(node.kernel, result.stdout))
    sys.stderr.write(result.stderr)
    return result.returncode


def tool_nproc(node: FakeNode, args: list[str]) -> int:
    """The node's CPU count (``nproc``, ``nproc --all``)."""
    print(node.cpus)
    return 0


# --------------------------------------------------------------------------- vzctl


VZCTL_USAGE = """Usage: vzctl [options] <command> <ctid> [parameters]
vzctl set <ctid> [--cpus <N>] [--cpumask <cpus>] [--save]
vzctl start|stop|restart|status|destroy <ctid>
vzctl exec|exec2 <ctid> <command> [arg ...]
vzctl --version
"""


def tool_vzctl(node: FakeNode, args: list[str]) -> int:
    """vzctl: status, exec, exec2, set, start, stop, restart, destroy, --version."""
    while args and args[0] in ("--quiet", "-q", "--verbose", "-v", "--skiplock", "--skipowner"):
        node.quiet = node.quiet or args[0] in ("--quiet", "-q")
        args = args[1:]
    if args[:1] == ["--version"]:
        print(f"vzctl version {node.version.text}")
        return 0
    if args[:1] in (["--help"], ["help"]) or len(args) < 2:
        sys.stderr.write(VZCTL_USAGE)
        return 0 if args[:1] in (["--help"], ["help"]) else VZ_INVALID_PARAMETER_SYNTAX
    action, ctid, rest = args[0], args[1], args[2:]
    handlers = {
        "status": vzctl_status,
        "exec": vzctl_exec,
        "exec2": vzctl_exec,
        "set": vzctl_set,
        "start": vzctl_start,
        "stop": vzctl_stop,
        "restart": vzctl_restart,
        "destroy": vzctl_destroy,
    }
    if action not in handlers:
        node.error(f"Invalid action: {action}")
        sys.stderr.write(VZCTL_USAGE)
        return VZ_INVALID_PARAMETER_SYNTAX
    if not ctid.isdigit():
        node.error(f"Bad CT ID {ctid}")
        return VZ_INVALID_PARAMETER_VALUE
    return handlers[action](node, action, ctid, rest)


def vzctl_status(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    """``CTID 101 exist mounted running`` — word 1 is VEID up to vzctl 3.0.22."""
    exist = "exist" if node.exists(ctid) else "deleted"
    running = node.running(ctid) is not None
    state = "mounted running" if running else "unmounted down"
    print(f"{node.version.id_word} {ctid} {exist} {state}")
    return 0


def vzctl_exec(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    """exec joins its arguments with spaces for ``bash -c``; every failure is 8. exec2 keeps
    the command's own status (and vzctl's own, e.g. 31 for a stopped container)."""
    status = _exec(node, ctid, rest)
    if action == "exec" and status != 0:
        return VZ_COMMAND_EXECUTION_ERROR
    return status


def _exec(node: FakeNode, ctid: str, rest: list[str]) -> int:
    if node.conf_text(ctid) is None:
        node.error("Container config file does not exist")
        return VZ_NOVECONFIG
    if not rest:
        node.error("No command specified")
        return VZ_INVALID_PARAMETER_SYNTAX
    entry = node.running(ctid)
    if entry is None:
        node.error("Container is not running")
        return VZ_VE_NOT_RUNNING
    enter = ["nsenter", "-t", str(entry["pid1"]), "-n", "-p", "-m", "-u", "--"]
    if rest == ["-"]:
        command = [*enter, "bash", "-s"]
    else:
        command = [*enter, "bash", "-c", " ".join(arg if arg else "''" for arg in rest)]
    sys.stdout.flush()
    result = subprocess.run(command, env=container_env(node, ctid), cwd="/", check=False)
    if result.returncode < 0:
        node.error(f"Got signal {-result.returncode}")
        return 128 - result.returncode
    return result.returncode


SET_OPTIONS = ("cpus", "cpulimit", "cpuunits", "hostname", "onboot", "save", "force", "setmode")


def vzctl_set(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    """``vzctl set`` for the CPU parameters (openvz.md §1.1 item 8, §2.1)."""
    longopts = [f"{o}=" if o not in ("save", "force") else o for o in SET_OPTIONS]
    if node.version.has_cpumask:
        longopts.append("cpumask=")
    try:
        opts, extra = getopt.gnu_getopt(rest, "", longopts)
    except getopt.GetoptError as error:
        node.error(getopt_message("vzctl", error))
        return VZ_INVALID_PARAMETER_VALUE
    if extra:
        node.error(f"Invalid non-option argument(s): {' '.join(extra)}")
        return VZ_INVALID_PARAMETER_SYNTAX
    try:
        params = _set_params(node, opts)
    except ValueError as error:
        node.error(str(error))
        return VZ_INVALID_PARAMETER_VALUE
    save = any(name == "--save" for name, _ in opts)
    if node.conf_text(ctid) is None:
        node.error("Container config file does not exist")
        return VZ_NOVECONFIG
    return _apply_and_save(node, ctid, params, save)


def _set_params(node: FakeNode, opts: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Validated parameters: name -> (value to save, value to print when applying)."""
    params: dict[str, tuple[str, str]] = {}
    for name, value in opts:
        key = name[2:]
        if key in ("cpus", "cpulimit", "cpuunits"):
            if not value.rstrip("%" if key == "cpulimit" else "").isdigit():
                raise ValueError(f"Bad parameter for --{key}: {value}")
            params[key] = (value, value)
        elif key == "cpumask":
            try:
                ranges = parse_cpumask(value, node.version.cpumask_bits)
            except ValueError:
                raise ValueError(f"Bad parameter for --cpumask: {value}") from None
            shown, saved = canonical_cpumask(ranges, node.version.cpumask_bits)
            params[key] = (saved, shown)
        elif key == "onboot":
            if value not in ("yes", "no"):
                raise ValueError(f"Bad parameter for --onboot: {value}")
            params[key] = (value, value)
        elif key == "hostname":
            params[key] = (value, value)
    return params


CONF_KEYS = {
    "onboot": "ONBOOT",
    "cpuunits": "CPUUNITS",
    "cpulimit": "CPULIMIT",
    "cpus": "CPUS",
    "cpumask": "CPUMASK",
    "hostname": "HOSTNAME",
}
APPLY_MESSAGES = (
    ("cpulimit", "Setting CPU limit: {}"),
    ("cpuunits", "Setting CPU units: {}"),
    ("cpus", "Setting CPUs: {}"),
    ("cpumask", "Setting CPU mask: {}"),
)


def _apply_and_save(node: FakeNode, ctid: str, params: dict[str, tuple[str, str]], save: bool) -> int:
    entry = node.running(ctid)
    cpu_params = [key for key, _ in APPLY_MESSAGES if key in params]
    if entry is None and cpu_params and not save:
        node.error("Unable to apply CPU parameters: container is not running")
        return VZ_VE_NOT_RUNNING
    if entry is not None:
        for key, template in APPLY_MESSAGES:
            if key in params:
                node.say(template.format(params[key][1]))
        _apply_live(node, ctid, params)
    if not save:
        if node.version.new_messages:
            tail = "and will be lost after CT restart " if entry is not None else ""
            node.say(f"WARNING: Settings were not saved to config {tail}(use --save flag)")
        else:
            node.say(
                "WARNING: Settings were not saved and will be reset to original values"
                " at the next start (use --save flag)"
            )
        return 0
    updates = [(CONF_KEYS[key], params[key][0]) for key in CONF_KEYS if key in params]
    if not updates:
        node.say("No changes in CT configuration, not saving")
        return 0
    save_values(node, ctid, updates)
    return 0


def _apply_live(node: FakeNode, ctid: str, params: dict[str, tuple[str, str]]) -> None:
    """On a 2.6.32 node a running container sees a new CPUS at once; 2.6.24 ignores it
    (the fairsched calls return ENOSYS, which vzctl turns into success)."""
    if kernel_regime(node.kernel) != "2.6.32":
        return
    with node.locked_state() as state:
        entry = node.ct_entry(state, ctid)
        if "cpus" in params:
            entry["cpus"] = int(params["cpus"][0])
            entry["seen_cpus"] = visible_cpus(node.kernel, node.cpus, entry["cpus"])
            write_visibility(node, ctid, entry["seen_cpus"])
        if "cpumask" in params:
            entry["cpumask"] = params["cpumask"][0]


def vzctl_start(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    return start_container(node, ctid, save_layout=True)


def vzctl_stop(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    return stop_container(node, ctid)


def vzctl_restart(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    if node.conf_text(ctid) is None:
        node.error("Container config file does not exist")
        return VZ_NOVECONFIG
    node.say("Restarting container")
    if node.running(ctid) is not None:
        status = stop_container(node, ctid)
        if status:
            return status
    return start_container(node, ctid, save_layout=True)


def vzctl_destroy(node: FakeNode, action: str, ctid: str, rest: list[str]) -> int:
    """Remove a stopped container's private area; its conf becomes ``CTID.conf.destroyed``."""
    if node.running(ctid) is not None:
        node.say("Container is currently running. Stop it first.")
        return VZ_VE_RUNNING
    destroy(node, ctid, conf_suffix=".destroyed")
    return 0


def destroy(node: FakeNode, ctid: str, conf_suffix: str | None, keep_private: bool = False) -> None:
    """Forget a container on this node: its private area (unless kept), its conf (renamed
    with ``conf_suffix``, or deleted when None) and its state (a running one is killed)."""
    private = node.area(ctid, "VE_PRIVATE")
    if not keep_private and private and Path(private).is_dir():
        node.say(f"Destroying container private area: {private}")
        shutil.rmtree(private)
        node.say("Container private area was destroyed")
    path = node.conf_path(ctid)
    if path.exists():
        if conf_suffix:
            os.replace(path, path.with_name(path.name + conf_suffix))
        else:
            path.unlink()
    with node.locked_state() as state:
        entry = state.get("containers", {}).pop(ctid, None)
        if entry:
            kill_container(entry)


# --------------------------------------------------------------------------- vzlist


@dataclass
class Row:
    """What vzlist knows about one container."""

    ctid: str
    running: bool
    values: dict[str, str]
    entry: dict
    private: str | None
    root: str | None
    numproc: int | None


def _cpus_field(node: FakeNode, row: Row) -> int | None:
    """/proc/vz/fairsched/CTID/cpu.nr_cpus on 2.6.32 for a running CT, else CPUS from the conf."""
    if row.running and kernel_regime(node.kernel) == "2.6.32":
        value = row.entry.get("cpus")
    else:
        value = parse_cpus(row.values.get("CPUS"))
    return value or None


# name -> (header, width (negative: left-aligned string), first vzctl version)
FIELDS: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "ctid": ("CTID", 10, (3, 0, 23)),
    "veid": ("CTID", 10, (0,)),
    "vpsid": ("CTID", 10, (0,)),
    "numproc": ("NPROC", 10, (0,)),
    "status": ("STATUS", -9, (0,)),
    "ip": ("IP_ADDR", -15, (0,)),
    "hostname": ("HOSTNAME", -32, (0,)),
    "name": ("NAME", -32, (0,)),
    "description": ("DESCRIPTION", -32, (0,)),
    "ostemplate": ("OSTEMPLATE", -32, (0,)),
    "private": ("PRIVATE", -32, (3, 2)),
    "root": ("ROOT", -32, (3, 2)),
    "cpulimit": ("CPULIM", 7, (0,)),
    "cpuunits": ("CPUUNI", 7, (0,)),
    "cpus": ("CPUS", 5, (3, 0, 30)),
    "onboot": ("ONBOOT", 6, (0,)),
}
STRING_FIELDS = {"ip", "hostname", "name", "description", "ostemplate", "private", "root", "status"}
JSON_DEFAULT_FIELDS = (
    "ctid",
    "private",
    "root",
    "hostname",
    "name",
    "ip",
    "status",
    "numproc",
    "cpus",
    "onboot",
)


def _field_value(node: FakeNode, row: Row, name: str) -> str | int | bool | list[str] | dict | None:
    """The value of a field; None where vzlist prints ``-`` (JSON: null)."""
    conf_keys = {
        "hostname": "HOSTNAME",
        "name": "NAME",
        "description": "DESCRIPTION",
        "ostemplate": "OSTEMPLATE",
        "cpulimit": "CPULIMIT",
        "cpuunits": "CPUUNITS",
    }
    if name in ("ctid", "veid", "vpsid"):
        return int(row.ctid)
    if name == "status":
        return "running" if row.running else "stopped"
    if name == "numproc":
        return row.numproc
    if name == "ip":
        ips = row.values.get("IP_ADDRESS", "").split() or ([row.entry["ip"]] if row.entry.get("ip") else [])
        return ips or None
    if name == "private":
        return row.private
    if name == "root":
        return row.root
    if name == "cpus":
        return _cpus_field(node, row)
    if name == "onboot":
        onboot = row.values.get("ONBOOT")
        return None if onboot is None else onboot == "yes"
    return row.values.get(conf_keys[name])


def _text_cell(name: str, value, last: bool, trim: bool) -> str:
    """One column as vzlist prints it: %10s numbers, %-Ns strings cut to N unless last."""
    width = FIELDS[name][1]
    if name == "ip" and isinstance(value, list):
        value = " ".join(value) if last else value[0]
    if name == "onboot":
        value = None if value is None else ("yes" if value else "no")
    text = "-" if value is None else str(value)
    if width < 0:
        cell = f"{text:<{-width}}"
        if not last and trim:
            cell = cell[:-width]
        return cell
    return f"{text:>{width}}"


def _json_cell(name: str, value) -> str:
    if name == "numproc":
        held = value or 0
        limits = 9223372036854775807
        return (
            "{\n"
            f'      "held": {held},\n      "maxheld": {held},\n'
            f'      "barrier": {limits},\n      "limit": {limits},\n      "failcnt": 0\n'
            "    }"
        )
    if name == "cpus":
        return str(value or 0)
    if name == "ip":
        return "[" + ", ".join(json.dumps(v) for v in (value or [])) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value)


VZLIST_USAGE = """
Usage:	vzlist	[-a|-S] [-n] [-H] [-o field[,field...]] [-s [-]field]
		[-h pattern] [-N pattern] [-d pattern] [CTID [CTID ...]|-1]
	vzlist -L
"""


def tool_vzlist(node: FakeNode, args: list[str]) -> int:
    """vzlist: -a -S -H -o -s -h -N -d -L -1, and -t/-j from vzctl 4.0."""
    if node.quirk == "junk-vzlist":  # a broken or foreign vzlist: output no parser knows
        print("Segmentation fault\n\x00\x1b[31mVEID ??? \xff garbage |||| 12 34")
        return 0
    short = "HtSanjN:h:d:o:s:Le1" if node.version.has_json else "HSanN:h:d:o:s:Le1"
    longs = [
        "no-header",
        "stopped",
        "all",
        "name",
        "name_filter=",
        "hostname=",
        "description=",
        "output=",
        "sort=",
        "list",
        "help",
    ]
    if node.version.has_json:
        longs += ["no-trim", "json"]
    try:
        opts, ctids = getopt.gnu_getopt(args, short, longs)
    except getopt.GetoptError as error:
        node.error(getopt_message("vzlist", error))
        sys.stderr.write(VZLIST_USAGE)
        return 1
    flags = {name for name, _ in opts}
    if flags & {"-L", "--list"}:
        for name, (header, _, since) in FIELDS.items():
            if node.version.at_least(*since):
                print(f"{name:<15} {header:<15}")
        return 0
    return _vzlist(node, dict(opts), flags, ctids)


def _vzlist(node: FakeNode, options: dict[str, str], flags: set[str], ctids: list[str]) -> int:
    as_json = bool(flags & {"-j", "--json"})
    header = not flags & {"-H", "--no-header", "-1"}
    trim = not flags & {"-t", "--no-trim"}
    order = options.get("-o") or options.get("--output")
    if flags & {"-1"}:
        order = "veid"
    fields = _field_order(node, order, as_json)
    if fields is None:
        return 1
    for ctid in ctids:
        if not ctid.isdigit():
            node.error(f"CT ID {ctid} is invalid.")
            return 1
    rows = _select_rows(node, flags, ctids)
    rows = _filter_rows(node, rows, options)
    if not rows:
        if as_json:
            print("[]")
        else:
            node.error("Container(s) not found")
        return 1 if ctids or not node.version.new_messages else 0
    sort = options.get("-s") or options.get("--sort")
    if sort:
        reverse = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in FIELDS:
            node.error(f"Invalid sort field name: {sort}")
            return 1
        rows.sort(key=lambda r: _sort_key(node, r, key), reverse=reverse)
    if as_json:
        _print_json(node, rows, fields)
    else:
        _print_table(node, rows, fields, header, trim)
    return 0


def _field_order(node: FakeNode, order: str | None, as_json: bool) -> list[str] | None:
    if order is None:
        if as_json:
            return list(JSON_DEFAULT_FIELDS)
        order = (
            "ctid,numproc,status,ip,hostname"
            if node.version.at_least(3, 0, 23)
            else ("veid,numproc,status,ip,hostname")
        )
    fields = order.split(",")
    for name in fields:
        known = name in FIELDS and node.version.at_least(*FIELDS[name][2])
        if not known:
            node.error(f"Unknown field: {name}")
            return None
    return fields


def _select_rows(node: FakeNode, flags: set[str], ctids: list[str]) -> list[Row]:
    state = node.read_state().get("containers", {})
    wanted = set(ctids)
    rows = []
    for ctid in node.list_ctids():
        if wanted and ctid not in wanted:
            continue
        entry = state.get(ctid, {})
        running = node.is_running(entry)
        if flags & {"-S", "--stopped"} and running:
            continue
        if not (wanted or flags & {"-a", "--all", "-S", "--stopped"}) and not running:
            continue
        values = node.conf_values(ctid) or {}
        numproc = len(processes_in_namespace(entry["pid1"])) if running else None
        rows.append(
            Row(
                ctid,
                running,
                values,
                entry,
                node.area(ctid, "VE_PRIVATE", values),
                node.area(ctid, "VE_ROOT", values),
                numproc,
            )
        )
    return rows


def _filter_rows(node: FakeNode, rows: list[Row], options: dict[str, str]) -> list[Row]:
    patterns = {
        "HOSTNAME": options.get("-h") or options.get("--hostname"),
        "NAME": options.get("-N") or options.get("--name_filter"),
        "DESCRIPTION": options.get("-d") or options.get("--description"),
    }
    for key, pattern in patterns.items():
        if pattern is not None:
            rows = [
                r
                for r in rows
                if r.values.get(key) is not None and fnmatch.fnmatchcase(r.values[key], pattern)
            ]
    return rows


def _sort_key(node: FakeNode, row: Row, name: str) -> tuple:
    value = _field_value(node, row, name)
    if isinstance(value, list):
        value = " ".join(value)
    return (value is not None, str(value) if name in STRING_FIELDS else (value or 0), int(row.ctid))


def _print_table(node: FakeNode, rows: list[Row], fields: list[str], header: bool, trim: bool) -> None:
    if header:
        cells = []
        for name in fields:
            title = FIELDS[name][0]
            if name == "veid" and not node.version.at_least(3, 0, 23):
                title = "VEID"
            width = FIELDS[name][1]
            cells.append(f"{title:<{-width}}" if width < 0 else f"{title:>{width}}")
        print(" ".join(cells).rstrip())
    for row in rows:
        cells = [
            _text_cell(name, _field_value(node, row, name), index == len(fields) - 1, trim)
            for index, name in enumerate(fields)
        ]
        print(" ".join(cells).rstrip())


def _print_json(node: FakeNode, rows: list[Row], fields: list[str]) -> None:
    out = ["["]
    for index, row in enumerate(rows):
        items = [f'\n    "{name}": {_json_cell(name, _field_value(node, row, name))}' for name in fields]
        out.append(("," if index else "") + "\n  {" + ",".join(items) + "\n  }")
    out.append("\n]")
    print("".join(out))


# --------------------------------------------------------------------------- vzmigrate


def vzmigrate_usage(node: FakeNode) -> int:
    live = "[--online|--live] " if node.version.at_least(4) else "[--online] "
    sys.stderr.write(
        "This program is used for container migration to another node.\n"
        "Usage:\n"
        f"vzmigrate [-r yes|no] [--ssh=<options>] [--keep-dst] {live}[-v]\n"
        "\tdestination_address <CTID>\n"
    )
    return MIG_ERR_USAGE


@dataclass
class MigrateOptions:
    remove_area: bool = True
    ssh_options: list[str] = field(default_factory=list)
    online: bool = False
    check_only: bool = False
    verbose: bool = False
    dest: str = ""
    ctid: str = ""


def parse_vzmigrate(node: FakeNode, args: list[str]) -> MigrateOptions | None:
    """vzmigrate's own ``while case`` loop: options first, then destination and CTID."""
    opts = MigrateOptions()
    rest = list(args)
    while rest and rest[0].startswith("-"):
        arg = rest.pop(0)
        if arg in ("-r", "--remove-area"):
            value = rest.pop(0) if rest else ""
            if value not in ("yes", "no"):
                return None
            opts.remove_area = value == "yes"
        elif arg.startswith("--ssh="):
            opts.ssh_options += shlex.split(arg[len("--ssh=") :])
        elif arg.startswith("--rsync=") or arg == "--keep-dst":
            continue
        elif arg == "--online" or (arg == "--live" and node.version.at_least(4)):
            opts.online = True
        elif arg in ("--check-only", "--dry-run") and node.version.at_least(4, 3):
            opts.check_only = True
        elif arg == "-v":
            opts.verbose = True
        else:
            return None
    if len(rest) != 2 or not rest[1].isdigit():
        return None
    opts.dest, opts.ctid = rest
    return opts


class Migration:
    """Offline vzmigrate to another lab node over real SSH (bin/vzmigrate.in, simplified)."""

    def __init__(self, node: FakeNode, opts: MigrateOptions) -> None:
        self.node = node
        self.opts = opts
        self.ctid = opts.ctid

    def fail(self, status: int, *messages: str) -> int:
        for message in messages:
            self.node.error(f"Error: {message}")
        return status

    def ssh(
        self, command: str, data: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        argv = [
            "ssh",
            "-F",
            self.node.info["ssh_config"],
            *self.opts.ssh_options,
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            f"root@{self.opts.dest}",
            command,
        ]
        return subprocess.run(argv, input=data, capture_output=True, timeout=timeout, check=False)

    def run(self) -> int:
        node, ctid = self.node, self.ctid
        if not node.exists(ctid):
            return self.fail(MIG_ERR_NOEXIST, f"CT #{ctid} doesn't exist")
        if self.opts.online:
            return self.fail(
                MIG_ERR_OVZ_NOT_RUNNING,
                "vzcpt module is not loaded on the source node",
                "Can't continue online migration",
            )
        node.say(f"Starting migration of CT {ctid} to {self.opts.dest}")
        status = self.check_destination()
        if status is not None:
            return status
        if self.opts.check_only:
            return 0
        return self.move()

    def check_destination(self) -> int | None:
        if self.ssh("/bin/true", timeout=20).returncode != 0:
            return self.fail(
                MIG_ERR_CANT_CONNECT,
                "Can't connect to destination address using public key",
                "Please put your public key to destination node",
            )
        if self.ssh("/etc/init.d/vz status").returncode != 0:
            return self.fail(
                MIG_ERR_OVZ_NOT_RUNNING,
                "OpenVZ is not running on the target machine",
                "Can't continue migration",
            )
        words = self.ssh(f"vzctl --skiplock --quiet status {self.ctid}").stdout.decode().split()
        if len(words) > 2 and words[2] == "exist":
            return self.fail(MIG_ERR_EXISTS, f"CT #{self.ctid} already exists on destination node")
        return None

    def move(self) -> int:
        node, ctid = self.node, self.ctid
        values = node.conf_values(ctid) or {}
        private = node.area(ctid, "VE_PRIVATE", values) or ""
        root = node.area(ctid, "VE_ROOT", values) or ""
        node.say("Preparing remote node")
        conf = node.conf_path(ctid).read_bytes()
        if self.ssh(f"cat > {shlex.quote(str(node.conf_path(ctid)))}", conf).returncode != 0:
            return self.fail(MIG_ERR_COPY, "Failed to copy config file")
        if self.ssh(f"mkdir -p {shlex.quote(private)} {shlex.quote(root)}").returncode != 0:
            return self.fail(MIG_ERR_COPY, "Failed to make container private area directory")
        node.say("Syncing private")
        slow = node.root / SLOW_SYNC_FILE  # Node.slow_vzmigrate(): a big private area's rsync
        if slow.exists():
            time.sleep(float(slow.read_text()))
        if self.ssh(f"tar -C {shlex.quote(private)} -xf -", _tar_of(Path(private))).returncode != 0:
            return self.fail(MIG_ERR_COPY, "Failed to sync container private areas")
        entry = node.read_state().get("containers", {}).get(ctid, {})
        meta = json.dumps({"java": entry.get("java", []), "services": entry.get("services", []),
                           "ip": entry.get("ip")}).encode()
        if self.ssh(f"fakevz-lab receive {ctid}", meta).returncode != 0:
            return self.fail(MIG_ERR_COPY, "Failed to copy the lab's container metadata")
        was_running = node.running(ctid) is not None
        if was_running:
            node.say("Stopping container")
            with node.silenced():
                stopped = stop_container(node, ctid)
            if stopped != 0:
                return self.fail(MIG_ERR_STOP_SOURCE, "Failed to stop container")
            node.say("Starting container")
            started = self.ssh(f"vzctl start {ctid}")
            if started.returncode != 0:
                self.ssh(f"fakevz-lab destroy {ctid}")
                with node.silenced():
                    start_container(node, ctid, save_layout=False)
                return self.fail(MIG_ERR_START_VPS, "Failed to start container")
        node.say("Cleanup")
        with node.silenced():
            if self.opts.remove_area:  # vzctl destroy
                destroy(node, ctid, conf_suffix=".destroyed")
            else:  # mv CTID.conf CTID.conf.migrated, to allow moving back
                destroy(node, ctid, conf_suffix=".migrated", keep_private=True)
        return 0


def _tar_of(directory: Path) -> bytes:
    """A tar stream of a private area (what the real tool moves with rsync)."""
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for child in sorted(directory.iterdir()):
                archive.add(child, arcname=child.name)
        buffer.seek(0)
        return buffer.read()


def tool_vzmigrate(node: FakeNode, args: list[str]) -> int:
    opts = parse_vzmigrate(node, args)
    if opts is None:
        return vzmigrate_usage(node)
    return Migration(node, opts).run()


# --------------------------------------------------------------------------- the lab's own calls


def tool_lab(node: FakeNode, args: list[str]) -> int:
    """Internal operations (not logged): the lab's setup path and vzmigrate's far side."""
    if not args:
        node.error("fakevz-lab: missing operation")
        return 2
    op, rest = args[0], args[1:]
    if op == "cleanup":
        return lab_cleanup(node)
    if op == "add-many":  # a fleet for the benchmarks: many stopped containers in one call
        for item in json.loads(sys.stdin.read() or "[]"):
            ctid = str(item["ctid"])
            if not ctid.isdigit():
                node.error(f"fakevz-lab add-many: bad CTID {ctid!r}")
                return 2
            node.write_conf_atomic(ctid, item["conf"].encode())
            status = lab_register(node, ctid, item.get("meta", {}))
            if status:
                return status
        return 0
    ctid = rest[0] if rest else ""
    if not ctid.isdigit():
        node.error(f"fakevz-lab {op}: bad CTID {ctid!r}")
        return 2
    if op == "write-conf":
        node.write_conf_atomic(ctid, sys.stdin.buffer.read())
        return 0
    if op == "read-conf":
        text = node.conf_text(ctid)
        if text is None:
            node.error(f"no {node.conf_path(ctid)}")
            return VZ_NOVECONFIG
        sys.stdout.write(text)
        return 0
    if op in ("register", "receive"):
        return lab_register(node, ctid, json.loads(sys.stdin.read() or "{}"))
    if op == "start":
        return start_container(node, ctid, save_layout=False)
    if op == "stop":
        return stop_container(node, ctid)
    if op == "destroy":
        with node.silenced():
            destroy(node, ctid, conf_suffix=None)
        return 0
    node.error(f"fakevz-lab: unknown operation {op!r}")
    return 2


def lab_register(node: FakeNode, ctid: str, meta: dict) -> int:
    """Record what a container runs (Java programs) and its lab address."""
    specs = [JavaSpec.from_json(raw).to_json() for raw in meta.get("java", [])]
    services = [ServiceSpec.from_json(raw).to_json() for raw in meta.get("services", [])]
    address = lab_ip(meta["ip"]) if meta.get("ip") else None
    with node.locked_state() as state:
        entry = node.ct_entry(state, ctid)
        if node.is_running(entry):
            node.error("Container is already running")
            return VZ_VE_RUNNING
        entry.update(java=specs, services=services, ip=address)
    return 0


def lab_cleanup(node: FakeNode) -> int:
    """Stop every container of the node and remove its veth (used by Lab.close)."""
    with node.locked_state() as state:
        for entry in state.get("containers", {}).values():
            kill_container(entry)
    return 0


# --------------------------------------------------------------------------- entry point


TOOLS = {
    "uname": tool_uname,
    "nproc": tool_nproc,
    "vzctl": tool_vzctl,
    "vzlist": tool_vzlist,
    "vzmigrate": tool_vzmigrate,
    "fakevz-lab": tool_lab,
}


def log_invocation(node_root: Path, argv: list[str]) -> None:
    """Append one JSON line per shim call; O_APPEND keeps concurrent lines whole."""
    line = (json.dumps(argv) + "\n").encode()
    fd = os.open(node_root / "commands.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """``fakevz.py NODE_DIR TOOL [ARGS…]``; TOOLs other than fakevz-lab are logged."""
    if len(argv) < 2 or argv[1] not in TOOLS:
        print("usage: fakevz.py NODE_DIR {" + ",".join(TOOLS) + "} [ARGS…]", file=sys.stderr)
        return 2
    root, tool, args = Path(argv[0]), argv[1], argv[2:]
    if tool != "fakevz-lab":
        log_invocation(root, [tool, *args])
    node = FakeNode(root)
    try:
        return TOOLS[tool](node, args)
    except ToolExit as stop:
        return stop.status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
