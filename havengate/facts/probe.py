"""One batched probe per node: a fixed script, one round trip, pure parsing afterwards.

``probe_command`` builds the command line (every argument quoted in one place);
``parse_probe_output`` turns what the node printed into NodeFacts. A section that failed
becomes an ``Unknown`` with the node's own words; it never becomes a default value.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from functools import cache

from havengate.errors import ProbeError
from havengate.facts.ctconf import GLOBAL_CONF_VEID, parse_ctid_conf
from havengate.facts.java import JVM_OPTION_VARIABLES, is_jvm, jvm_options
from havengate.facts.kernel import parse_kernel_release
from havengate.facts.model import (
    Connect,
    Container,
    CtConf,
    JavaProcess,
    Listener,
    NodeFacts,
    OpenPort,
    ThreadSample,
)
from havengate.facts.procnet import ProcNetError, parse_proc_net_tcp
from havengate.facts.vz import VzlistError, VzlistRow, parse_vzctl_version, parse_vzlist
from havengate.model import Unknown
from havengate.quoting import shell_command, validate_ctid

_NONCE = re.compile(r"^[0-9a-f]{16,64}$")
DEFAULT_STEP_TIMEOUT = 30  # seconds for one command on a node that may hang (vzctl exec2)
_KILLED_BY_TIMEOUT = (124, 137)  # timeout(1): 124, or 128+SIGKILL with -s KILL


class Mode:
    FULL = "full"  # node facts, CT configs, what runs inside each CT (the source)
    NODE = "node"  # node facts and CT configs only (the target)
    VERIFY = "verify"  # after the move: JVMs with their threads, TCP connects from the node


@dataclass(frozen=True)
class Section:
    stdout: str
    stderr: str
    status: int

    def failure(self, what: str) -> Unknown:
        if self.status in _KILLED_BY_TIMEOUT:
            return Unknown(f"{what} did not finish in time (killed by the probe's step timeout)")
        words = self.stderr.strip().splitlines()
        detail = f": {words[-1]}" if words else ""
        return Unknown(f"{what} failed (exit {self.status}){detail}")


@cache
def probe_script() -> str:
    """The probe's fixed text, read once when a node is first probed (not at start-up)."""
    from importlib import resources

    return resources.files("havengate.facts").joinpath("probe.sh").read_text()


def probe_command(nonce: str, mode: str, ctids: tuple[str, ...] = (),
                  step_timeout: int = DEFAULT_STEP_TIMEOUT,
                  connects: tuple[tuple[str, int], ...] = ()) -> str:
    """The one command line sent to a node:
    ``sh -c SCRIPT havengate-probe NONCE MODE T CTID… [-- ADDRESS PORT …]``."""
    if not _NONCE.fullmatch(nonce):
        raise ValueError("nonce must be 16-64 lowercase hex digits")
    if mode not in (Mode.FULL, Mode.NODE, Mode.VERIFY):
        raise ValueError(f"unknown probe mode {mode!r}")
    if not isinstance(step_timeout, int) or step_timeout < 1:
        raise ValueError("step timeout must be a positive number of seconds")
    pairs: list[str] = []
    for address, port in connects:
        if not 0 < int(port) < 65536:
            raise ValueError(f"port {port} out of range")
        pairs += [str(ipaddress.ip_address(address)), str(int(port))]
    return shell_command(
        "sh", "-c", probe_script(), "havengate-probe", nonce, mode, str(step_timeout),
        *(validate_ctid(c) for c in ctids), *(["--", *pairs] if pairs else []),
    )


def split_sections(output: str, nonce: str) -> dict[str, Section]:
    """Cut the probe's stdout into sections; raises ProbeError if the run did not complete."""
    marker = re.compile(
        rf"\n@@{re.escape(nonce)} (begin|stderr|end) (\S+)(?: (\d+))?\n|\n@@{re.escape(nonce)} complete\n?"
    )
    sections: dict[str, Section] = {}
    stdout = stderr = ""
    position = 0
    complete = False
    for match in marker.finditer(output):
        kind, name, status = match.group(1), match.group(2), match.group(3)
        text = output[position : match.start()]
        position = match.end()
        if kind is None:
            complete = True
        elif kind == "stderr":
            stdout = text
        elif kind == "end":
            stderr = text
            sections[name] = Section(stdout=stdout, stderr=stderr, status=int(status))
    if not complete:
        raise ProbeError("probe output is incomplete (no completion marker): the node cut it short")
    return sections


def parse_probe_output(output: str, nonce: str, host: str, collected_at: str) -> NodeFacts:
    """NodeFacts from one probe run's stdout."""
    sections = split_sections(output, nonce)
    errors: list[str] = []

    def get(name: str) -> Section | Unknown:
        section = sections.get(name)
        if section is None:
            return Unknown(f"the probe printed no {name} section")
        return section

    kernel_section = get("kernel")
    kernel = (
        parse_kernel_release(kernel_section.stdout)
        if isinstance(kernel_section, Section) and kernel_section.status == 0
        and kernel_section.stdout.strip()
        else _failed(kernel_section, "uname -r")
    )
    cpus = _positive_int(get("cpus"), "nproc")
    vzctl = get("vzctl")
    vzctl_version = (
        parse_vzctl_version(vzctl.stdout + vzctl.stderr, vzctl.status)
        if isinstance(vzctl, Section)
        else vzctl
    )

    containers: tuple[Container, ...] | Unknown
    vzlist = get("vzlist")
    if isinstance(vzlist, Unknown):
        containers = vzlist
    else:
        try:
            rows = parse_vzlist(vzlist.stdout, vzlist.stderr, vzlist.status)
        except VzlistError as exc:
            containers = Unknown(f"vzlist: {exc}")
        else:
            containers = tuple(_container(row, sections) for row in rows if _probed(row.ctid, sections))
    vz_conf = _vz_conf(get("vzconf"))
    nodename_section = get("nodename")
    nodename = None
    if isinstance(nodename_section, Section) and nodename_section.status == 0:
        words = nodename_section.stdout.split()
        nodename = words[0] if len(words) == 1 else None
    for value, what in ((kernel, "kernel"), (cpus, "cpus"), (vzctl_version, "vzctl"),
                        (containers, "containers")):
        if isinstance(value, Unknown):
            errors.append(f"{what}: {value.reason}")
    return NodeFacts(
        host=host,
        collected_at=collected_at,
        kernel=kernel,
        cpus=cpus,
        vzctl_version=vzctl_version,
        containers=containers,
        errors=tuple(errors),
        connects=tuple(_connect(name, section) for name, section in sections.items()
                       if name.startswith("connect.")),
        vz_conf=vz_conf,
        nodename=nodename,
    )


_NO_VZ_CONF = 66  # the probe's global_conf(): the node has no /etc/vz/vz.conf


def _vz_conf(section: Section | Unknown) -> CtConf | Unknown | None:
    if isinstance(section, Unknown):
        return section
    if section.status == _NO_VZ_CONF:
        return None
    if section.status != 0:
        return section.failure("reading /etc/vz/vz.conf")
    return parse_ctid_conf(section.stdout, GLOBAL_CONF_VEID)


def _connect(name: str, section: Section) -> Connect:
    address, _, port = name.removeprefix("connect.").rpartition(".")
    if section.status == 0:
        return Connect(address, int(port), True, "connected")
    if section.status in _KILLED_BY_TIMEOUT:
        return Connect(address, int(port), False, "no answer (connect timed out)")
    if section.status == 127:
        return Connect(address, int(port), None, "bash is not on the node: cannot connect")
    words = section.stderr.strip().splitlines()
    return Connect(address, int(port), False, words[-1].split(": ")[-1] if words else "refused")


def _probed(ctid: str, sections: dict[str, Section]) -> bool:
    """A CTID filter on the node skips unwanted containers; their conf section is absent."""
    return f"conf.{ctid}" in sections


def _container(row: VzlistRow, sections: dict[str, Section]) -> Container:
    ctid = row.ctid
    conf_section = sections[f"conf.{ctid}"]
    conf = (
        parse_ctid_conf(conf_section.stdout, ctid)
        if conf_section.status == 0
        else conf_section.failure(f"reading /etc/vz/conf/{ctid}.conf")
    )
    hostname = row.hostname
    if not isinstance(conf, Unknown) and conf.values.get("HOSTNAME"):
        hostname = conf.values["HOSTNAME"]
    private = None if isinstance(conf, Unknown) else conf.ve_private

    not_probed = Unknown("not probed inside (target node or container not running)")
    cpus_seen: int | Unknown = not_probed
    java_processes: tuple[JavaProcess, ...] | Unknown = not_probed
    listening: tuple[OpenPort, ...] | Unknown = not_probed
    inside = sections.get(f"inside.{ctid}")
    if inside is not None:
        try:
            cpus_seen, java_processes, listening = _parse_inside(inside, ctid)
        except InsideError as exc:  # a container's output is untrusted: never a crash
            cpus_seen = java_processes = listening = Unknown(
                f"CT {ctid} answered oddly from inside: {exc}")

    java_files: tuple[str, ...] | Unknown = Unknown("private area not scanned (target node)")
    files = sections.get(f"files.{ctid}")
    if files is not None:
        lines = [line for line in files.stdout.split("\n") if line.strip()]
        scanned = [line.removeprefix("private ") for line in lines if line.startswith("private ")]
        private = scanned[0] if scanned else private
        java_files = (
            tuple(line for line in lines if not line.startswith("private "))
            if files.status == 0
            else files.failure("scanning the private area")
        )
    return Container(
        ctid=ctid,
        status=row.status,
        hostname=hostname,
        private=private,
        conf=conf,
        cpus_seen=cpus_seen,
        java_processes=java_processes,
        java_files=java_files,
        listening=listening,
    )


class InsideError(ValueError):
    """The inner script's output is not what it prints: a hostile or broken container."""


_PART = re.compile(
    r"@@ct (cpus|procfs|tcp|tcp6|tcp6-absent|tcp-unreadable|done|proc [0-9]+|threads [0-9]+"
    r"|sock [0-9]+)")

Inside = tuple[int | Unknown, tuple[JavaProcess, ...] | Unknown, tuple[OpenPort, ...] | Unknown]


def _parse_inside(section: Section, ctid: str) -> Inside:
    """The inner script's output: ``@@ct NAME`` parts written from inside the CT."""
    if section.status != 0:
        failure = section.failure(f"vzctl exec2 {ctid}")
        return failure, failure, failure
    parts: list[tuple[str, list[str]]] = []
    for line in section.stdout.split("\n"):
        if _PART.fullmatch(line):
            parts.append((line[5:], []))
        elif parts:
            parts[-1][1].append(line)
    names = {name for name, _ in parts}
    if "done" not in names:
        failure = Unknown(f"the probe inside CT {ctid} stopped before it finished")
        return failure, failure, failure
    text = {name: "\n".join(lines) for name, lines in parts
            if not name.startswith(("proc ", "threads ", "sock "))}
    samples = {int(name[8:]): lines for name, lines in parts if name.startswith("threads ")}
    cpus_seen = _int_or_unknown(text.get("cpus", ""), f"nproc inside CT {ctid}")
    failure = None
    if "procfs" not in names:
        failure = Unknown(f"/proc is not readable inside CT {ctid}")
    elif "tcp-unreadable" in names:
        failure = Unknown(f"/proc/net/tcp is not readable inside CT {ctid}")
    if failure is not None:
        return cpus_seen, failure, failure
    try:
        listening = parse_proc_net_tcp(text.get("tcp", ""), "tcp", required=True)
        if "tcp6-absent" not in names:
            listening += parse_proc_net_tcp(text.get("tcp6", ""), "tcp6", required=True)
    except ProcNetError as exc:
        failure = Unknown(f"inside CT {ctid}: {exc}")
        return cpus_seen, failure, failure
    processes = []
    owners: dict[int, tuple[str, bool]] = {}  # socket inode -> (program, is a JVM)
    for name, lines in parts:
        if name.startswith("proc "):
            process = _java_process(int(name[5:]), lines, listening)
            if process is not None and process.pid in samples:
                age, threads = _threads(process.pid, samples[process.pid])
                process = replace(process, age_seconds=age, threads=threads)
            if process is not None:
                processes.append(process)
                if isinstance(process.listeners, tuple):
                    owners.update((s.inode, ("java", True)) for s in process.listeners)
        elif name.startswith("sock "):
            program, inodes = _socket_owner(int(name[5:]), lines)
            owners.update((inode, (program, False)) for inode in inodes if inode not in owners)
    ports = tuple(sorted(
        {OpenPort(s.family, s.address, s.port, *owners.get(s.inode, (None, False)))
         for s in listening},
        key=lambda p: (p.port, p.family, p.address, p.program or "")))
    return cpus_seen, tuple(processes), ports


def _socket_owner(pid: int, lines: list[str]) -> tuple[str, set[int]]:
    """Two lines: the process's stat line as hex (its name is in it), its socket inodes."""
    if len(lines) < 2:
        raise InsideError(f"sockets of process {pid}: {len(lines)} lines, expected 2")
    stat = _unhex(lines[0], "stat").decode("utf-8", "replace")
    program = stat[stat.find("(") + 1 : stat.rfind(")")] if "(" in stat and ")" in stat else ""
    return program or f"pid {pid}", {int(word) for word in lines[1].split() if word.isdigit()}


def _threads(pid: int, lines: list[str]) -> tuple[float, tuple[ThreadSample, ...]]:
    """``uptime clk_tck``, the process's stat line, then ``tid wchan switches stat`` lines."""
    try:
        uptime, ticks_per_second = lines[0].split()
        process = _stat_fields(lines[1])
        age = float(uptime) - int(process[19]) / int(ticks_per_second)  # field 22: starttime
        threads = []
        for line in lines[2:]:
            if not line.strip():
                continue
            tid, wchan, switches, stat = line.split(" ", 3)
            fields = _stat_fields(stat)
            threads.append(ThreadSample(
                tid=int(tid), name=stat[stat.index("(") + 1 : stat.rindex(")")],
                state=fields[0], cpu_ticks=int(fields[11]) + int(fields[12]), wchan=wchan,
                voluntary_switches=int(switches),
            ))
    except (ValueError, IndexError) as exc:
        raise InsideError(f"threads of process {pid}: {exc}") from exc
    return round(max(age, 0.0), 2), tuple(threads)


def _stat_fields(stat: str) -> list[str]:
    """/proc/PID/stat after the comm field, which may hold spaces and parentheses."""
    return stat[stat.rindex(")") + 2 :].split()


def _unhex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError as exc:
        raise InsideError(f"{what} is not hex") from exc


def _java_process(pid: int, lines: list[str], listening: tuple[Listener, ...]) -> JavaProcess | None:
    """Four lines: exe, argv and environ as hex, then the socket inodes of its fds."""
    if len(lines) < 4:
        raise InsideError(f"process {pid}: {len(lines)} lines, expected 4")
    exe = _unhex(lines[0], "exe").decode("utf-8", "replace")
    argv = tuple(arg.decode("utf-8", "replace")
                 for arg in _unhex(lines[1], "argv").split(b"\0")[:-1] or [b""])
    environ = dict(
        item.decode("utf-8", "replace").partition("=")[::2]
        for item in _unhex(lines[2], "environ").split(b"\0") if b"=" in item
    )
    sockets = {int(word) for word in lines[3].split(" ") if word.isdigit()}
    if not is_jvm(argv, exe):
        return None
    listeners = tuple(sorted((s for s in listening if s.inode in sockets),
                             key=lambda s: (s.port, s.family, s.address)))
    java_env = {name: environ[name] for name in JVM_OPTION_VARIABLES if name in environ}
    return JavaProcess(pid=pid, argv=argv, jvm_options=jvm_options(argv, java_env),
                       listeners=listeners, java_env=java_env)


def _failed(value: Section | Unknown, what: str) -> Unknown:
    if isinstance(value, Unknown):
        return value
    if value.status == 0:
        return Unknown(f"{what} printed nothing")
    return value.failure(what)


def _positive_int(value: Section | Unknown, what: str) -> int | Unknown:
    if isinstance(value, Unknown) or value.status != 0:
        return _failed(value, what)
    return _int_or_unknown(value.stdout, what)


def _int_or_unknown(text: str, what: str) -> int | Unknown:
    words = text.split()
    if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
        return Unknown(f"{what} printed {text.strip()[:60]!r}, not a CPU count")
    return int(words[0])
