"""Small helpers the rules share (wording and fact reading, never a verdict)."""

from __future__ import annotations

from havengate.facts.model import Container, Unknown

CPUMASK_MIN_VZCTL = (3, 0, 26)  # first vzctl with --cpumask / CPUMASK


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def describe_cpus(cpus: int | Unknown) -> str:
    return "an unknown number of CPUs" if isinstance(cpus, Unknown) else f"any of {cpus} CPUs"


def java_evidence(container: Container) -> tuple[bool | None, list[str]]:
    """(is it a Java workload, the evidence); None when it could not be told."""
    if container.running:
        processes = container.java_processes
        if isinstance(processes, Unknown):
            return None, [f"Java processes unknown: {processes.reason}"]
        lines = [
            f"JVM pid {p.pid}: {' '.join(p.argv)[:160]}"
            + (" (-XX:+AssumeMP)" if p.assumes_mp else "")
            for p in processes
        ]
        return bool(processes), lines
    files = container.java_files
    if isinstance(files, Unknown):
        return None, [f"Java files unknown: {files.reason}"]
    lines = [f"stopped; private area has {entry}" for entry in files]
    return bool(files), lines
