"""`havengate scan` on a lab fleet: masters and slaves, one node down, one with a foreign
host key, one whose vzlist prints junk, one master bound for hardware not installed yet.
The same verdicts as `check` pair by pair, from an INI inventory and from the JSON of
`ansible-inventory --list`; the plan; prometheus and JUnit outputs that parse; --apply."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from lab import JavaSpec, Lab, ServiceSpec, default_conf
from runner import HAVENGATE
from test_junit_schema import junit_schema  # noqa: F401 - the fixture, found by name

from havengate.documents import validate

PORT = 61616
PROFILE = "{'kernel': '2.6.32-042stab134.8', 'cpus': 8, 'vzctl': '4.0'}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("scan")
    lab = Lab(base / "lab")
    try:
        nodes = {}
        for name, kernel, quirk in (("m1", "2.6.24-12-pve", None), ("s1", "2.6.32-042stab134.8",
                                    None), ("m2", "2.6.24-12-pve", None),
                                    ("rekeyed", "2.6.32-042stab134.8", None),
                                    ("junk", "2.6.24-12-pve", "junk-vzlist"),
                                    ("m3", "2.6.24-12-pve", None)):
            nodes[name] = lab.add_node(name, kernel=kernel, cpus=4, vzctl_quirk=quirk,
                                       vzctl_version="3.0.24" if "2.6.24" in kernel else "4.9.4")

        def java(node: str, ctid: str, cpus: int) -> None:
            ip = f"10.200.7.{ctid[-2:].lstrip('0') or '1'}{node[-1]}"
            nodes[node].add_container(ctid, conf=default_conf(ctid, cpus=cpus, ip=ip), ip=ip,
                                      java=[JavaSpec(ports=[PORT])])

        java("m1", "101", 1)  # one CPU, no pin: HG001, patch first
        java("m1", "102", 2)
        nodes["m1"].add_container("104", conf=default_conf("104", cpus=1, ip="10.200.7.41"),
                                  ip="10.200.7.41", services=[ServiceSpec("nginx", [80])])
        java("m2", "201", 2)
        java("m3", "301", 1)  # to planned 8-CPU hardware: HG001, patch first
        java("m3", "302", 2)
        for node, ctid in (("m1", "101"), ("m1", "102"), ("m2", "201"), ("m3", "301"),
                           ("m3", "302")):
            assert nodes[node].container(ctid).wait_listening(PORT, timeout=60)
        lab.replace_host_key(nodes["rekeyed"])  # known_hosts keeps the old key
        dead_port = lab.allocate_port()
        ssh_config = base / "ssh_config"
        ssh_config.write_text(f"Host *\n  IdentityFile {lab.client_key}\n"
                              f"  UserKnownHostsFile {lab.known_hosts}\n  IdentitiesOnly yes\n")

        def line(name: str, port: int, peer: str) -> str:
            return f"{name} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root {peer}"

        ini = base / "hosts.ini"
        ini.write_text("\n".join([
            "[masters]",
            line("m1", nodes["m1"].port, "havengate_peer=s1"),
            line("m2", nodes["m2"].port, "havengate_peer=rekeyed"),
            line("junk", nodes["junk"].port, "havengate_peer=s1"),
            line("dead", dead_port, "havengate_peer=s1"),
            line("m3", nodes["m3"].port, f'havengate_target="{PROFILE}"'),
            "", "[slaves]",
            line("s1", nodes["s1"].port, ""),
            line("rekeyed", nodes["rekeyed"].port, ""),
            "", "[openvz:children]", "masters", "slaves", ""]))
        yield lab, ini, ssh_config, base
    finally:
        lab.close()


def scan(fleet, *args: str, fmt: str = "json", inventory: Path | None = None,
         state: Path | None = None) -> tuple[int, str, str]:
    _, ini, ssh_config, base = fleet
    result = subprocess.run(
        [HAVENGATE, "scan", "--inventory", str(inventory or ini), "--ssh-config", str(ssh_config),
         "--state-dir", str(state or base / "state"), "--format", fmt, "--timeout", "60",
         "--connect-timeout", "5", *args],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


def verdicts(report: dict) -> dict[str, dict]:
    return {f"{p['source']['host']}->{p['target']['host']}": {
        "verdict": p["verdict"], **{c["ctid"]: c["verdict"] for c in p["containers"]}}
        for p in report["pairs"]}


def test_a_fleet_scan_judges_every_pair_as_check_does(fleet):
    lab, _, ssh_config, base = fleet
    code, out, err = scan(fleet)
    assert code == 1, err[-3000:]  # no-go containers: exit 1, not 3
    report = json.loads(out)
    validate(report, "report")
    found = verdicts(report)
    assert found == {
        "m1->s1": {"verdict": "no-go", "101": "no-go", "102": "go", "104": "go"},
        "m2->rekeyed": {"verdict": "unknown", "201": "unknown"},
        "junk->s1": {"verdict": "unknown"},
        "dead->s1": {"verdict": "unknown"},
        "m3->planned target of m3": {"verdict": "no-go", "301": "no-go", "302": "go"},
    }, err[-3000:]
    fleet_ = report["fleet"]
    assert (fleet_["nodes"], fleet_["nodes_unreachable"], fleet_["pairs"]) == (7, 2, 5)
    assert sorted(u.split(":")[0] for u in fleet_["unreachable"]) == ["dead", "rekeyed"]
    assert any("MISMATCH" in u for u in fleet_["unreachable"])
    # every node read once (the slave s1 is the peer of three masters)
    assert lab.nodes["s1"].commands().count(["uname", "-r"]) == 1
    plan = {p["source"]["host"]: {e["ctid"]: (e["action"], e["command"]) for e in p["plan"]}
            for p in report["pairs"]}
    assert plan["m1"] == {"101": ("patch-first", "havengate patch 101 --host m1 --target s1"),
                          "102": ("move", None), "104": ("move", None)}
    assert plan["m3"]["301"] == ("patch-first", "havengate patch 301 --host m3 --target-cpus 8")
    assert plan["m2"] == {"201": ("unknown", None)}

    # check, pair by pair, with the same access: the same verdicts
    for source, target in (("m1", "s1"), ("m2", "rekeyed"), ("junk", "s1")):
        config = base / "nodes.yaml"
        config.write_text("nodes:\n" + "".join(
            f"  {n}:\n    address: 127.0.0.1\n    port: {lab.nodes[n].port}\n    user: root\n"
            for n in (source, target)))
        checked = subprocess.run(
            [HAVENGATE, "check", "--source", source, "--target", target, "--config",
             str(config), "--ssh-config", str(ssh_config), "--format", "json",
             "--no-baseline", "--go-ttl", "0", "--state-dir", str(base / "check-state")],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        result = json.loads(checked.stdout)
        expected = found[f"{source}->{target}"]
        assert result["verdict"] == expected["verdict"], (source, checked.stderr[-2000:])
        assert {c["ctid"]: c["verdict"] for c in result["containers"]} == \
            {k: v for k, v in expected.items() if k != "verdict"}


def test_the_list_json_of_ansible_inventory_gives_the_same_scan(fleet):
    _, ini, _, base = fleet
    listed = subprocess.run(["ansible-inventory", "-i", str(ini), "--list"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    as_json = base / "inventory.json"
    as_json.write_text(listed.stdout)
    _, from_ini, _ = scan(fleet)
    code, from_list, err = scan(fleet, inventory=as_json)
    assert code == 1 and verdicts(json.loads(from_list)) == verdicts(json.loads(from_ini)), err


def test_prometheus_and_junit_outputs_parse(fleet, junit_schema):  # noqa: F811
    from prometheus_client.parser import text_string_to_metric_families

    code, out, _ = scan(fleet, "--limit", "m1:m3:dead", fmt="prometheus")
    assert code == 1
    families = {f.name: f for f in text_string_to_metric_families(out)}
    samples = {(s.labels.get("node"), s.labels.get("ctid")): s.labels["verdict"]
               for s in families["havengate_container_verdict"].samples}
    assert samples == {("m1", "101"): "no-go", ("m1", "102"): "go", ("m1", "104"): "go",
                       ("m3", "301"): "no-go", ("m3", "302"): "go"}
    assert families["havengate_scan_nodes_unreachable"].samples[0].value == 1
    assert families["havengate_scan_nodes"].samples[0].value == 4  # m1, m3, dead, s1
    assert families["havengate_scan_duration_seconds"].samples[0].value > 0
    code, out, _ = scan(fleet, "--limit", "m1", fmt="junit")
    assert code == 1
    junit_schema.validate(out)
    assert "m1 -&gt; s1: CT 101" in out


def test_apply_patches_exactly_the_plan_and_a_second_run_nothing(fleet, tmp_path):
    lab, *_ = fleet
    before = {(node, ctid): lab.nodes[node].read_conf_bytes(ctid)
              for node, ctid in (("m1", "101"), ("m3", "301"))}
    try:
        _apply_twice(fleet, tmp_path)
    finally:  # the other tests of the module expect the fleet as it was
        for (node, ctid), data in before.items():
            lab.nodes[node].write_conf(ctid, data)


def _apply_twice(fleet, tmp_path):
    lab, *_ = fleet
    code, out, err = scan(fleet, "--limit", "m1:m3", "--apply", "--policy", "patch", "--yes",
                          state=tmp_path)
    report = json.loads(out)
    assert code == 0, err[-3000:]  # the no-go ones patched, nothing else in the way
    found = verdicts(report)
    assert found["m1->s1"]["101"] == "patched" and found["m3->planned target of m3"]["301"] \
        == "patched"
    journal = subprocess.run([HAVENGATE, "journal", "--state-dir", str(tmp_path), "--format",
                              "json"], capture_output=True, text=True, timeout=60)
    patched = sorted((e["node"], e["ctid"], e["state"]) for e in json.loads(journal.stdout))
    assert [(ctid, state) for _, ctid, state in patched] == [("101", "completed"),
                                                             ("301", "completed")]
    assert 'CPUMASK="0"' in lab.nodes["m1"].read_conf("101")
    code, out, err = scan(fleet, "--limit", "m1:m3", "--apply", "--policy", "patch", "--yes",
                          state=tmp_path)
    again = json.loads(out)
    assert code == 0 and again["fleet"]["plan"].get("patch-first", 0) == 0, err[-2000:]
    journal = subprocess.run([HAVENGATE, "journal", "--state-dir", str(tmp_path), "--format",
                              "json"], capture_output=True, text=True, timeout=60)
    assert len(json.loads(journal.stdout)) == 2  # nothing new


@pytest.mark.parametrize(("inventory", "message"), [
    ("[m]\na havengate_peer=b\n", "havengate_peer 'b' is not a host of the inventory"),
    ("[m]\na havengate_peer=a\n", "havengate_peer is the node itself"),
    ("[m]\na havengate_peer=b\nb havengate_peer=a\n", "havengate_peer cycle: a -> b -> a"),
    ("[m]\na ansible_host=10.0.0.1 havengate_peer=c\nb ansible_host=10.0.0.1 "
     "havengate_peer=c\nc\n", "hosts a and b are the same node (10.0.0.1)"),
    ("[m]\na havengate_target=\"{'kernel': '2.6.32', 'cpus': 0}\"\n", "cpus must be a CPU count"),
    ("[m]\na\nb\n", "no node with havengate_peer or havengate_target"),
    ("[m\na\n", "hosts.ini:1:"),
])
def test_bad_inventories_are_refused_before_any_node(tmp_path, inventory, message):
    path = tmp_path / "hosts.ini"
    path.write_text(inventory)
    result = subprocess.run([HAVENGATE, "scan", "-i", str(path), "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_inventorys_private_key_is_offered_and_a_missing_one_refused(fleet, tmp_path):
    """ansible_ssh_private_key_file, as the team's inventory sets it: the only key there is
    (the ssh config names none); a key file that is not there stops the scan before any
    node is touched."""
    lab, _, _, base = fleet
    keyless = tmp_path / "ssh_config"
    keyless.write_text(f"Host *\n  UserKnownHostsFile {lab.known_hosts}\n  IdentitiesOnly yes\n")
    home = tmp_path / "home"  # no ~/.ssh/id_* key, no agent: only what the inventory names
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home)}

    def scan_with(key_line: str) -> tuple[int, dict, str]:
        hosts = tmp_path / "hosts.ini"
        hosts.write_text(
            f"[masters]\nm1 ansible_host=127.0.0.1 ansible_port={lab.nodes['m1'].port} "
            f"havengate_peer=s1\n[slaves]\ns1 ansible_host=127.0.0.1 "
            f"ansible_port={lab.nodes['s1'].port}\n[all:vars]\nansible_user=root\n{key_line}")
        result = subprocess.run(
            [HAVENGATE, "scan", "-i", str(hosts), "--ssh-config", str(keyless), "--state-dir",
             str(base / "state"), "--format", "json", "--connect-timeout", "5"],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
        return result.returncode, json.loads(result.stdout), result.stderr

    code, report, err = scan_with(f"ansible_ssh_private_key_file={lab.client_key}\n")
    assert code == 1 and verdicts(report) == {
        "m1->s1": {"verdict": "no-go", "101": "no-go", "102": "go", "104": "go"}}, err[-2000:]
    code, report, err = scan_with("")  # no key anywhere: both nodes unread, and why
    assert code == 3 and report["fleet"]["nodes_unreachable"] == 2
    assert all("no key to offer" in reason for reason in report["fleet"]["unreachable"])
    before = len(lab.nodes["m1"].commands())
    code, report, err = scan_with(f"ansible_ssh_private_key_file={tmp_path / 'typo'}\n")
    assert (code, report["verdict"], report["pairs"]) == (2, "usage-error", [])
    assert f"m1: private key {tmp_path / 'typo'} is not a file" in err
    assert len(lab.nodes["m1"].commands()) == before


def test_an_ssh_config_that_cannot_be_read_is_the_operators_error_not_every_nodes(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[m]\na havengate_peer=b\nb\n")
    result = subprocess.run([HAVENGATE, "scan", "-i", str(path), "--ssh-config",
                             str(tmp_path / "missing_config"), "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "missing_config" in result.stderr, result.stderr


def test_an_empty_limit_match_is_refused(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[m]\na havengate_peer=b\nb\n")
    result = subprocess.run([HAVENGATE, "scan", "-i", str(path), "--limit", "zzz*"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "--limit zzz* matches no host" in result.stderr


def test_shards_merge_into_one_fleet_report_and_overlaps_are_refused(fleet, tmp_path):
    parts = []
    for limit in ("m1:junk", "m3:dead"):
        path = tmp_path / f"{limit.replace(':', '-')}.json"
        code, _, err = scan(fleet, "--limit", limit, "-o", str(path), state=tmp_path)
        assert code == 1 and path.is_file(), err[-2000:]
        parts.append(str(path))
    merged = subprocess.run([HAVENGATE, "report", "merge", *parts, "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert merged.returncode == 1, merged.stderr
    report = json.loads(merged.stdout)
    validate(report, "report")
    assert set(verdicts(report)) == {"m1->s1", "junk->s1", "m3->planned target of m3",
                                     "dead->s1"}
    assert (report["fleet"]["pairs"], report["fleet"]["nodes_unreachable"]) == (4, 1)
    assert report["fleet"]["totals"] == {"no-go": 2, "go": 3}
    assert report["notes"][-1].startswith("merged from 2 scan reports")
    # the shard's "1 of 2" is counted again over the whole fleet
    assert [n for n in report["notes"] if "could not be read" in n] == [
        "1 of 5 node(s) could not be read: their pairs are unknown"]
    prometheus = subprocess.run([HAVENGATE, "report", "merge", *parts, "--format",
                                 "prometheus"], capture_output=True, text=True, timeout=60)
    assert 'havengate_container_verdict{node="m3",peer="planned target of m3",ctid="301",' \
           'verdict="no-go"} 1' in prometheus.stdout
    overlap = subprocess.run([HAVENGATE, "report", "merge", parts[0], parts[0]],
                             capture_output=True, text=True, timeout=60)
    assert overlap.returncode == 2 and "the shards overlap" in overlap.stderr
    not_a_scan = tmp_path / "check.json"
    not_a_scan.write_text(subprocess.run(
        [HAVENGATE, "check", "--source-facts", str(Path(__file__).parent.parent / "examples" /
                                                    "master-2.6.24.facts.json"),
         "--target-facts", str(Path(__file__).parent.parent / "examples" /
                                "slave-2.6.32.facts.json"), "--format", "json"],
        capture_output=True, text=True, timeout=60).stdout)
    refused = subprocess.run([HAVENGATE, "report", "merge", parts[0], str(not_a_scan)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "only scan reports merge" in refused.stderr


def test_the_ansible_playbook_scans_per_batch_and_merges(fleet, tmp_path):
    """examples/ansible with ansible-core: serial batches of masters, one scan each, merged;
    the fleet report says what one scan of all the masters says."""
    import os

    _, ini, ssh_config, _ = fleet
    playbook = Path(__file__).parent.parent / "examples" / "ansible" / "havengate-scan.yml"
    extra = {"havengate_serial": 2, "havengate_out": str(tmp_path / "out"),
             "havengate_args": ["--ssh-config", str(ssh_config), "--state-dir",
                                str(tmp_path / "state"), "--timeout", "60",
                                "--connect-timeout", "5"]}
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible"), "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    played = subprocess.run(["ansible-playbook", "-i", str(ini), str(playbook), "-e",
                             json.dumps(extra)], capture_output=True, text=True, timeout=600,
                            env=env, stdin=subprocess.DEVNULL)
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-2000:]
    shards = sorted(p.name for p in (tmp_path / "out" / "shards").iterdir())
    assert shards == ["junk.json", "m1.json", "m3.json"]  # 5 masters, 2 per batch
    merged = json.loads((tmp_path / "out" / "fleet.json").read_text())
    validate(merged, "report")
    code, out, _ = scan(fleet, "--limit", "masters")
    assert code == 1 and verdicts(merged) == verdicts(json.loads(out))


def test_nothing_no_go_but_something_unread_is_exit_3(fleet):
    code, out, err = scan(fleet, "--limit", "m2:junk:dead")
    report = json.loads(out)
    assert code == 3, err[-2000:]
    assert {p["verdict"] for p in report["pairs"]} == {"unknown"}
    assert report["fleet"]["nodes_unreachable"] == 2  # dead, and rekeyed (m2's peer)


def test_progress_is_a_live_line_on_a_terminal_and_never_on_stdout(fleet):
    """stderr a terminal: one line rewritten (\\r), nodes done and failures so far; stdout
    a pipe: the report alone. Without a terminal: a line per node."""
    import os
    import pty

    _, ini, ssh_config, base = fleet
    argv = [HAVENGATE, "scan", "-i", str(ini), "--ssh-config", str(ssh_config), "--state-dir",
            str(base / "state"), "--limit", "m1:dead", "--format", "json",
            "--connect-timeout", "5"]
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower,
                               stdin=subprocess.DEVNULL)
    os.close(follower)
    said = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other side closed: havengate ended
            break
        if not chunk:
            break
        said += chunk
    out, _ = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 1
    validate(json.loads(out), "report")  # stdout: the report, nothing else
    text = said.decode(errors="replace")
    assert "\rscanning: 3 node(s) done, 1 not read so far" in text, text
    _, _, err = scan(fleet, "--limit", "m1:dead")
    assert "NOT READ: dead:" in err and "m1: read (3 container(s))" in err
