"""No wrong go, no silent corruption (issue 7): each class of bad input, on text and files.

The lab scenarios are in test_trust.py; these are the pure and in-process halves, several
as property tests over a family of inputs (fixed seed in CI; `-m slow` runs more examples).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import time
from pathlib import Path

import paramiko
import pytest
from factories import container, jvm, master, node
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from havengate.act.journal import Journal
from havengate.act.plan import PatchSettings, Strategy
from havengate.act.vet import multicore_2632, refuse_unsafe
from havengate.assess import assess
from havengate.cli import main
from havengate.decide import PolicyConfig, decide
from havengate.errors import JournalError, PlanRefused, TransportError, UsageError
from havengate.facts.ctconf import GLOBAL_CONF_VEID, on_node, parse_ctid_conf
from havengate.facts.probe import probe_script
from havengate.model import Unknown
from havengate.transport.address import split_destination
from havengate.transport.base import Result
from havengate.transport.ssh import append_line
from havengate.verify.expect import Expectation, load_expectations
from havengate.verify.run import verify

EXAMPLES = Path(__file__).parent.parent / "examples"
MASTER = EXAMPLES / "master-2.6.24.facts.json"
SLAVE = EXAMPLES / "slave-2.6.32.facts.json"
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
MANY = settings(PROPERTY, max_examples=1500, derandomize=False)  # -m slow


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def verdicts(report_text: str) -> dict[str, str]:
    return {c["ctid"]: c["verdict"] for c in json.loads(report_text)["containers"]}


# ----- 1. nothing is cut silently

def test_the_probe_reads_inputs_whole():
    """No byte, line, column or depth limit on what decides a verdict (CTID.conf, the
    cmdline that says "java", the files and init scripts of a stopped container)."""
    for limit in (r"head -c", r"cut -c", r"head -n"):
        assert not re.search(limit, probe_script()), limit
    depth_limits = re.findall(r"^.*-maxdepth.*$", probe_script(), re.MULTILINE)
    assert all("havengate-probe." in line for line in depth_limits)  # the /tmp sweep only


# ----- 2. facts files are re-derived from their raw values

def _lie(document: dict, where: str, value) -> dict:
    changed = copy.deepcopy(document)
    target = changed["node"]
    *path, last = where.split(".")
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return changed


LIES = [
    ("kernel.family", st.sampled_from(["2.6.18-openvz", "2.6.24-openvz", "unrecognised"])),
    ("kernel.visibility", st.sampled_from(["all-host-cpus", "virtual-cpus", "unknown"])),
    ("kernel.version", st.lists(st.integers(0, 40), min_size=3, max_size=3)),
    ("containers.0.conf.cpus", st.one_of(st.none(), st.integers(2, 64))),
    ("containers.0.conf.cpumask", st.sampled_from([None, {"text": "0", "cpus": [0]},
                                                    {"text": "all", "cpus": None}])),
    ("containers.0.conf.values", st.just({"CPUS": "2"})),
    ("containers.2.conf.cpus", st.integers(2, 8)),
    ("containers.0.java_processes.0.jvm_options",
     st.just(["-Xmx512m", "-Dactivemq.home=/opt/activemq", "-XX:+AssumeMP"])),
]


LIE = st.sampled_from(LIES).flatmap(lambda item: st.tuples(st.just(item[0]), item[1]))
SIDE = st.sampled_from(["source", "target"])


@PROPERTY
@given(lie=LIE, side=SIDE)
def test_a_facts_file_whose_derived_fields_lie_is_refused(capsys, tmp_path_factory, lie, side):
    lying_facts_file(capsys, tmp_path_factory, lie, side)


@pytest.mark.slow
@MANY
@given(lie=LIE, side=SIDE)
def test_a_facts_file_whose_derived_fields_lie_is_refused_many(capsys, tmp_path_factory, lie,
                                                               side):
    lying_facts_file(capsys, tmp_path_factory, lie, side)


def lying_facts_file(capsys, tmp_path_factory, lie, side) -> None:
    """Refused (exit 2, naming the field), or the lie was the truth: same verdicts."""
    where, value = lie
    honest = {"source": json.loads(MASTER.read_text()), "target": json.loads(SLAVE.read_text())}
    if side == "target" and where.startswith("containers"):
        side = "source"
    _, truth, _ = run(capsys, "check", "--source-facts", str(MASTER), "--target-facts", str(SLAVE),
                      "--format", "json")
    path = tmp_path_factory.mktemp("lie") / f"{side}.json"
    try:
        path.write_text(json.dumps(_lie(honest[side], where, value)))
    except (IndexError, KeyError):
        return
    files = {"source": MASTER, "target": SLAVE, side: path}
    code, out, err = run(capsys, "check", "--source-facts", str(files["source"]),
                         "--target-facts", str(files["target"]), "--format", "json")
    if code == 2:
        assert where.rsplit(".", 1)[-1] in err and "Traceback" not in err
    else:  # a "lie" that happens to be the truth changes nothing
        assert verdicts(out) == verdicts(truth), (where, value, err)


def test_an_unknown_container_list_is_never_go(capsys, tmp_path):
    document = json.loads(MASTER.read_text())
    document["node"]["containers"] = {"unknown": "vzlist: exit 3"}
    document["node"]["errors"] = []  # the file hides it; the value itself says it
    path = tmp_path / "master.json"
    path.write_text(json.dumps(document))
    code, out, _ = run(capsys, "check", "--source-facts", str(path), "--target-facts", str(SLAVE),
                       "--format", "json")
    report = json.loads(out)
    assert (code, report["verdict"]) == (3, "unknown")
    assert any("containers" in error for error in report["errors"])


def test_a_node_without_containers_is_go_only_with_a_line_saying_so(capsys, tmp_path):
    document = json.loads(MASTER.read_text())
    document["node"]["containers"] = []
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(document))
    code, out, _ = run(capsys, "check", "--source-facts", str(path), "--target-facts", str(SLAVE))
    assert code == 0
    assert "note: nothing was assessed: master.example.net lists no containers" in out


# ----- 3. a patch is judged with its planned values first

@pytest.mark.parametrize(("settings_", "refused"), [
    (PatchSettings(Strategy.CPUMASK, cpumask="0-3"), True),
    (PatchSettings(Strategy.CPUMASK, cpumask="all"), True),
    (PatchSettings(Strategy.CPUS, cpus=1), True),
    (PatchSettings(Strategy.CPUMASK, cpumask="0"), False),
    (PatchSettings(Strategy.CPUMASK, cpumask="3"), False),
    (PatchSettings(Strategy.CPUS, cpus=2), False),
    (PatchSettings(Strategy.BOTH, cpus=1, cpumask="1"), False),
])
def test_plans_that_leave_the_container_at_risk_are_refused(settings_, refused):
    source = master(container("101", 'CPUS="1"\n', jvms=(jvm(),)))
    target = node(cpus=4)
    for judged_on in (target, multicore_2632(4)):
        if refused:
            with pytest.raises(PlanRefused, match="HG001"):
                refuse_unsafe(source, judged_on, {"101": settings_}, force=False)
            assert refuse_unsafe(source, judged_on, {"101": settings_}, force=True)
        else:
            assert refuse_unsafe(source, judged_on, {"101": settings_}, force=False) == []


def test_cpus_has_the_schemas_bounds(capsys):
    code, _, err = run(capsys, "patch", "101", "--host", "master", "--cpus", "5000")
    assert code == 2 and "1-4096" in err


# ----- 4. revert trusts no byte the journal's digest does not vouch for

def _journal_with_start(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path)
    journal.start(node="master", ctid="101", path="/etc/vz/conf/101.conf", rule="HG001",
                  strategy="cpumask", method="edit",
                  changes=[{"key": "CPUMASK", "before": None, "after": "0"}],
                  previous=b'CPUS="1"\n', intended_sha256="b" * 64, mode="644", uid=0, gid=0)
    return journal


@pytest.mark.parametrize("altered", [base64.b64encode(b'CPUS="1"\nX=1\n').decode(), "not*base64"])
def test_a_journal_whose_bytes_do_not_match_their_digest_is_refused(tmp_path, altered):
    journal = _journal_with_start(tmp_path)
    event = json.loads(journal.path.read_text())
    event["previous"]["base64"] = altered
    journal.path.write_text(json.dumps(event) + "\n")
    with pytest.raises(JournalError, match="journal") as caught:
        journal.entries()
    assert caught.value.exit_code == 2


# ----- 5. known_hosts: our line on a line of its own

def test_append_line_never_glues_onto_a_last_line_without_newline(tmp_path):
    known = tmp_path / "known_hosts"
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8"
    first = f"[127.0.0.1]:2201 ssh-ed25519 {key}"
    known.write_text(first)
    known.chmod(0o604)
    second = first.replace("2201", "2202")
    append_line(known, (second + "\n").encode())
    append_line(known, (second.replace("2202", "2203") + "\n").encode())
    assert known.read_text().splitlines() == [first, second, second.replace("2202", "2203")]
    assert known.stat().st_mode & 0o777 == 0o604
    assert len(paramiko.HostKeys(str(known))) == 3


# ----- 9. bad input is a usage error (exit 2), never "internal error" (exit 3)

def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("kind", ["nested", "zero", "fifo", "directory", "huge-number"])
def test_odd_facts_files_are_usage_errors(capsys, tmp_path, kind):
    path = tmp_path / "facts.json"
    if kind == "nested":
        path.write_text('{"schema": "havengate.facts/1", "node": ' + _nested(100000) + "}")
    elif kind == "zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path
    else:
        path.write_text("1" * 5000)
    code, _, err = run(capsys, "check", "--source-facts", str(path), "--target-facts", str(SLAVE))
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err and str(path) in err


@pytest.mark.parametrize(("argv", "says"), [
    (["check", "--source", "", "--target-facts", str(SLAVE)], "invalid host"),
    (["patch", "101", "--host", "m", "--lock-wait", "1e300"], "at most"),
    (["patch", "101", "--host", "m", "--target-cpus", "0"], "1-4096"),
    (["check", "--source", "root@[::1", "--target", "x"], "invalid host"),
    (["check", "--timeout", "abc", "--source", "m", "--target", "s"], "'abc' is not a number"),
    (["check", "--format", "xml", "--source", "m", "--target", "s"], "invalid choice: 'xml'"),
    (["revert", "101", "--host", "m", "--format", "prometheus"], "invalid choice: 'prometheus'"),
    (["--bogus", "check"], "unrecognized arguments: --bogus: the COMMAND comes first"),
    (["scan"], "the following arguments are required: --inventory/-i"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, says):
    code, _, err = run(capsys, *argv)
    assert code == 2 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err  # the reason, not buried under usage


def test_ssh_config_with_a_port_that_is_no_number_is_a_usage_error(capsys, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host bad\n  HostName 127.0.0.1\n  Port notanumber\n")
    code, _, err = run(capsys, "facts", "bad", "--ssh-config", str(config))
    assert code == 2 and "notanumber" in err


def test_a_lone_surrogate_from_a_facts_file_cannot_break_junit(capsys, tmp_path):
    document = json.loads(MASTER.read_text())
    document["node"]["containers"][0]["hostname"] = "bad\udc80host"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    for fmt in ("junit", "text", "json"):
        code, out, err = run(capsys, "check", "--source-facts", str(path), "--target-facts",
                             str(SLAVE), "--format", fmt)
        assert code == 1 and out and "internal error" not in err


TOKENS = st.sampled_from([
    "--policy", "block", "warn", "patch", "--format", "junit", "json", "text", "--strategy",
    "--cpumask", "--cpus", "--timeout", "--command-timeout", "--connect-timeout", "-o",
    "--state-dir", "--unrecognised-kernel", "101", "0", "-1", "007", "1e300", "nan", "inf",
    "", "x;rm -rf /", "$(id)", "\n", "\udc80", "--no-baseline", "--dry-run", "-q", "-v",
    "--config", "/dev/zero", "/nonexistent", "all", "0-3", "--lock-wait",
])


@PROPERTY
@given(extra=st.lists(TOKENS, max_size=8))
def test_random_arguments_never_end_in_a_traceback_or_exit_3(capsys, tmp_path_factory, extra):
    random_arguments(capsys, tmp_path_factory, extra)


@pytest.mark.slow
@MANY
@given(extra=st.lists(TOKENS, max_size=12))
def test_random_arguments_never_end_in_a_traceback_or_exit_3_many(capsys, tmp_path_factory,
                                                                  extra):
    random_arguments(capsys, tmp_path_factory, extra)


def random_arguments(capsys, tmp_path_factory, extra) -> None:
    state = tmp_path_factory.mktemp("state")
    argv = ["check", "--source-facts", str(MASTER), "--target-facts", str(SLAVE),
            "--state-dir", str(state), *extra]
    here = os.getcwd()
    os.chdir(state)  # "-o json" writes a file named json: never into the checkout
    try:
        code, _, err = run(capsys, *argv)
    finally:
        os.chdir(here)
    assert code in (0, 1, 2), (argv, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)


# ----- 10. verify keeps its one deadline

class HangingNode:
    """A target whose every command hangs until the timeout it was given: what a silent TCP
    port or a stuck `vzctl exec2` looks like from here."""

    name = "hanging"

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []  # (started, timeout given)

    def run(self, command: str, *, timeout: float) -> Result:
        self.calls.append((time.monotonic(), timeout))
        time.sleep(timeout)
        raise TransportError(self.name, f"command timed out after {timeout:g} s")

    def close(self) -> None:
        """Nothing to close."""


def test_every_wait_of_verify_is_clipped_to_the_time_left():
    hanging = HangingNode()
    deadline = 3.0
    started = time.monotonic()
    run_ = verify(hanging, [Expectation("101", (61616,), (), (), "test")], deadline=deadline)
    end = started + deadline
    assert run_.error and hanging.calls
    for call_started, timeout in hanging.calls:
        assert call_started + timeout <= end + 0.05  # never asked to wait past the deadline


# ----- 11. baselines are what their names say

def _baseline(ctid: str) -> dict:
    return {"schema": "havengate.baseline/1", "tool": "havengate", "version": "0.1.0",
            "ctid": ctid, "source_host": "master", "recorded_at": "2026-11-30T00:00:00+00:00",
            "hostname": None, "ip_addresses": [], "cpus_seen": 4, "java_ports": []}


@pytest.mark.parametrize(("name", "ctid", "says"), [
    ("07370.json", "7370", "not a baseline name"),
    ("102.json", "101", "records CT 101, not CT 102"),
])
def test_misnamed_baselines_are_refused(tmp_path, name, ctid, says):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / name).write_text(json.dumps(_baseline(ctid)))
    with pytest.raises(UsageError, match=says):  # every baseline in the state directory
        load_expectations((), tmp_path, (), {})
    if not name.startswith("0"):  # the CT named: its file is read, and must be its own
        with pytest.raises(UsageError, match=says):
            load_expectations((Path(name).stem,), tmp_path, (), {})


# ----- 12. messages say what happened

def test_ipv6_destinations_are_named_as_written():
    assert str(split_destination("root@[::1]:22")) == "root@[::1]:22"
    assert split_destination("[::1]:2222").port == 2222


def test_a_time_without_zone_is_called_that(capsys, tmp_path):
    document = json.loads(MASTER.read_text())
    document["node"]["collected_at"] = "2026-11-20T09:00:00"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    _, _, err = run(capsys, "check", "--source-facts", str(path), "--target-facts", str(SLAVE))
    assert "has no time zone" in err and "not a time" not in err


# ----- 13. the target's vz.conf fills what CTID.conf does not set

VZ_CONF = parse_ctid_conf('VE_ROOT="/vz/root/$VEID"\nCPUS="1"\nCPUMASK="0-3"\n', GLOBAL_CONF_VEID)


def test_vz_conf_supplies_only_what_the_container_does_not_set():
    own = parse_ctid_conf('CPUS="2"\n', "101")
    merged = on_node(own, VZ_CONF, "101")
    assert (merged.cpus, merged.cpumask.text, merged.inherited) == (2, "0-3", ("CPUMASK",))
    bare = on_node(parse_ctid_conf('HOSTNAME="a"\n', "101"), VZ_CONF, "101")
    assert (bare.cpus, bare.inherited) == (1, ("CPUS", "CPUMASK"))
    unknown = on_node(parse_ctid_conf("", "101"), Unknown("unreadable"), "101")
    assert isinstance(unknown.cpus, Unknown) and isinstance(unknown.cpumask, Unknown)
    assert on_node(own, None, "101") == own


def test_hg001_fires_on_a_cpus_only_the_targets_vz_conf_sets():
    source = master(container("101", 'HOSTNAME="a"\n', jvms=(jvm(),)))
    from dataclasses import replace

    plain = node(cpus=4)
    one_cpu = replace(plain, vz_conf=parse_ctid_conf('CPUS="1"\n', GLOBAL_CONF_VEID))
    assert decide(assess(source, plain)[0].findings, PolicyConfig()).verdict.value == "go"
    decision = decide(assess(source, one_cpu)[0].findings, PolicyConfig())
    assert decision.verdict.value == "no-go"
    hg001 = next(f for f in decision.findings if f.rule == "HG001")
    assert any("vz.conf" in line for line in hg001.evidence)



def test_every_guarantee_in_the_readme_names_a_test_that_exists():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Guarantees"):readme.index("## Exit codes")]
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", section))
    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert named and not [name for name in named if f"def {name}(" not in sources]


# ----- what the review of this work found

def test_a_conf_without_its_text_is_refused(capsys, tmp_path):
    """Deleting CPUS from a conf's values and nulling its text once gave GO."""
    document = json.loads(MASTER.read_text())
    conf = document["node"]["containers"][0]["conf"]
    conf["text"] = None
    del conf["values"]["CPUS"]
    conf["cpus"] = None
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    code, _, err = run(capsys, "check", "--source-facts", str(path), "--target-facts", str(SLAVE))
    assert code == 2 and "containers[0].conf.text" in err


def test_an_empty_cpumask_is_no_setting_and_vz_conf_supplies_it():
    merged = on_node(parse_ctid_conf('CPUS="1"\nCPUMASK=""\n', "101"), VZ_CONF, "101")
    assert (merged.cpus, merged.cpumask.text, merged.inherited) == (1, "0-3", ("CPUMASK",))


def test_the_source_side_is_predicted_with_the_sources_vz_conf_not_the_targets():
    from dataclasses import replace

    stopped = container("103", 'HOSTNAME="a"\n', running=False, files=("path usr/bin/java",))
    source = replace(node(cpus=4, containers=(stopped,), host="old2632"), vz_conf=None)
    target = replace(node(cpus=8), vz_conf=parse_ctid_conf('CPUS="1"\n', GLOBAL_CONF_VEID))
    (assessment,) = assess(source, target)
    assert (assessment.cpus_seen_now, assessment.cpus_seen_after) == (4, 1)
    assert any(f.rule == "HG004" and "4 -> 1" in f.message for f in assessment.findings)


def test_remediation_values_are_judged_on_the_target_itself():
    from havengate.act.vet import file_vetter

    ct = container("101", 'CPUS="1"\n', jvms=(jvm(),), cpus_seen=1)
    target = node(cpus=4, containers=(ct,))
    vet = file_vetter(target, target, ct, force=False)
    vet(b'CPUS="1"\nCPUMASK="0"\n')  # a pin: passes
    for bad in (b'CPUS="1"\nCPUMASK="0-3"\n', b'CPUS="1"\n'):
        with pytest.raises(PlanRefused, match="HG001"):
            vet(bad)
    with pytest.raises(PlanRefused, match="HG002"):
        vet(b'CPUS="1"\nCPUMASK="7"\n')


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_an_ssh_config_that_is_no_regular_file_is_refused_not_read_forever(capsys, tmp_path,
                                                                           kind):
    path = Path("/dev/zero")
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    code, _, err = run(capsys, "facts", "somewhere", "--ssh-config", str(path))
    assert code == 2 and "not a regular file" in err
