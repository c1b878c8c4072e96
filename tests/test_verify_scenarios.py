"""`havengate verify` for real: JVMs that open late, hang, listen elsewhere or on loopback,
or exit; the full cycle check -> vzmigrate -> verify; and --remediate on the hang."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, default_conf
from runner import havengate

from havengate.documents import validate
from havengate.verify.expect import HttpCheck
from havengate.verify.http import http_check

PORT = 61616


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    instance = Lab(tmp_path_factory.mktemp("verify"))
    try:
        instance.add_master_and_slave()
        instance.add_dead_alias("gone")
        yield instance
    finally:
        instance.close()


def verify(lab: Lab, tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    result = havengate(lab, "verify", *args, "--target", "slave", "--state-dir",
                       str(tmp_path / "state"), "--format", "json", "--hang-after", "3")
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    validate(report, "report")
    return result.returncode, report, result.stderr


def config(tmp_path: Path, checks: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"verify": {"containers": checks}}))
    return str(path)


def on_slave(lab: Lab, ctid: str, cpus: int, spec: JavaSpec | None, ip: str | None = None):
    slave = lab.nodes["slave"]
    slave.add_container(ctid, conf=default_conf(ctid, cpus=cpus, ip=ip),
                        java=[spec] if spec else [], ip=ip)
    return slave.container(ctid)


def test_full_cycle_healthy_and_hanging_then_remediate(lab, tmp_path):
    master, slave = lab.nodes["master"], lab.nodes["slave"]
    for ctid, cpus in (("401", 1), ("402", 2)):
        ip = f"10.200.4.{ctid[-1]}"
        master.add_container(ctid, conf=default_conf(ctid, cpus=cpus, ip=ip),
                             java=[JavaSpec(ports=[PORT])], ip=ip)
        assert master.container(ctid).wait_listening(PORT, timeout=20)
    state = str(tmp_path / "state")
    checked = havengate(lab, "check", "401", "402", "--source", "master", "--target", "slave",
                        "--state-dir", state)
    assert checked.returncode == 1  # 401 is at risk; moved anyway to show what happens
    for ctid in ("401", "402"):
        assert lab.ssh("master", f"vzmigrate slave {ctid}", timeout=120).returncode == 0

    started = time.monotonic()
    code, report, stderr = verify(lab, tmp_path, "--timeout", "60")
    elapsed = time.monotonic() - started
    verdicts = {c["ctid"]: c["verdict"] for c in report["containers"]}
    assert (code, verdicts) == (1, {"401": "failed", "402": "verified"}), stderr
    ct401 = next(c for c in report["containers"] if c["ctid"] == "401")
    (hang,) = ct401["findings"]
    assert hang["rule"] == "HG101" and hang["message"].startswith("futex-hang (suspected)")
    assert any("wait in futex" in e for e in hang["evidence"])
    assert elapsed < 45, "the hang must be reported well before the 60 s deadline"
    assert "not listening yet" in stderr and "attempt" in stderr  # progress on stderr

    code, report, stderr = verify(lab, tmp_path, "401", "--timeout", "90", "--remediate")
    (ct401,) = report["containers"]
    assert (code, ct401["verdict"]) == (0, "verified"), (ct401["patch"], stderr[-2000:])
    assert ct401["patch"]["changes"] == [{"key": "CPUMASK", "before": None, "after": "0"}]
    assert slave.read_conf("401").endswith('CPUMASK="0"\n')
    assert slave.container("401").wait_listening(PORT, timeout=5)


def test_a_jvm_that_opens_late_is_waited_for(lab, tmp_path):
    on_slave(lab, "403", 2, JavaSpec(ports=[PORT], delay=4.0), ip="10.200.4.3")
    code, report, stderr = verify(lab, tmp_path, "403", "--timeout", "40", "--config",
                                  config(tmp_path, {"403": {"tcp": [PORT],
                                                            "addresses": ["10.200.4.3"]}}))
    assert (code, report["containers"][0]["verdict"]) == (0, "verified"), stderr


def test_without_an_address_to_connect_to_it_is_not_called_verified(lab, tmp_path):
    on_slave(lab, "409", 2, JavaSpec(ports=[PORT]))
    code, report, _ = verify(lab, tmp_path, "409", "--timeout", "4",
                             "--config", config(tmp_path, {"409": {"tcp": [PORT]}}))
    (result,) = report["containers"]
    assert (code, result["verdict"]) == (3, "unknown")
    assert any(c["kind"] == "connect" and c["ok"] is None for c in result["checks"])


@pytest.mark.parametrize(
    ("ctid", "spec", "rule"),
    [("404", JavaSpec(ports=[PORT], mode="port_override"), "HG103"),
     ("405", JavaSpec(ports=[PORT], bind="127.0.0.1"), "HG104"),
     ("406", JavaSpec(ports=[PORT], bind="::1"), "HG104"),
     ("407", JavaSpec(ports=[PORT], mode="exit"), "HG102")],
)
def test_each_other_cause_gets_its_own_diagnosis(lab, tmp_path, ctid, spec, rule):
    on_slave(lab, ctid, 2, spec)
    code, report, stderr = verify(lab, tmp_path, ctid, "--timeout", "6",
                                  "--config", config(tmp_path, {ctid: {"tcp": [PORT]}}))
    (result,) = report["containers"]
    assert (code, result["verdict"]) == (1, "failed"), stderr
    assert [f["rule"] for f in result["findings"]] == [rule]


def test_http_checks_run_against_the_container(lab, tmp_path):
    on_slave(lab, "408", 2, JavaSpec(ports=[PORT]), ip="10.200.4.8")
    url = f"http://10.200.4.8:{PORT}/"
    good = config(tmp_path, {"408": {"tcp": [PORT], "addresses": ["10.200.4.8"],
                                     "http": [{"url": url, "timeout": 3}]}})
    code, report, stderr = verify(lab, tmp_path, "408", "--timeout", "20", "--config", good)
    assert (code, report["containers"][0]["verdict"]) == (0, "verified"), stderr
    kinds = sorted(c["kind"] for c in report["containers"][0]["checks"])
    assert kinds == ["connect", "http", "listen"]
    wrong = config(tmp_path, {"408": {"tcp": [PORT], "addresses": ["10.200.4.8"],
                                      "http": [{"url": url, "status": [500, 599], "timeout": 3}]}})
    code, report, _ = verify(lab, tmp_path, "408", "--timeout", "5", "--config", wrong)
    assert code == 1 and report["containers"][0]["findings"][0]["rule"] == "HG106"


def test_container_missing_on_the_target_fails(lab, tmp_path):
    code, report, _ = verify(lab, tmp_path, "499", "--timeout", "5",
                             "--config", config(tmp_path, {"499": {"tcp": [PORT]}}))
    assert (code, report["containers"][0]["findings"][0]["rule"]) == (1, "HG107")


def test_nothing_to_verify_is_a_usage_error(lab, tmp_path):
    result = havengate(lab, "verify", "403", "--target", "slave", "--state-dir",
                       str(tmp_path / "empty"))
    assert result.returncode == 2 and "nothing to verify" in result.stderr


def test_unreachable_target_is_unknown(lab, tmp_path):
    result = havengate(lab, "verify", "403", "--target", "gone", "--timeout", "4",
                       "--connect-timeout", "2", "--format", "json", "--config",
                       config(tmp_path, {"403": {"tcp": [PORT]}}))
    report = json.loads(result.stdout)
    assert (result.returncode, report["verdict"]) == (3, "unknown")
    assert any("cannot connect" in e for e in report["errors"])


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path.startswith("/slow"):
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture
def local_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "scheme", "words"),
    [("/loop", "http", "redirects"), ("/slow", "http", "no answer within 1 s"),
     ("/", "https", "TLS failed"), ("/", "http", "status 200")],
)
def test_http_checks_are_bounded_and_say_why(local_http, path, scheme, words):
    started = time.monotonic()
    result = http_check(HttpCheck(url=f"{scheme}://{local_http}{path}", timeout=1.0), 30.0)
    assert words in result.detail and time.monotonic() - started < 2.5
    assert result.ok is (words == "status 200")
