"""The operator's view: one table read at a glance, then what to do about each problem."""

from __future__ import annotations

from havengate.model import (
    ContainerResult,
    NodeSummary,
    PairResult,
    PatchSummary,
    Report,
    Severity,
)

_VERDICT_WORDS = {"go": "GO", "no-go": "NO-GO", "unknown": "UNKNOWN", "patched": "PATCHED"}
_HEADERS = ("CT", "HOSTNAME", "JAVA", "CPUS SEEN", "CPUS/MASK", "VERDICT", "FIX")


def render_text(report: Report) -> str:
    if report.command in ("patch", "revert"):
        return _render_patches(report)
    if report.command == "verify":
        return _render_verify(report)
    if report.command == "migrate":
        return _render_migrate(report)
    if report.command == "scan":
        return _render_scan(report)
    lines = [_node_line("source", report.source), _node_line("target", report.target), ""]
    if report.containers:
        lines.extend(_table([_HEADERS, *(_row(c) for c in report.containers)]))
        details = [_details(c) for c in report.containers]
        details = [d for d in details if d]
        if details:
            lines.append("")
            lines.extend(line for block in details for line in block)
    else:
        lines.append("no containers assessed")
    if report.errors:
        lines.append("")
        lines.append("could not assess:")
        lines.extend(f"  - {error}" for error in report.errors)
    if report.notes:
        lines.append("")
        lines.extend(f"note: {note}" for note in report.notes)
    lines.append("")
    lines.append(_summary(report))
    return "\n".join(_printable(line) for line in lines) + "\n"


def _node_line(role: str, node: NodeSummary | None) -> str:
    if node is None:
        return f"{role}: -"
    if node.kernel is None and node.error:
        return f"{role}: {node.host}  UNAVAILABLE: {node.error}"
    cpus = "?" if node.cpus is None else node.cpus
    return (f"{role}: {node.host}  kernel {node.kernel or '?'}  "
            f"{cpus} CPUs  vzctl {node.vzctl or '?'}")


def _row(container: ContainerResult) -> tuple[str, ...]:
    java = {True: "yes", False: "no", None: "?"}[container.java]
    if container.java and container.status != "running":
        java += " (files)"
    now = "?" if container.cpus_seen_now is None else str(container.cpus_seen_now)
    after = "?" if container.cpus_seen_after is None else str(container.cpus_seen_after)
    return (
        container.ctid,
        container.hostname or "-",
        java,
        f"{now} -> {after}",
        f"{container.cpus}/{container.cpumask}",
        _VERDICT_WORDS.get(container.verdict, container.verdict),
        container.fix or "-",
    )


def _printable(text: str) -> str:
    """Values from nodes (hostnames, argv) must not drive the operator's terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns as wide as their widest cell; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


_VERIFY_WORDS = {"verified": "VERIFIED", "failed": "FAILED", "unknown": "UNKNOWN"}


def _render_verify(report: Report) -> str:
    rows = [("CT", "HOSTNAME", "CHECKS", "VERDICT", "WHY")]
    for container in report.containers:
        passed = sum(1 for c in container.checks if c.ok)
        why = next((f.message.split(":")[0] for f in container.findings
                    if f.severity >= Severity.UNKNOWN), "-")
        rows.append((container.ctid, container.hostname or "-",
                     f"{passed}/{len(container.checks)} ok",
                     _VERIFY_WORDS.get(container.verdict, container.verdict), why))
    lines = [_node_line("target", report.target), "", *_table(rows)]
    for container in report.containers:
        lines.append("")
        lines.append(f"CT {container.ctid} ({container.hostname or 'no hostname'}): "
                     f"{_VERIFY_WORDS.get(container.verdict, container.verdict)}")
        for check in container.checks:
            mark = {True: "ok  ", False: "FAIL", None: "?   "}[check.ok]
            lines.append(f"  {mark} {check.kind:<7} {check.target}: {check.detail}")
        for finding in container.findings:
            lines.append(f"  {finding.rule} {finding.message}")
            lines.extend(f"      - {item}" for item in finding.evidence)
            if finding.remediation:
                lines.append(f"      fix: {finding.remediation}")
        if container.patch:
            patch = container.patch
            lines.append(f"  remediation {patch.status}" + (f": {_changes(patch)}" if patch.changes
                                                            else "")
                         + (f"; journal {patch.journal_id}" if patch.journal_id else ""))
            lines.extend(f"      - {note}" for note in patch.notes)
    if report.errors:
        lines += ["", "could not assess:", *(f"  - {error}" for error in report.errors)]
    lines += ["", f"verdict: {_VERIFY_WORDS.get(report.verdict, report.verdict.upper())} "
                  f"(exit {report.exit_code})"]
    return "\n".join(_printable(line) for line in lines) + "\n"


def _render_patches(report: Report) -> str:
    host = report.source.host if report.source else "?"
    rows = [("CT", "RESULT", "METHOD", "CHANGE", "JOURNAL")]
    for container in report.containers:
        patch = container.patch
        if patch is None:
            continue
        rows.append((container.ctid, patch.status, patch.method or "-", _changes(patch) or "-",
                     patch.journal_id or "-"))
    lines = [f"{report.command} on {host}", "", *_table(rows)]
    for container in report.containers:
        if container.patch and (container.patch.notes or container.patch.diff):
            lines.append("")
            lines.append(f"CT {container.ctid}:")
            lines.extend(f"  - {note}" for note in container.patch.notes)
            if container.patch.diff:
                lines.extend(f"  {line}" for line in container.patch.diff.splitlines())
    counts: dict[str, int] = {}
    for container in report.containers:
        if container.patch:
            counts[container.patch.status] = counts.get(container.patch.status, 0) + 1
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines += ["", f"verdict: {_VERDICT_WORDS.get(report.verdict, report.verdict)} "
                  f"(exit {report.exit_code}; {done})"]
    return "\n".join(_printable(line) for line in lines) + "\n"


def _changes(patch: PatchSummary) -> str:
    return ", ".join(f"{c.key} {c.before if c.before is not None else '(unset)'} -> {c.after}"
                     for c in patch.changes)


def _details(container: ContainerResult) -> list[str]:
    shown = [f for f in container.findings if f.severity >= Severity.WARNING]
    if not shown and not container.patch:
        return []
    lines = [f"CT {container.ctid} ({container.hostname or 'no hostname'}): "
             f"{_VERDICT_WORDS.get(container.verdict, container.verdict)}"]
    patch = container.patch
    if patch:
        lines.append(f"  auto-patch {patch.status}" + (f" ({patch.method})" if patch.method else "")
                     + (f": {_changes(patch)}" if patch.changes else "")
                     + (f"; journal {patch.journal_id}" if patch.journal_id else ""))
        lines.extend(f"      - {note}" for note in patch.notes)
        lines.extend(f"      {line}" for line in patch.diff.splitlines())
    for finding in shown:
        lines.append(f"  {finding.rule} {finding.severity.label}: {finding.message}")
        lines.extend(f"      - {item}" for item in finding.evidence)
        if finding.remediation:
            lines.append(f"      fix: {finding.remediation}")
    return lines


def _summary(report: Report) -> str:
    counts: dict[str, int] = {}
    for container in report.containers:
        counts[container.verdict] = counts.get(container.verdict, 0) + 1
    parts = ", ".join(f"{n} {_VERDICT_WORDS.get(v, v).lower()}" for v, n in sorted(counts.items()))
    return (f"verdict: {_VERDICT_WORDS.get(report.verdict, report.verdict)} "
            f"(exit {report.exit_code}; policy {report.policy}"
            + (f"; {parts}" if parts else "") + ")")


def _render_migrate(report: Report) -> str:
    """A wave at a glance: each container's verdict and its phases, then why."""
    lines = [_node_line("source", report.source), _node_line("target", report.target), ""]
    rows = [("CT", "HOSTNAME", "VERDICT", "PHASES")]
    for container in report.containers:
        phases = " -> ".join(
            f"{step.name} {step.outcome}"
            + (f" {step.seconds:.1f}s" if step.seconds is not None else "")
            for step in container.steps)
        rows.append((container.ctid, container.hostname or "-",
                     container.verdict.value.upper(), phases or "-"))
    lines.extend(_table(rows))
    for container in report.containers:
        if container.verdict.value in ("verified",) and not container.findings:
            continue
        lines.append("")
        lines.append(f"CT {container.ctid}: {container.verdict.value.upper()}")
        lines.extend(f"  {step.name}: {step.outcome}: {step.detail}" for step in container.steps
                     if step.detail)
        for finding in container.findings:
            lines.append(f"  {finding.rule} {finding.severity.label}: {finding.message}")
        if container.fix:
            lines.append(f"  fix: {container.fix}")
    if report.errors:
        lines += ["", "could not assess:", *(f"  - {error}" for error in report.errors)]
    if report.notes:
        lines += ["", *(f"note: {note}" for note in report.notes)]
    lines += ["", f"verdict: {report.verdict.value} (exit {int(report.exit_code)})"]
    return "\n".join(_printable(line) for line in lines) + "\n"


def _render_scan(report: Report) -> str:
    """The fleet as a plan: per pair, each container's verdict and what the wave does with
    it (the line to run when it must be patched first), then the totals."""
    lines: list[str] = []
    fleet = report.fleet
    for pair in report.pairs:
        lines.append(f"{_pair_title(pair)}  {_VERDICT_WORDS.get(pair.verdict, pair.verdict)}")
        if pair.containers:
            rows = [("  CT", "HOSTNAME", "JAVA", "CPUS SEEN", "VERDICT", "PLAN", "HOW / WHY")]
            for container, entry in zip(pair.containers, pair.plan, strict=True):
                row = _row(container)
                rows.append((f"  {container.ctid}", row[1], row[2], row[3], row[5],
                             entry.action, entry.command or entry.why))
            lines.extend(_table(rows))
        lines.extend(f"  could not assess: {error}" for error in pair.errors)
        lines.append("")
    if fleet is not None:
        if fleet.unreachable:
            lines.append(f"nodes not read ({fleet.nodes_unreachable} of {fleet.nodes}):")
            lines.extend(f"  - {why}" for why in fleet.unreachable)
            lines.append("")
        totals = ", ".join(f"{n} {v}" for v, n in sorted(fleet.totals.items())) or "none"
        plan = ", ".join(f"{n} {a}" for a, n in sorted(fleet.plan.items())) or "nothing"
        lines.append(f"fleet: {fleet.nodes} node(s), {fleet.pairs} pair(s), "
                     f"{fleet.containers} container(s): {totals}")
        lines.append(f"plan: {plan}")
    lines.extend(f"note: {note}" for note in report.notes)
    lines.append(f"verdict: {_VERDICT_WORDS.get(report.verdict, report.verdict)} "
                 f"(exit {report.exit_code}; policy {report.policy})")
    return "\n".join(_printable(line) for line in lines) + "\n"


def _pair_title(pair: PairResult) -> str:
    def side(node: NodeSummary) -> str:
        if node.kernel is None and node.error:
            return f"{node.host} (UNAVAILABLE)"
        cpus = "?" if node.cpus is None else node.cpus
        return f"{node.host} ({node.kernel or '?'}, {cpus} CPUs)"

    return f"{side(pair.source)} -> {side(pair.target)}"
