"""A node_exporter textfile (Prometheus text format 0.0.4): the fleet's readiness for the
wave on a dashboard. Write it with ``-o /var/lib/node_exporter/textfile/havengate.prom``
(havengate writes the whole file, never a half)."""

from __future__ import annotations

from datetime import datetime

from havengate.model import NodeSummary, PairResult, Report

_METRICS = (
    ("havengate_container_verdict", "The gate's verdict for a container moving from node to "
                                    "peer (1 for the verdict it has)."),
    ("havengate_pair_verdict", "The verdict of a node and its peer, over its containers."),
    ("havengate_plan_containers", "Containers per action of the upgrade plan."),
    ("havengate_scan_nodes", "Nodes the scan probed."),
    ("havengate_scan_nodes_unreachable", "Nodes the scan could not read (their pairs are "
                                         "unknown)."),
    ("havengate_scan_duration_seconds", "How long the scan took."),
    ("havengate_scan_timestamp_seconds", "When the scan ended (Unix time)."),
)


def render_prometheus(report: Report) -> str:
    pairs = report.pairs or (_as_pair(report),)
    samples: dict[str, list[str]] = {name: [] for name, _ in _METRICS}
    for pair in pairs:
        node, peer = pair.source.host, pair.target.host
        for container in pair.containers:
            samples["havengate_container_verdict"].append(_sample(
                "havengate_container_verdict", 1, node=node, peer=peer, ctid=container.ctid,
                verdict=str(container.verdict)))
        samples["havengate_pair_verdict"].append(_sample(
            "havengate_pair_verdict", 1, node=node, peer=peer, verdict=str(pair.verdict)))
    fleet = report.fleet
    for action, count in sorted((fleet.plan if fleet else {}).items()):
        samples["havengate_plan_containers"].append(
            _sample("havengate_plan_containers", count, action=action))
    nodes = fleet.nodes if fleet else len({p.source.host for p in pairs} |
                                          {p.target.host for p in pairs})
    unreachable = fleet.nodes_unreachable if fleet else sum(
        1 for node in {p.source for p in pairs} | {p.target for p in pairs}
        if node.error and node.kernel is None)
    samples["havengate_scan_nodes"].append(_sample("havengate_scan_nodes", nodes))
    samples["havengate_scan_nodes_unreachable"].append(
        _sample("havengate_scan_nodes_unreachable", unreachable))
    if report.duration_seconds is not None:
        samples["havengate_scan_duration_seconds"].append(
            _sample("havengate_scan_duration_seconds", report.duration_seconds))
    samples["havengate_scan_timestamp_seconds"].append(_sample(
        "havengate_scan_timestamp_seconds",
        datetime.fromisoformat(report.generated_at).timestamp()))
    lines = []
    for name, text in _METRICS:
        if samples[name]:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", *samples[name]]
    return "\n".join(lines) + "\n"


def _as_pair(report: Report) -> PairResult:
    """A check (one source, one target) seen as a fleet of one pair."""
    unnamed = NodeSummary("-", None, None, None, None, None)
    return PairResult(source=report.source or unnamed, target=report.target or unnamed,
                      planned=False, verdict=report.verdict, containers=report.containers,
                      errors=report.errors, plan=(), totals={})


def _sample(name: str, value: float, **labels: str) -> str:
    inside = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return f"{name}{{{inside}}} {number}" if labels else f"{name} {number}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
