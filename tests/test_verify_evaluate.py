"""Judging one container after the move, on built facts: verified, pending, and every diagnosis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import container, jvm, node

from havengate.facts.model import Connect, JavaProcess, Listener, ThreadSample
from havengate.report.model import CheckResult
from havengate.verify.evaluate import evaluate
from havengate.verify.expect import Expectation

EXPECT = Expectation(ctid="101", ports=(61616,), addresses=("10.0.0.101",), http=(),
                     source="test")
REACHED = (Connect("10.0.0.101", 61616, True, "connected"),)


def hung_jvm(age: float, switches: int) -> JavaProcess:
    threads = (
        ThreadSample(tid=5, name="java", state="S", cpu_ticks=40, wchan="futex_wait_queue_me",
                     voluntary_switches=3),
        ThreadSample(tid=9, name="ActiveMQ Task", state="S", cpu_ticks=2,
                     wchan="futex_wait_queue_me", voluntary_switches=switches),
    )
    return JavaProcess(pid=57, argv=("java",), jvm_options=(), listeners=(), age_seconds=age,
                       threads=threads)


def on_target(conf: str = 'CPUS="1"\n', jvms=(), cpus_seen: int = 1, connects=REACHED):
    ct = container(conf=conf, jvms=jvms, cpus_seen=cpus_seen)
    return ct, replace(node(containers=(ct,)), connects=connects)


def test_verified_when_a_jvm_listens_on_every_port():
    _, target = on_target(jvms=(jvm(ports=(61616, 8161)),))
    state = evaluate(EXPECT, target, None, (), deadline_reached=False)
    assert state.status == "verified"
    assert [c.target for c in state.checks] == ["tcp/61616", "10.0.0.101:61616"]


def test_no_false_verified_when_a_check_could_not_be_made():
    _, unconnected = on_target(jvms=(jvm(),), connects=())
    assert evaluate(EXPECT, unconnected, None, (), deadline_reached=False).status == "unknown"
    no_address = replace(EXPECT, addresses=())
    _, target = on_target(jvms=(jvm(),))
    assert evaluate(no_address, target, None, (), deadline_reached=False).status == "unknown"
    nothing = replace(EXPECT, ports=())
    assert evaluate(nothing, target, None, (), deadline_reached=False).status == "unknown"


def test_a_port_that_listened_on_loopback_before_may_do_so_again():
    loopback = JavaProcess(pid=57, argv=("java",), jvm_options=(), age_seconds=9.0,
                           listeners=(Listener("tcp", "127.0.0.1", 8005, 1),))
    expect = replace(EXPECT, ports=(), local_ports=(8005,))
    _, target = on_target(jvms=(loopback,))
    assert evaluate(expect, target, None, (), deadline_reached=False).status == "verified"


def test_pending_before_the_deadline_then_plain_diagnosis():
    _, target = on_target(jvms=(replace(jvm(ports=()), age_seconds=2.0),))
    assert evaluate(EXPECT, target, None, (), deadline_reached=False).status == "pending"
    state = evaluate(EXPECT, target, None, (), deadline_reached=True)
    assert state.status == "failed" and state.findings[0].rule == "HG108"
    assert any("sees 1 CPU(s); CPUS=1, CPUMASK=unset; node: 4 CPUs, 2.6.32-042stab134.8" in e
               for e in state.findings[0].evidence)


def test_futex_hang_signature_fails_early_with_evidence_and_fix():
    before, _ = on_target(jvms=(hung_jvm(40.0, 30),))
    _, target = on_target(jvms=(hung_jvm(41.0, 31),))
    state = evaluate(EXPECT, target, before, (), deadline_reached=False, hang_after=30)
    assert state.status == "suspect"  # run.py calls it after a second window
    assert evaluate(EXPECT, target, before, (), deadline_reached=True,
                    hang_after=30).status == "failed"
    (finding,) = state.findings
    assert finding.rule == "HG101" and "futex-hang (suspected)" in finding.message
    assert any("cycles in timed waits: 1 wake-ups" in e for e in finding.evidence)
    assert finding.remediation.startswith("vzctl set 101 --cpumask 0 --save")


@pytest.mark.parametrize(
    ("conf", "cpus_seen", "age", "with_before"),
    [('CPUS="1"\nCPUMASK="0"\n', 1, 41.0, True),  # pinned: not this hang
     ('CPUS="2"\n', 2, 41.0, True),  # sees two CPUs
     ('CPUS="1"\n', 1, 5.0, True),  # too young: still starting
     ('CPUS="1"\n', 1, 41.0, False)],  # one sample: no window to judge
)
def test_no_early_hang_verdict_without_the_whole_signature(conf, cpus_seen, age, with_before):
    before, _ = on_target(conf, jvms=(hung_jvm(age - 1, 30),), cpus_seen=cpus_seen)
    _, target = on_target(conf, jvms=(hung_jvm(age, 31),), cpus_seen=cpus_seen)
    state = evaluate(EXPECT, target, before if with_before else None, (),
                     deadline_reached=False, hang_after=30)
    assert state.status == "pending"


@pytest.mark.parametrize(
    ("listeners", "rule"),
    [((Listener("tcp", "127.0.0.1", 61616, 1),), "HG104"),
     ((Listener("tcp6", "::", 8080, 1),), "HG103")],
)
def test_listening_elsewhere_or_on_loopback_only(listeners, rule):
    process = JavaProcess(pid=57, argv=("java",), jvm_options=(), listeners=listeners,
                          age_seconds=50.0)
    _, target = on_target(jvms=(process,))
    state = evaluate(EXPECT, target, None, (), deadline_reached=True)
    assert state.status == "failed" and state.findings[0].rule == rule


def test_jvm_gone_container_gone_and_http_wrong():
    _, target = on_target(jvms=())
    assert evaluate(EXPECT, target, None, (), deadline_reached=True).findings[0].rule == "HG102"
    assert evaluate(EXPECT, node(), None, (), deadline_reached=False).findings[0].rule == "HG107"
    _, healthy = on_target(jvms=(jvm(),))
    bad = (CheckResult("http", "http://10.0.0.1/", False, "status 500, expected 200-399"),)
    state = evaluate(EXPECT, healthy, None, bad, deadline_reached=True)
    assert state.status == "failed" and state.findings[0].rule == "HG106"


def test_a_jvm_still_starting_is_not_called_hung():
    busy_before = hung_jvm(40.0, 30)
    busy_now = replace(hung_jvm(41.0, 31), threads=tuple(
        replace(t, cpu_ticks=t.cpu_ticks + 80) for t in hung_jvm(41.0, 31).threads))
    before, _ = on_target(jvms=(busy_before,))
    _, target = on_target(jvms=(busy_now,))
    assert evaluate(EXPECT, target, before, (), deadline_reached=False,
                    hang_after=30).status == "pending"

