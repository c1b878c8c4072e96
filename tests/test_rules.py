"""Rules on built facts: HG001 exactly as DESIGN.md §1 states it, and its neighbours."""

from __future__ import annotations

import pytest
from factories import container, jvm, master, node

from havengate.assess import RULES, assess
from havengate.decide import Policy, PolicyConfig, UnrecognisedKernel, decide
from havengate.facts.model import NodeFacts
from havengate.model import Severity, Unknown, Verdict

DEFAULT_POLICY = PolicyConfig()


def verdict(source, target, ctid="101", config=DEFAULT_POLICY):
    (assessment,) = [a for a in assess(source, target) if a.container.ctid == ctid]
    return decide(assessment.findings, config)


def rules_fired(decision, severity=Severity.WARNING):
    return sorted({f.rule for f in decision.findings if f.severity >= severity})


@pytest.mark.parametrize(
    ("conf", "flags", "expected"),
    [
        ('CPUS="1"\n', (), Verdict.NO_GO),
        ('CPUS="1"\nCPUMASK="0"\n', (), Verdict.GO),
        ('CPUS="2"\n', (), Verdict.GO),
        ('CPUS="1"\nCPUMASK="0-1"\n', (), Verdict.NO_GO),
        ('CPUS="1"\nCPUMASK="all"\n', (), Verdict.NO_GO),
        ('CPUS="2"\nCPUMASK="0"\n', (), Verdict.GO),
        ("", (), Verdict.GO),  # CPUS unset: sees all host CPUs
        ('CPUS="0"\n', (), Verdict.GO),
        ('CPUS="1"\n', ("-XX:+AssumeMP",), Verdict.GO),
        ('CPUS="1"\n', ("-XX:+AssumeMP", "-XX:-AssumeMP"), Verdict.NO_GO),
    ],
)
def test_hg001_matrix_on_a_4_cpu_2632_target(conf, flags, expected):
    source = master(container(conf=conf, jvms=(jvm(*flags),)))
    assert verdict(source, node()).verdict == expected


def test_hg001_finding_has_evidence_and_fix():
    source = node("2.6.24-12-pve", 4, (3, 0, 28), (container(jvms=(jvm(),)),), host="master")
    decision = verdict(source, node())
    (hg001,) = [f for f in decision.findings if f.rule == "HG001"]
    assert hg001.severity == Severity.ERROR
    assert hg001.remediation == "vzctl set 101 --cpumask 0 --save"
    assert "suspected futex hang" in hg001.message
    assert any("CPUS=1" in line for line in hg001.evidence)
    assert any("2.6.32-042stab134.8" in line for line in hg001.evidence)


def test_hg001_assume_mp_is_reported_as_mitigated():
    decision = verdict(master(container(jvms=(jvm("-XX:+AssumeMP"),))), node())
    (hg001,) = [f for f in decision.findings if f.rule == "HG001"]
    assert hg001.severity == Severity.INFO and "AssumeMP" in hg001.message


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (node("2.6.24-12-pve"), Verdict.GO),  # 2.6.24 keeps the all-CPUs view
        (node("2.6.18-028stab059.6"), Verdict.GO),
        (node(cpus=1), Verdict.GO),  # single-core target
        (node("2.6.32-11-pve"), Verdict.NO_GO),
        (node("2.6.32-5-openvz-amd64"), Verdict.NO_GO),
        (node("3.10.0-957.vz7.86.2"), Verdict.UNKNOWN),  # never assumed safe
        (node(cpus=Unknown("nproc failed")), Verdict.UNKNOWN),
    ],
)
def test_hg001_depends_on_the_target(target, expected):
    assert verdict(master(container(jvms=(jvm(),))), target).verdict == expected


def test_unrecognised_kernel_policy_can_only_soften_to_warning():
    source = master(container(jvms=(jvm(),)))
    config = PolicyConfig(unrecognised_kernel=UnrecognisedKernel.WARN)
    decision = verdict(source, node("3.10.0-957.vz7.86.2"), config=config)
    assert decision.verdict == Verdict.GO
    assert "HG001" in rules_fired(decision)


def test_non_java_one_cpu_container_goes():
    assert verdict(master(container(jvms=())), node()).verdict == Verdict.GO


def test_unknown_java_is_unknown_not_go():
    source = master(container(jvms=Unknown("vzctl exec2 101 failed (exit 8)")))
    assert verdict(source, node()).verdict == Verdict.UNKNOWN


def test_stopped_java_container_judged_from_files():
    source = master(container(running=False, files=("path usr/lib/jvm",)))
    decision = verdict(source, node())
    assert decision.verdict == Verdict.NO_GO
    assert {"HG001", "HG008"} <= {f.rule for f in decision.findings}
    stopped_plain = master(container(running=False, files=()))
    assert verdict(stopped_plain, node()).verdict == Verdict.GO


def test_warn_policy_reports_but_does_not_block():
    decision = verdict(master(container(jvms=(jvm(),))), node(),
                       config=PolicyConfig(policy=Policy.WARN))
    assert decision.verdict == Verdict.GO
    assert "HG001" in rules_fired(decision)


@pytest.mark.parametrize(
    ("conf", "target", "rule", "expected"),
    [
        ('CPUS="1"\nCPUMASK="4-7"\n', node(), "HG002", Verdict.NO_GO),
        ('CPUS="8"\n', node(), "HG003", Verdict.GO),
        ("", node("2.6.24-12-pve", vzctl=(3, 0, 24)), "HG005", Verdict.GO),
        ("", node(vzctl=None), "HG006", Verdict.NO_GO),
        ('CPUS="1"\nCPUMASK="0"\n', node(vzctl=(3, 0, 24)), "HG007", Verdict.NO_GO),
        ('CPUS = "2"\n', node(), "HG010", Verdict.GO),
    ],
)
def test_other_rules(conf, target, rule, expected):
    source_kernel = "2.6.32-042stab134.8" if rule == "HG005" else "2.6.24-12-pve"
    source = node(source_kernel, 4, (4, 9, 4), (container(conf=conf, jvms=(jvm(),)),), host="src")
    decision = verdict(source, target)
    assert rule in rules_fired(decision)
    assert decision.verdict == expected


def test_old_source_vzctl_cannot_write_a_mask_so_the_fix_is_cpus():
    decision = verdict(master(container(jvms=(jvm(),))), node())  # master has vzctl 3.0.24
    (hg001,) = [f for f in decision.findings if f.rule == "HG001"]
    assert hg001.remediation == "vzctl set 101 --cpus 2 --save"


def test_old_target_vzctl_ignores_the_mask_so_the_fix_is_cpus():
    decision = verdict(master(container(conf='CPUS="1"\nCPUMASK="0"\n', jvms=(jvm(),))),
                       node(vzctl=(3, 0, 24)))
    (hg001,) = [f for f in decision.findings if f.rule == "HG001"]
    assert hg001.remediation == "vzctl set 101 --cpus 2 --save"


def test_ctid_already_on_target_blocks():
    target = node(containers=(container("101"),))
    assert "HG009" in rules_fired(verdict(master(container(jvms=())), target))


def test_visible_cpu_change_is_info_with_numbers():
    decision = verdict(master(container(jvms=())), node(cpus=8))
    (hg004,) = [f for f in decision.findings if f.rule == "HG004"]
    assert hg004.severity == Severity.INFO and "4 -> 1" in hg004.message


def test_rule_ids_are_unique_and_documented():
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.__doc__ and "Rationale" in rule.__doc__ and "Example" in rule.__doc__
        assert isinstance(rule.severity, Severity) and rule.title


def test_a_crashing_rule_makes_the_container_unknown(monkeypatch):
    from havengate.assess.rules import hg003_cpus_above_target

    def boom(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(hg003_cpus_above_target, "check", boom)
    decision = verdict(master(container(conf='CPUS="2"\n', jvms=())), node())
    assert decision.verdict == Verdict.UNKNOWN
    assert any(f.rule == "HG003" and "failed" in f.message for f in decision.findings)


def test_missing_target_facts_are_never_a_go():
    pinned = master(container(conf='CPUS="1"\nCPUMASK="0"\n', jvms=(jvm(),)))
    assert verdict(pinned, node(vzctl=Unknown("vzctl --version failed"))).verdict == \
        Verdict.UNKNOWN
    unlisted = NodeFacts(**{**vars(node()), "containers": Unknown("vzlist: exit 1")})
    assert verdict(master(container(jvms=())), unlisted).verdict == Verdict.UNKNOWN
    assert verdict(pinned, NodeFacts(**{**vars(node()), "kernel": Unknown("uname failed")})
                   ).verdict == Verdict.UNKNOWN


def test_a_pin_on_an_unrecognised_kernel_is_not_assumed_to_work():
    pinned = master(container(conf='CPUS="1"\nCPUMASK="0"\n', jvms=(jvm(),)))
    target = node("3.10.0-957.vz7.86.2")
    assert verdict(pinned, target).verdict == Verdict.UNKNOWN
    soft = PolicyConfig(unrecognised_kernel=UnrecognisedKernel.WARN)
    assert verdict(pinned, target, config=soft).verdict == Verdict.GO


def test_java_installed_but_not_running_now_still_counts():
    idle = master(container(jvms=(), files=("init etc/init.d/jenkins",)))
    decision = verdict(idle, node())
    assert decision.verdict == Verdict.NO_GO
    (hg001,) = [f for f in decision.findings if f.rule == "HG001"]
    assert any("would start again after the move" in line for line in hg001.evidence)
    unscanned = master(container(jvms=(), files=Unknown("ploop image")))
    assert verdict(unscanned, node()).verdict == Verdict.UNKNOWN


def test_assume_mp_is_not_believed_next_to_ignore_unrecognized():
    sloppy = master(container(jvms=(jvm("-XX:+IgnoreUnrecognizedVMOptions", "-XX:+AssumeMP"),)))
    assert verdict(sloppy, node()).verdict == Verdict.NO_GO


def test_an_inline_comment_after_the_mask_is_no_pin_for_old_target_vzctl():
    commented = master(container(conf='CPUS="1"\nCPUMASK="0" # pin\n', jvms=(jvm(),)))
    assert verdict(commented, node(vzctl=(3, 0, 28))).verdict == Verdict.NO_GO
    assert verdict(commented, node(vzctl=(4, 9, 4))).verdict == Verdict.GO
