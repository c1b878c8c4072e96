"""The act step's pure parts and its journal: what a patch writes, and what survives a crash."""

from __future__ import annotations

import json

import pytest

from havengate.act.journal import Journal
from havengate.act.plan import (
    Method,
    PatchSettings,
    Strategy,
    plan_patch,
    rewrite_conf,
    satisfied,
)
from havengate.api.config import load_config
from havengate.errors import DocumentError, JournalError, UsageError

CONF = (b"# Copyright header\n"
        b'CPUS="1"\n'
        b'VE_ROOT="/var/lib/vz/root/$VEID"\n'
        b'VE_PRIVATE="/var/lib/vz/private/${VEID}"\n'
        b'  CPUMASK="3"\n'
        b'CPUS="4"\n')


def test_rewrite_replaces_only_the_first_key_line_like_vzctl():
    out = rewrite_conf(CONF, {"CPUS": "2"})
    assert out == CONF.replace(b'CPUS="1"', b'CPUS="2"', 1)  # duplicate CPUS="4" untouched


def test_rewrite_appends_a_missing_key_and_keeps_every_other_byte():
    plain = CONF.replace(b'  CPUMASK="3"\n', b"")
    assert rewrite_conf(plain, {"CPUMASK": "0"}) == plain + b'CPUMASK="0"\n'
    assert rewrite_conf(b'CPUS="1"', {"CPUMASK": "0"}) == b'CPUS="1"\nCPUMASK="0"\n'
    assert rewrite_conf(b'CPUS="1"\r\n', {"CPUS": "2"}) == b'CPUS="2"\r\n'


def test_rewrite_replaces_the_indented_line_vzctl_reads():
    """vzctl --save would append after `  CPUMASK="3"`, and vzctl would still read 3."""
    out = rewrite_conf(CONF, {"CPUMASK": "0"})
    assert out == CONF.replace(b'  CPUMASK="3"', b'CPUMASK="0"')
    assert satisfied(out, "101", PatchSettings())


@pytest.mark.parametrize("value", ['0"; reboot; "', "0\nCPUS=8", "0\\"])
def test_rewrite_refuses_values_that_would_break_the_file(value):
    with pytest.raises(UsageError):
        rewrite_conf(CONF, {"CPUMASK": value})


@pytest.mark.parametrize(
    ("strategy", "values"),
    [(Strategy.CPUMASK, {"CPUMASK": "0"}), (Strategy.CPUS, {"CPUS": "2"}),
     (Strategy.BOTH, {"CPUS": "2", "CPUMASK": "0"})],
)
def test_strategies(strategy, values):
    assert PatchSettings(strategy=strategy).values() == values


def test_plan_says_what_changes_and_how():
    plan = plan_patch("master", "101", CONF, PatchSettings(), (3, 0, 24))
    assert [(c.key, c.before, c.after) for c in plan.changes] == [("CPUMASK", "3", "0")]
    assert plan.method == Method.EDIT  # vzctl 3.0.24 has no --cpumask
    assert plan_patch("m", "101", CONF, PatchSettings(), (3, 0, 26)).method == Method.VZCTL
    assert plan_patch("m", "101", CONF, PatchSettings(strategy=Strategy.CPUS),
                      (3, 0, 24)).method == Method.VZCTL
    assert plan.vzctl_command == "vzctl set 101 --cpumask 0 --save"
    assert satisfied(plan.intended, "101", PatchSettings())


def test_already_patched_plans_nothing():
    done = rewrite_conf(CONF, {"CPUMASK": "0"})
    assert not plan_patch("m", "101", done, PatchSettings(), (4, 9, 4)).needed
    # "0," is the same mask as "0": nothing to change either
    assert not plan_patch("m", "101", done.replace(b'"0"', b'"0,"'), PatchSettings(),
                          (4, 9, 4)).needed


def test_a_rejected_line_is_not_taken_as_patched():
    broken = CONF + b'CPUMASK="0\n'
    plan = plan_patch("m", "101", broken, PatchSettings(), (4, 9, 4))
    assert plan.needed  # vzctl rejects the unbalanced line, so the pin is not there


@pytest.mark.parametrize(
    ("settings", "cpus", "message"),
    [(PatchSettings(cpus=0), 4, "at least 1 CPU"),
     (PatchSettings(cpus=-2), 4, "at least 1 CPU"),
     (PatchSettings(cpumask="4-7"), 4, "do not exist on the target"),
     (PatchSettings(cpumask="0;reboot"), 4, "--cpumask"),
     (PatchSettings(cpumask="3-1"), 4, "backwards")],
)
def test_settings_refused_before_anything_is_written(settings, cpus, message):
    with pytest.raises(UsageError, match=message):
        settings.validated(cpus)


def test_config_precedence(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"patch": {"strategy": "cpus", "cpus": 4,
                                          "containers": {"101": {"strategy": "both"}}}}))
    config = load_config(path)
    assert config.patch_settings("102", {"strategy": None, "cpus": None, "cpumask": None}) == \
        PatchSettings(strategy=Strategy.CPUS, cpus=4)
    assert config.patch_settings("102", {"strategy": "cpumask", "cpus": None,
                                         "cpumask": "1"}).values() == {"CPUMASK": "1"}
    assert config.patch_settings("101", {"strategy": "cpumask", "cpus": None,
                                         "cpumask": None}).strategy == Strategy.BOTH
    path.write_text(json.dumps({"patch": {"cpus": 0}}))
    with pytest.raises(DocumentError, match=r"\$\.patch\.cpus"):
        load_config(path)


def _start(journal: Journal, ctid: str = "101") -> str:
    return journal.start(node="master", ctid=ctid, path=f"/etc/vz/conf/{ctid}.conf", rule="HG001",
                         strategy="cpumask", method="edit",
                         changes=[{"key": "CPUMASK", "before": None, "after": "0"}],
                         previous=CONF, intended_sha256="b" * 64,
                         mode="644", uid=0, gid=0)


def test_journal_folds_events_and_keeps_exact_bytes(tmp_path):
    journal = Journal(tmp_path)
    patch_id = _start(journal)
    assert journal.entries()[0].state == "started"
    journal.record(patch_id, "completed", result_sha256="b" * 64)
    (entry,) = journal.entries()
    assert (entry.state, entry.previous, entry.result_sha256) == ("completed", CONF, "b" * 64)


def test_journal_torn_last_line_is_not_an_event_and_is_dropped_on_append(tmp_path):
    journal = Journal(tmp_path)
    patch_id = _start(journal)
    with open(journal.path, "ab") as stream:
        stream.write(b'{"schema": "havengate.journal/1", "event": "compl')  # crash mid-append
    assert journal.entries()[0].state == "started"
    journal.record(patch_id, "completed", result_sha256="b" * 64)
    assert journal.entries()[0].state == "completed"
    assert all(json.loads(line) for line in journal.path.read_text().splitlines())


@pytest.mark.parametrize(
    ("line", "message"),
    [(b"this is not json\n", "corrupt"),
     (b'{"schema": "havengate.journal/7", "event": "started"}\n', "newer havengate"),
     (b'{"schema": "havengate.journal/1", "event": "exploded", "id": "x"}\n', "corrupt")],
)
def test_a_corrupt_or_newer_journal_is_refused_untouched(tmp_path, line, message):
    journal = Journal(tmp_path)
    _start(journal)
    with open(journal.path, "ab") as stream:
        stream.write(line)
    before = journal.path.read_bytes()
    with pytest.raises(JournalError, match=message):
        journal.entries()
    with pytest.raises(JournalError):
        _start(journal, "102")
    assert journal.path.read_bytes() == before


@pytest.mark.parametrize("tail", ["coreutils", "busybox"])
@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_the_detached_vzmigrate_runner_passes_every_line_and_the_exit_code(tmp_path, tail,
                                                                           shell):
    """The last lines vzmigrate prints (its error) reach the operator, with GNU tail's
    --pid or without it (busybox tail), under dash and busybox sh."""
    import shutil
    import subprocess

    from havengate.act.migrate import vzmigrate_command

    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox not installed (.ci/run installs it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vzmigrate"
    fake.write_text('#!/bin/sh\necho "Starting migration of CT $2 to $1"\nsleep 0.5\n'
                    'echo "Error: Can\'t connect to destination address" >&2\nexit 4\n')
    fake.chmod(0o755)
    if tail == "busybox":
        (bin_dir / "tail").symlink_to(busybox)
    (bin_dir / "sh").symlink_to(shutil.which("dash") if shell == "dash" else busybox)
    result = subprocess.run([str(bin_dir / "sh"), "-c", vzmigrate_command("101", "slave")],
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 4
    assert result.stdout.splitlines() == ["Starting migration of CT 101 to slave",
                                          "Error: Can't connect to destination address"]
