"""Small helpers the rules share (wording and fact reading, never a verdict)."""

from __future__ import annotations

from havengate.facts.model import Container
from havengate.model import Unknown

CPUMASK_MIN_VZCTL = (3, 0, 26)  # first vzctl with --cpumask / CPUMASK


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def describe_cpus(cpus: int | Unknown) -> str:
    return "an unknown number of CPUs" if isinstance(cpus, Unknown) else f"any of {cpus} CPUs"


def java_evidence(container: Container) -> tuple[bool | None, list[str]]:
    """(is it a Java workload, the evidence); None when it could not be told.

    A running container without a JVM right now still counts as Java when Java is
    installed: the move restarts it, and its init scripts start the JVM on the target.
    """
    files = container.java_files
    if container.running:
        processes = container.java_processes
        if isinstance(processes, Unknown):
            return None, [f"Java processes unknown: {processes.reason}"]
        if processes:
            return True, [
                f"JVM pid {p.pid}: {' '.join(p.argv)[:160]}"
                + (" (-XX:+AssumeMP)" if p.assumes_mp else "")
                for p in processes
            ]
        if isinstance(files, Unknown):
            return None, [f"no JVM runs now and its files could not be checked: {files.reason}"]
        return bool(files), [f"no JVM runs now, but Java is installed ({entry}): it would "
                             "start again after the move" for entry in files]
    if isinstance(files, Unknown):
        return None, [f"Java files unknown: {files.reason}"]
    return bool(files), [f"stopped; private area has {entry}" for entry in files]
