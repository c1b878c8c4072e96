"""Judging one container after the move, on built facts: verified, pending, and every diagnosis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import container, jvm, node

from havengate.facts.model import Connect, JavaProcess, Listener, OpenPort, ThreadSample
from havengate.model import CheckResult
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



def test_a_running_container_with_nothing_to_check_is_verified_and_says_so():
    """Issue 8: an nginx-less, Java-less container must not fail the runbook (it was
    "unknown" before); it is verified because it runs, and the report says that is all."""
    _, target = on_target(jvms=())
    state = evaluate(replace(EXPECT, ports=()), target, None, (), deadline_reached=False)
    assert state.status == "verified"
    (check,) = state.checks
    assert check.kind == "running" and "nothing else to check" in check.detail
    stopped = replace(node(containers=(container(running=False),)), connects=REACHED)
    assert evaluate(replace(EXPECT, ports=()), stopped, None, (),
                    deadline_reached=False).status == "pending"


def test_every_port_of_the_baseline_is_checked_whoever_held_it():
    nginx = OpenPort("tcp", "0.0.0.0", 80, "nginx")
    expect = replace(EXPECT, ports=(80,), programs=((80, "nginx"),), java_ports=())
    reached = (Connect("10.0.0.101", 80, True, "connected"),)
    up = replace(node(containers=(container(others=(nginx,)),)), connects=reached)
    state = evaluate(expect, up, None, (), deadline_reached=False)
    assert state.status == "verified" and "nginx listens" in state.checks[0].detail
    down = replace(node(containers=(container(),)), connects=reached)
    assert evaluate(expect, down, None, (), deadline_reached=False).status == "pending"
    late = evaluate(expect, down, None, (), deadline_reached=True)
    assert late.status == "failed" and "nginx before the move" in late.checks[0].detail
    assert late.findings and late.findings[0].rule != "HG102"  # no JVM was expected here


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



def busy_hung_jvm(age: float, metrics_ticks: int, *, main_ticks: int = 40) -> JavaProcess:
    """A hung JVM that is not idle: its launcher blocked, a loop thread cycling in timed
    waits, and a metrics thread that keeps working (GC, schedulers, watchdogs do)."""
    tick = int(age)
    threads = (
        ThreadSample(tid=57, name="java", state="S", cpu_ticks=3, wchan="futex_wait_queue",
                     voluntary_switches=2),
        ThreadSample(tid=58, name="java", state="S", cpu_ticks=main_ticks,
                     wchan="futex_wait_queue", voluntary_switches=9),
        ThreadSample(tid=70, name="lab-futex-loop", state="S", cpu_ticks=1,
                     wchan="futex_wait_queue", voluntary_switches=tick),
        ThreadSample(tid=71, name="lab-metrics", state="R", cpu_ticks=metrics_ticks,
                     wchan="0", voluntary_switches=10 * tick),
    )
    return JavaProcess(pid=57, argv=("java",), jvm_options=(), listeners=(), age_seconds=age,
                       threads=threads)


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 0.9])
def test_a_hung_jvm_that_is_not_idle_is_still_called_hung(share):
    before, _ = on_target(jvms=(busy_hung_jvm(40.0, 1000),))
    _, target = on_target(jvms=(busy_hung_jvm(41.0, 1000 + int(share * 100)),))
    state = evaluate(EXPECT, target, before, (), deadline_reached=False, hang_after=30)
    assert state.status == "suspect"
    (finding,) = state.findings
    assert finding.rule == "HG101" and "thread states match the hang" in finding.message
    # the Java main thread (58) blocked; the launcher (57) joining it is no evidence
    assert any("thread 58 (java) waits in futex and did not wake" in e for e in finding.evidence)
    assert not any("thread 57 " in e for e in finding.evidence)
    assert any("thread 70 (lab-futex-loop) cycles in timed waits" in e for e in finding.evidence)
    assert finding.remediation.startswith("vzctl set 101 --cpumask 0 --save")


def test_thread_evidence_adds_confidence_but_its_absence_does_not_block_the_call():
    quiet = replace(busy_hung_jvm(40.0, 0), threads=())
    before, _ = on_target(jvms=(quiet,))
    _, target = on_target(jvms=(replace(quiet, age_seconds=41.0),))
    state = evaluate(EXPECT, target, before, (), deadline_reached=False, hang_after=30)
    assert state.status == "suspect" and "thread states unreadable" in state.findings[0].message


def test_a_slow_starter_whose_main_thread_works_is_not_called_hung():
    before, _ = on_target(jvms=(busy_hung_jvm(40.0, 0, main_ticks=3000),))
    _, target = on_target(jvms=(busy_hung_jvm(41.0, 0, main_ticks=3090),))
    assert evaluate(EXPECT, target, before, (), deadline_reached=False,
                    hang_after=30).status == "pending"


@pytest.mark.parametrize(("conf", "cpus_seen", "flags"), [
    ('CPUS="1"\nCPUMASK="2"\n', 1, ()),  # pinned
    ('CPUS="2"\n', 2, ()),  # sees two CPUs
    ('CPUS="1"\n', 1, ("-XX:+AssumeMP",)),  # mitigated on the JVM side
])
def test_without_the_hg001_conditions_a_portless_jvm_is_never_called_hung(conf, cpus_seen, flags):
    def hung(age: float) -> JavaProcess:
        return replace(busy_hung_jvm(age, int(age)), jvm_options=flags)

    before, _ = on_target(conf, jvms=(hung(40.0),), cpus_seen=cpus_seen)
    _, target = on_target(conf, jvms=(hung(41.0),), cpus_seen=cpus_seen)
    assert evaluate(EXPECT, target, before, (), deadline_reached=False,
                    hang_after=30).status == "pending"
    state = evaluate(EXPECT, target, before, (), deadline_reached=True, hang_after=30)
    assert state.status == "failed" and state.findings[0].rule == "HG108"


def test_a_jsvc_controller_does_not_hide_its_jvms_working_main_thread():
    """jsvc: the controller (one thread, older) and the JVM it runs; the JVM's main thread
    works, so nothing is hung yet, whichever process is the oldest."""
    def controller(age: float) -> JavaProcess:
        return JavaProcess(pid=40, argv=("jsvc",), jvm_options=(), listeners=(),
                           age_seconds=age, threads=(ThreadSample(
                               tid=40, name="jsvc", state="S", cpu_ticks=1,
                               wchan="do_wait", voluntary_switches=3),))
    before, _ = on_target(jvms=(controller(50.0), busy_hung_jvm(40.0, 0, main_ticks=3000)))
    _, target = on_target(jvms=(controller(51.0), busy_hung_jvm(41.0, 0, main_ticks=3090)))
    assert evaluate(EXPECT, target, before, (), deadline_reached=False,
                    hang_after=30).status == "pending"
