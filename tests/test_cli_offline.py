"""The CLI through its real entry point, on saved facts: formats, exit codes, bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from runner import HAVENGATE

from havengate.cli import main
from havengate.documents import validate
from havengate.report import FORMATTERS

EXAMPLES = Path(__file__).parent.parent / "examples"
MASTER = EXAMPLES / "master-2.6.24.facts.json"
SLAVE = EXAMPLES / "slave-2.6.32.facts.json"
OFFLINE = ["--source-facts", str(MASTER), "--target-facts", str(SLAVE)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", sorted(FORMATTERS))
def test_every_format_same_report_same_exit_code(capsys, fmt):
    code, out, err = run(capsys, "check", *OFFLINE, "--format", fmt)
    assert code == 1  # the example has no-go containers
    assert out and "Traceback" not in err


def test_json_report_is_valid_and_says_why(capsys):
    code, out, _ = run(capsys, "check", *OFFLINE, "--format", "json")
    assert code == 1
    report = json.loads(out)
    validate(report, "report")
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert verdicts == {"101": "no-go", "102": "go", "103": "no-go", "104": "go", "105": "go",
                        "106": "go"}
    (hg001,) = [f for f in report["containers"][0]["findings"] if f["rule"] == "HG001"]
    assert hg001["severity"] == "error" and hg001["remediation"].startswith("vzctl set 101")
    assert report["source"]["kernel"] == "2.6.24-12-pve" and report["target"]["cpus"] == 8


def test_text_table_reads_at_a_glance(capsys):
    _, out, _ = run(capsys, "check", *OFFLINE)
    header = next(line for line in out.splitlines() if line.startswith("CT "))
    for column in ("HOSTNAME", "JAVA", "CPUS SEEN", "CPUS/MASK", "VERDICT", "FIX"):
        assert column in header
    row = next(line for line in out.splitlines() if line.startswith("101 "))
    assert "4 -> 1" in row and "NO-GO" in row and "vzctl set 101" in row
    assert out.rstrip().endswith("2 no-go)")


def test_ctid_selection_and_warn_policy(capsys):
    code, out, _ = run(capsys, "check", "102", "105", *OFFLINE, "--format", "json")
    assert code == 0 and [c["ctid"] for c in json.loads(out)["containers"]] == ["102", "105"]
    code, out, _ = run(capsys, "check", "101", *OFFLINE, "--policy", "warn", "--format", "json")
    assert code == 0 and json.loads(out)["containers"][0]["findings"][0]["severity"] == "warning"


def test_junit_fails_the_no_go_containers(capsys):
    import xml.etree.ElementTree as ET

    _, out, _ = run(capsys, "check", *OFFLINE, "--format", "junit")
    suite = ET.fromstring(out)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "2", "0")
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["CT 101 (activemq.example.net)", "CT 103 (bbb.example.net)"]


def test_output_file_leaves_stdout_empty(capsys, tmp_path):
    target = tmp_path / "report.json"
    code, out, _ = run(capsys, "check", *OFFLINE, "--format", "json", "-o", str(target))
    assert code == 1 and out == ""
    validate(json.loads(target.read_text()), "report")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "999", *OFFLINE], "CT 999 not found on master.example.net"),
        (["check", "101;reboot", *OFFLINE], "invalid CTID"),
        (["check", "--source-facts", "/nonexistent.json", "--target-facts", str(SLAVE)],
         "cannot read /nonexistent.json"),
        (["check", *OFFLINE, "--format", "yaml"], "invalid choice"),
        (["check", "--source-facts", str(MASTER)], "required"),
        (["check", "--source=-oProxyCommand=x", "--target", "local"], "invalid host"),
        (["check", "--source", "a b", "--target", "local"], "invalid host"),
        (["check", *OFFLINE, "--timeout", "-1"], "must be a number greater than 0"),
        (["check", *OFFLINE, "--timeout", "nan"], "must be a number greater than 0"),
        (["check", "--source", "x", "--target", "y", "--ssh-config", "/nonexistent"],
         "cannot read ssh config"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert message in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("mangle", "path"),
    [
        (lambda d: d["node"].update(cpus="four"), "$.node.cpus"),
        (lambda d: d["node"]["containers"][0].update(ctid="101; reboot"), "$.node.containers[0].ctid"),
        (lambda d: d.pop("node"), "$"),
        (lambda d: d.update(schema="havengate.facts/9"), "$.schema"),
    ],
)
def test_facts_file_failing_its_schema_names_the_json_path(capsys, tmp_path, mangle, path):
    document = json.loads(MASTER.read_text())
    mangle(document)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    code, _, err = run(capsys, "check", "--source-facts", str(broken), "--target-facts", str(SLAVE))
    assert code == 2 and f"{broken}: {path}:" in err


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00binary", b""])
def test_unreadable_facts_file(capsys, tmp_path, content):
    broken = tmp_path / "junk.json"
    broken.write_bytes(content)
    code, _, err = run(capsys, "check", "--source-facts", str(broken), "--target-facts", str(SLAVE))
    assert code == 2 and str(broken) in err and "Traceback" not in err


def test_old_facts_are_used_but_their_age_is_said(capsys):
    _, _, err = run(capsys, "check", *OFFLINE)
    assert "facts of master.example.net collected" in err and "ago" in err


def test_help_teaches(capsys):
    code, out, _ = run(capsys, "check", "--help")
    assert code == 0
    for words in ("--source-facts", "--accept-new-host-keys", "known_hosts", "examples:"):
        assert words in out
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "exit codes" in out and "futex" in out


def test_installed_console_script():
    executable = shutil.which("havengate")
    assert executable, "the havengate console script is not installed"
    result = subprocess.run([executable, "check", *OFFLINE, "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    validate(json.loads(result.stdout), "report")


def test_standard_input_and_output_work_in_a_shell_pipeline(tmp_path):
    """`--source-facts -` reads stdin, `-o -` writes stdout (it once made a file named -)."""
    pipeline = (f"cat {MASTER} | {HAVENGATE} check --source-facts - --target-facts {SLAVE} "
                "--format json -o - | python3 -c 'import json,sys; "
                "print(json.load(sys.stdin)[\"verdict\"])'")
    result = subprocess.run(["sh", "-c", pipeline], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.stdout.strip() == "no-go", result.stderr
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize(("command", "absent"), [
    ("revert", "--timeout"), ("revert", "--command-timeout"), ("verify", "--command-timeout"),
    ("journal", "--ssh-config"),
])
def test_help_offers_only_what_a_command_reads(capsys, command, absent):
    assert main([command, "--help"]) == 0
    offered = re.findall(r"(?<![\w-])(--[a-z-]+)", capsys.readouterr().out)
    assert offered and absent not in offered


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_a_refused_command_still_leaves_a_report_for_ci(capsys, tmp_path, fmt):
    target = tmp_path / f"report.{fmt}"
    code = main(["check", "--source-facts", str(tmp_path / "missing.json"), "--target-facts",
                 str(SLAVE), "--format", fmt, "-o", str(target)])
    assert code == 2
    text = target.read_text()
    if fmt == "json":
        report = json.loads(text)
        validate(report, "report")
        assert (report["verdict"], report["exit_code"]) == ("usage-error", 2)
        assert "missing.json" in report["errors"][0]
    else:
        assert 'value="usage-error"' in text and "missing.json" in text
    code = main(["check", "--no-such-option", "--format", "json", "-o", str(target)])
    assert code == 2 and json.loads(target.read_text())["verdict"] == "usage-error" \
        if fmt == "json" else code == 2
