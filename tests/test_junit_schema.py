"""JUnit XML that CI servers read: valid against the Jenkins/Ant schema (junit-10.xsd),
unique case names, a time on every suite and case, skipped cases with their reason.

The schema is the one pytest validates its own xunit2 output against; it is taken from
the sdist of the pytest installed here (PyPI), not copied into this repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest
import xmlschema

from havengate.api.results import build_report, named_node
from havengate.cli import main
from havengate.model import ChangeSummary, CheckResult, ContainerResult, Finding, PatchSummary, Severity
from havengate.report.junit import render_junit

EXAMPLES = Path(__file__).parent.parent / "examples"
OFFLINE = ["--source-facts", str(EXAMPLES / "master-2.6.24.facts.json"),
           "--target-facts", str(EXAMPLES / "slave-2.6.32.facts.json")]
CACHE = Path(__file__).parent / ".cache"  # git-ignored


@pytest.fixture(scope="session")
def junit_schema() -> xmlschema.XMLSchema:
    path = Path(os.environ.get("HAVENGATE_JUNIT_XSD", CACHE / "junit-10.xsd"))
    if not path.is_file():
        version = metadata.version("pytest")
        CACHE.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"pytest=={version}", "-d", str(CACHE)],
                       check=True, timeout=300)
        with tarfile.open(CACHE / f"pytest-{version}.tar.gz") as sdist:
            member = sdist.extractfile(f"pytest-{version}/testing/example_scripts/junit-10.xsd")
            assert member is not None
            path.write_bytes(member.read())
    return xmlschema.XMLSchema(str(path))


def _container(ctid: str, verdict: str, **extra) -> ContainerResult:
    fields = dict(hostname=f"ct{ctid}", status="running", java=True, cpus_seen_now=4,
                  cpus_seen_after=1, cpus="1", cpumask="unset", verdict=verdict, findings=(),
                  fix=None, java_ports=())
    fields.update(extra)
    return ContainerResult(ctid=ctid, **fields)


def _patch_report():
    patched = PatchSummary(host="master", status="patched", method="edit",
                           journal_id="20261130T010203-101-abcdef",
                           changes=(ChangeSummary("CPUMASK", None, "0"),), notes=(),
                           diff='--- 101.conf (now)\n+++ 101.conf (after)\n+CPUMASK="0"')
    return build_report("patch", "patch", [
        _container("101", "patched", patch=patched, duration_seconds=1.25),
        _container("102", "no-go", patch=PatchSummary("master", "failed", None, None, (),
                                                       ("lock busy",), "")),
    ], source=named_node("master"), target=None, errors=["master: lock busy"])


def _verify_report():
    hang = Finding(ctid="101", rule="HG101", severity=Severity.ERROR,
                   message="futex-hang (suspected)", evidence=("JVM pid 5 alive for 35 s",),
                   remediation="vzctl set 101 --cpumask 0 --save")
    checks = (CheckResult("listen", "tcp/61616", False, "not listening yet"),
              CheckResult("connect", "10.0.0.1:61616", None, "not tried by the probe"),
              CheckResult("http", "http://10.0.0.1:8161/", True, "status 200"))
    return build_report("verify", "verify", [
        _container("101", "failed", findings=(hang,), checks=checks, duration_seconds=33.2),
        _container("102", "verified", checks=checks[2:], duration_seconds=0.4),
    ], source=None, target=named_node("slave"), errors=["slave: one", "slave: two"],
        notes=["CT 103 was skipped"])


def test_check_patch_and_verify_junit_validate_against_the_jenkins_schema(capsys,
                                                                          junit_schema):
    assert main(["check", *OFFLINE, "--format", "junit"]) == 1
    documents = [capsys.readouterr().out, render_junit(_patch_report()),
                 render_junit(_verify_report())]
    for document in documents:
        junit_schema.validate(document)
        root = ET.fromstring(document)
        assert root.tag == "testsuites"
        cases = list(root.iter("testcase"))
        names = [case.get("name") for case in cases]
        assert len(names) == len(set(names)), names  # GitLab merges cases of one name
        assert all(element.get("time") for element in [*root.iter("testsuite"), *cases])


def test_verify_checks_are_cases_and_a_patch_carries_its_journal_id_and_diff():
    root = ET.fromstring(render_junit(_verify_report()))
    by_name = {case.get("name"): case for case in root.iter("testcase")}
    assert by_name["CT 101 listen tcp/61616"].find("failure") is not None
    assert by_name["CT 101 connect 10.0.0.1:61616"].find("error") is not None
    assert by_name["CT 102 http http://10.0.0.1:8161/"].find("failure") is None
    assert {"could not assess #1", "could not assess #2"} <= set(by_name)  # not collapsed
    skipped = by_name["note: CT 103 was skipped"].find("skipped")
    assert skipped is not None and skipped.get("message") == "CT 103 was skipped"
    out = ET.fromstring(render_junit(_patch_report()))
    patched = next(c for c in out.iter("testcase") if c.get("name") == "CT 101 (ct101)")
    text = patched.find("system-out").text
    assert "journal 20261130T010203-101-abcdef" in text and '+CPUMASK="0"' in text
    assert patched.get("time") == "1.250"


def test_nothing_assessed_is_a_skipped_case_not_an_empty_green_run(capsys, tmp_path, junit_schema):
    import json

    document = json.loads((EXAMPLES / "master-2.6.24.facts.json").read_text())
    document["node"]["containers"] = []
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(document))
    assert main(["check", "--source-facts", str(empty), "--target-facts",
                 str(EXAMPLES / "slave-2.6.32.facts.json"), "--format", "junit"]) == 0
    out = capsys.readouterr().out
    junit_schema.validate(out)
    suite = ET.fromstring(out).find("testsuite")
    assert (suite.get("tests"), suite.get("skipped")) == ("1", "1")
