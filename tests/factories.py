"""Facts built in tests the way the parsers build them (from CTID.conf text and kernel strings)."""

from __future__ import annotations

from havengate.facts.ctconf import parse_ctid_conf
from havengate.facts.kernel import parse_kernel_release
from havengate.facts.model import Container, JavaProcess, Listener, NodeFacts, OpenPort
from havengate.model import Unknown


def jvm(*flags: str, pid: int = 57, ports: tuple[int, ...] = (61616,)) -> JavaProcess:
    argv = ("/usr/bin/java", *flags, "-jar", "run.jar")
    return JavaProcess(
        pid=pid, argv=argv, jvm_options=flags,
        listeners=tuple(Listener("tcp6", "::", port, 1000 + port) for port in ports),
    )


def container(ctid: str = "101", conf: str = 'CPUS="1"\n', *, running: bool = True,
              jvms: tuple[JavaProcess, ...] | Unknown = (), files: tuple[str, ...] = (),
              cpus_seen: int | Unknown = 4, others: tuple[OpenPort, ...] = ()) -> Container:
    """A container as the probe reports it: ``listening`` is every JVM's port plus
    ``others`` (ports of programs that are not Java)."""
    listening: tuple[OpenPort, ...] | Unknown = Unknown("not running")
    if running and isinstance(jvms, Unknown):
        listening = jvms
    elif running:
        listening = tuple(OpenPort(s.family, s.address, s.port, "java", True)
                          for process in jvms if isinstance(process.listeners, tuple)
                          for s in process.listeners) + others
    return Container(
        ctid=ctid,
        status="running" if running else "stopped",
        hostname=f"ct{ctid}",
        private=f"/vz/private/{ctid}",
        conf=parse_ctid_conf(conf, ctid),
        cpus_seen=cpus_seen if running else Unknown("not running"),
        java_processes=jvms if running else Unknown("not running"),
        java_files=files,
        listening=listening,
    )


def node(kernel: str = "2.6.32-042stab134.8", cpus: int | Unknown = 4,
         vzctl: tuple[int, ...] | None = (4, 9, 4), containers: tuple[Container, ...] = (),
         host: str = "slave") -> NodeFacts:
    return NodeFacts(
        host=host, collected_at="2026-11-25T00:00:00+00:00",
        kernel=parse_kernel_release(kernel), cpus=cpus, vzctl_version=vzctl,
        containers=containers, vz_conf=None,
    )


def master(*containers: Container) -> NodeFacts:
    return node("2.6.24-12-pve", 4, (3, 0, 24), containers, host="master")
