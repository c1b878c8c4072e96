"""What a node and its containers are, as plain frozen values.

Every fact is either a value or an explicit ``Unknown(reason)``: a probe that failed must
never read as ``0``, ``False`` or "no Java", because the gate would then say *go*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from havengate.model import Unknown

__all__ = ["Unknown"]  # facts are values or explicit unknowns: the word is the model's


class KernelFamily(str, enum.Enum):
    """OpenVZ kernel lines the gate knows; anything else is UNRECOGNISED."""

    OVZ_2618 = "2.6.18-openvz"
    OVZ_2624 = "2.6.24-openvz"
    OVZ_2632 = "2.6.32-openvz"
    UNRECOGNISED = "unrecognised"


class CpuVisibility(str, enum.Enum):
    """How many CPUs a container sees on a kernel line (DESIGN.md §1 table)."""

    ALL_HOST_CPUS = "all-host-cpus"  # 2.6.24: CPUS= limits scheduling only
    CPUS_LIMITED = "cpus-limited"  # 2.6.32+: CPUS= also limits visibility
    VIRTUAL_CPUS = "virtual-cpus"  # 2.6.18 vsched: CPUS virtual CPUs, one core each
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Kernel:
    release: str
    family: KernelFamily
    visibility: CpuVisibility
    version: tuple[int, int, int] | None  # upstream base, e.g. (2, 6, 32); None if unparsable
    openvz_build: str | None  # e.g. "042stab134.8"; derived from -pve where known
    flavour: str  # human words: "OpenVZ RHEL6 042stab", "Proxmox VE 2.6.32-11-pve", ...


@dataclass(frozen=True)
class CpuMask:
    """A CPUMASK value: ``all`` or an explicit set of host CPU numbers."""

    text: str
    cpus: tuple[int, ...] | None  # None means "all"

    @property
    def is_all(self) -> bool:
        return self.cpus is None


@dataclass(frozen=True)
class ConfProblem:
    """Something in CTID.conf that vzctl or ``sh`` (vzmigrate sources the file) reads oddly."""

    line: int
    message: str


@dataclass(frozen=True)
class CtConf:
    """CTID.conf read the way vzctl reads it (first key wins, IP_ADDRESS accumulates)."""

    values: dict[str, str]
    cpus: int | Unknown | None  # None: unset or 0, i.e. all host CPUs
    cpumask: CpuMask | Unknown | None  # None: unset
    ve_private: str | None
    ve_root: str | None
    problems: tuple[ConfProblem, ...] = ()
    # keys whose quoted value has text after the closing quote: vzctl >= 3.1 drops it,
    # vzctl <= 3.0.x keeps it in the value (so `CPUMASK="0" # pin` is no mask there)
    trailing_text: tuple[str, ...] = ()
    # the file's own text, every byte vzctl reads: a facts file is re-parsed from it on
    # load, so its derived fields can never say more than the file does
    text: str | None = None
    # keys the container's file lacks, taken from the node's /etc/vz/vz.conf (vzctl reads
    # vz.conf first, then CTID.conf, which wins): set only on a conf merged for one node
    inherited: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listener:
    """A TCP socket in LISTEN state, as /proc/net/tcp{,6} shows it."""

    family: str  # "tcp" or "tcp6"
    address: str
    port: int
    inode: int


@dataclass(frozen=True)
class OpenPort:
    """A TCP port listening in a container, and the program that holds it."""

    family: str  # "tcp" or "tcp6"
    address: str
    port: int
    program: str | None  # the owner's name (comm; "java" for a JVM); None: owner not seen
    java: bool = False


@dataclass(frozen=True)
class ThreadSample:
    """One thread of a JVM at one moment (/proc/PID/task/TID), for the hang diagnosis."""

    tid: int
    name: str
    state: str  # R running, S sleeping, D disk, Z zombie, T stopped
    cpu_ticks: int  # utime + stime
    wchan: str  # kernel function it sleeps in ("0" when unknown or running)
    voluntary_switches: int

    @property
    def in_futex(self) -> bool:
        return "futex" in self.wchan


@dataclass(frozen=True)
class JavaProcess:
    pid: int
    argv: tuple[str, ...]
    jvm_options: tuple[str, ...]  # -X / -XX / -D options given before the main class or -jar
    listeners: tuple[Listener, ...] | Unknown
    # the environment variables the JVM reads options from (JAVA_TOOL_OPTIONS, ...), so
    # jvm_options can be derived again from argv and these; None: not recorded (old facts)
    java_env: dict[str, str] | None = None
    age_seconds: float | None = None  # how long it has run (verify probes only)
    threads: tuple[ThreadSample, ...] = ()  # verify probes only

    @property
    def assumes_mp(self) -> bool:
        """-XX:+AssumeMP keeps HotSpot's atomics locked with one visible CPU; last flag wins.

        Not believed under -XX:+IgnoreUnrecognizedVMOptions: a JDK 6/7 without the flag
        would then start without it, silently.
        """
        return self._flag("AssumeMP") and not self._flag("IgnoreUnrecognizedVMOptions")

    def _flag(self, name: str) -> bool:
        state = False
        for option in self.jvm_options:
            if option == f"-XX:+{name}":
                state = True
            elif option == f"-XX:-{name}":
                state = False
        return state


@dataclass(frozen=True)
class Container:
    ctid: str
    status: str  # running | stopped | mounted | suspended (vzlist words)
    hostname: str | None
    private: str | None  # VE_PRIVATE with $VEID expanded
    conf: CtConf | Unknown
    cpus_seen: int | Unknown  # CPUs visible inside, measured (running containers only)
    java_processes: tuple[JavaProcess, ...] | Unknown  # running containers only
    java_files: tuple[str, ...] | Unknown  # evidence of Java in the private area (stopped CTs)
    # every TCP port listening inside, Java or not (running containers only)
    listening: tuple[OpenPort, ...] | Unknown = field(
        default=Unknown("not probed inside (target node or container not running)"))

    @property
    def running(self) -> bool:
        return self.status == "running"

    def java_ports(self) -> tuple[tuple[str, str, int], ...] | Unknown:
        """(family, address, port) its JVMs listen on: what verify must see again."""
        if isinstance(self.java_processes, Unknown):
            return self.java_processes
        ports = set()
        for process in self.java_processes:
            if isinstance(process.listeners, Unknown):
                return process.listeners
            ports.update((s.family, s.address, s.port) for s in process.listeners)
        return tuple(sorted(ports, key=lambda p: (p[2], p[0], p[1])))


@dataclass(frozen=True)
class Connect:
    """A TCP connect from the node to a container's address (what its clients do)."""

    address: str
    port: int
    ok: bool | None  # None: could not be tried (no bash on the node, step killed)
    detail: str


@dataclass(frozen=True)
class NodeFacts:
    host: str
    collected_at: str  # ISO 8601, UTC
    kernel: Kernel | Unknown
    cpus: int | Unknown
    vzctl_version: tuple[int, ...] | Unknown | None  # None: vzctl not installed
    containers: tuple[Container, ...] | Unknown
    errors: tuple[str, ...] = field(default=())  # probe sections that failed, said plainly
    # /etc/vz/vz.conf: defaults for keys a CTID.conf lacks (CPUS, CPUMASK among them).
    # None: the node has none. A facts file from before it was read says Unknown.
    nodename: str | None = None  # the node's own name (uname -n), whatever alias reached it
    vz_conf: CtConf | Unknown | None = field(
        default=Unknown("/etc/vz/vz.conf is not in these facts (collected before havengate read it: "
                        "collect them again)"))
    connects: tuple[Connect, ...] = field(default=())  # verify: TCP connects from the node

    def container(self, ctid: str) -> Container | None:
        if isinstance(self.containers, Unknown):
            return None
        return next((ct for ct in self.containers if ct.ctid == ctid), None)
