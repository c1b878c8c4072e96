"""The config file: YAML or JSON, found where an operator keeps it, its errors pointing at
the file, line and key, its defaults below the flags, its node access used by SSH."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from havengate.api import config as config_module
from havengate.api.config import find_config, load_config
from havengate.cli import main
from havengate.documents import validate
from havengate.errors import DocumentError
from havengate.transport.address import Destination, NodeAccess, NodeEntry

EXAMPLES = Path(__file__).parent.parent / "examples"
OFFLINE = ["--source-facts", str(EXAMPLES / "master-2.6.24.facts.json"),
           "--target-facts", str(EXAMPLES / "slave-2.6.32.facts.json")]

FULL = """\
# the team's config
defaults:
  policy: warn
  state-dir: /srv/havengate
  connect-timeout: 5
  verify-timeout: 120
nodes:
  master:
    address: 10.0.0.1
    user: root
    port: 2222
  slave:
    vzmigrate-dest: 10.1.0.2
patch:
  strategy: cpus
  cpus: 4
  containers:
    "101": {strategy: both}
verify:
  containers:
    "101":
      tcp: [8080]
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_yaml_config_gives_every_section(tmp_path):
    config = load_config(write(tmp_path, FULL))
    assert config.defaults["policy"] == "warn" and config.defaults["verify-timeout"] == 120
    assert config.node_entries()["master"] == NodeEntry("10.0.0.1", "root", 2222)
    assert config.vzmigrate_dest("slave") == "10.1.0.2" and config.vzmigrate_dest("x") is None
    assert config.patch_settings("101", {}).strategy.value == "both"
    assert config.verify["containers"]["101"]["tcp"] == [8080]


def test_json_is_read_the_same(tmp_path):
    import yaml

    document = yaml.safe_load(FULL)
    assert load_config(write(tmp_path, json.dumps(document), "c.json")) == \
        load_config(write(tmp_path, FULL)).__class__(**{
            **load_config(write(tmp_path, FULL)).__dict__, "source": tmp_path / "c.json"})


@pytest.mark.parametrize(("text", "where"), [
    ("defaults:\n  connect-timeout: -1\n", r"config\.yaml:2: \$\.defaults\.connect-timeout: "),
    ("defaults:\n  policy: block\n  polcy: patch\n",  # the line of the key not allowed
     r"config\.yaml:3: \$\.defaults: Additional properties .*'polcy'"),
    ("nodes:\n  master:\n    port: 70000\n", r"config\.yaml:3: \$\.nodes\.master\.port: "),
    ("nodes:\n  master:\n    user: 'root; rm -rf /'\n", r"config\.yaml:3: \$\.nodes\.master\.user"),
    ("nodes:\n  master:\n    identity-file: keys/id\n",
     r"config\.yaml:3: \$\.nodes\.master\.identity-file: 'keys/id' does not match"),
    ("patch:\n  containers:\n    '101':\n      cpus: 0\n",
     r"config\.yaml:4: \$\.patch\.containers\.101\.cpus: 0 is less than the minimum"),
    ("defaults:\n  policy: block\n  policy: patch\n",
     r"config\.yaml:3: key 'policy' appears twice"),
    ("defaults:\n  policy: [block\n", r"config\.yaml:3: not YAML or JSON"),
    ("- just\n- a list\n", r"config\.yaml:1: \$: .* is not of type 'object'"),
])
def test_errors_name_the_file_the_line_and_the_key(tmp_path, text, where):
    with pytest.raises(DocumentError, match=where):
        load_config(write(tmp_path, text))


def test_json_errors_have_lines_too(tmp_path):
    path = write(tmp_path, '{\n  "defaults": {\n    "go-ttl": "an hour"\n  }\n}\n', "c.json")
    with pytest.raises(DocumentError, match=r"c\.json:3: \$\.defaults\.go-ttl: 'an hour'"):
        load_config(path)


def test_an_empty_file_is_no_settings_and_odd_files_are_refused(tmp_path):
    assert load_config(write(tmp_path, "# nothing yet\n")).defaults == {}
    with pytest.raises(DocumentError, match="not a regular file"):
        load_config(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_config(tmp_path / "bin.yaml")


def test_lookup_order(tmp_path, monkeypatch):
    user, system = write(tmp_path, "{}", "user.yaml"), write(tmp_path, "{}", "system.yaml")
    monkeypatch.setattr(config_module, "USER_FILE", user)
    monkeypatch.setattr(config_module, "SYSTEM_FILE", system)
    named = write(tmp_path, "{}", "named.yaml")
    assert find_config(named, {}) == named
    assert find_config(None, {"HAVENGATE_CONFIG": str(named)}) == named
    assert find_config(None, {}) == user
    user.unlink()
    assert find_config(None, {}) == system
    system.unlink()
    assert find_config(None, {}) is None
    with pytest.raises(DocumentError, match=r"\$HAVENGATE_CONFIG=.*missing\.yaml: no such file"):
        find_config(None, {"HAVENGATE_CONFIG": str(tmp_path / "missing.yaml")})


def test_node_access_completes_what_the_operator_typed():
    access = NodeAccess(nodes={"master": NodeEntry("10.0.0.1", "root", 2222)})
    assert access.reach("master") == Destination("root", "10.0.0.1", 2222)
    assert access.reach("admin@master:22") == Destination("admin", "10.0.0.1", 22)
    assert access.reach("slave") == Destination(None, "slave", None)


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.startswith("{") else None, err


def test_config_defaults_sit_below_the_flags(tmp_path, capsys):
    path = write(tmp_path, "defaults:\n  policy: warn\n")
    code, report, _ = run(capsys, "check", "101", *OFFLINE, "--format", "json",
                          "--config", str(path))
    assert (code, report["policy"]) == (0, "warn")  # HG001 only warns
    code, report, _ = run(capsys, "check", "101", *OFFLINE, "--format", "json",
                          "--config", str(path), "--policy", "block")
    assert (code, report["policy"]) == (1, "block")  # the flag wins
    code, report, _ = run(capsys, "check", "101", *OFFLINE, "--format", "json",
                          "--config", str(path), "--no-config")
    assert (code, report["policy"]) == (1, "block")  # no config read at all


def test_the_environment_names_the_config(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HAVENGATE_CONFIG", str(write(tmp_path, "defaults:\n  policy: warn\n")))
    code, report, _ = run(capsys, "check", "101", *OFFLINE, "--format", "json")
    assert (code, report["policy"]) == (0, "warn")
    monkeypatch.setenv("HAVENGATE_CONFIG", str(tmp_path / "typo.yaml"))
    code, report, err = run(capsys, "check", "101", *OFFLINE, "--format", "json")
    assert code == 2 and "HAVENGATE_CONFIG" in err and "Traceback" not in err
    validate(report, "report")
    assert report["verdict"] == "usage-error"


def test_a_default_a_command_cannot_take_is_refused_with_its_source(tmp_path, capsys):
    path = write(tmp_path, "defaults:\n  policy: warn\n")
    code, _, err = run(capsys, "migrate", "101", "--source", "a", "--target", "b",
                       "--config", str(path), "--state-dir", str(tmp_path))
    assert code == 2 and "defaults.policy: 'warn' is not one of block, patch" in err
    assert str(path) in err


def test_a_bad_config_stops_every_command_before_any_node(tmp_path):
    path = write(tmp_path, "defaults:\n  connect-timeout: soon\n")
    result = subprocess.run(["havengate", "facts", "nowhere.invalid", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{path}:2: $.defaults.connect-timeout: 'soon' is not of type 'number'" in \
        result.stderr


def test_ssh_reaches_a_node_by_its_config_entry(tmp_path):
    """A name no ssh_config knows, made reachable by the config file's nodes entry."""
    from lab import Lab

    with Lab(tmp_path / "lab") as lab:
        master = lab.add_node("master", kernel="2.6.24-12-pve", cpus=4)
        ssh_config = write(tmp_path, f"Host *\n  IdentityFile {lab.client_key}\n"
                                     f"  UserKnownHostsFile {lab.known_hosts}\n"
                                     "  IdentitiesOnly yes\n", "ssh_config")
        path = write(tmp_path, f"nodes:\n  old-master:\n    address: 127.0.0.1\n"
                               f"    port: {master.port}\n    user: root\n")
        result = subprocess.run(
            ["havengate", "facts", "old-master", "--node-only", "--config", str(path),
             "--ssh-config", str(ssh_config)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["node"]["kernel"]["release"] == "2.6.24-12-pve"

        # the key only in the config's entry (the ssh config names none): offered, and used
        keyless = write(tmp_path, f"Host *\n  UserKnownHostsFile {lab.known_hosts}\n"
                                  "  IdentitiesOnly yes\n", "keyless_ssh_config")
        home = tmp_path / "home"  # no ~/.ssh/id_* key, no agent: only what we name
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home)}
        public = Path(f"{lab.client_key}.pub")
        outcomes = {}
        for key in (lab.client_key, tmp_path / "no-such-key", public, None):
            entry = f"    identity-file: {key}\n" if key else ""
            path = write(tmp_path, f"nodes:\n  old-master:\n    address: 127.0.0.1\n"
                                   f"    port: {master.port}\n    user: root\n{entry}")
            run = subprocess.run(
                ["havengate", "facts", "old-master", "--node-only", "--config", str(path),
                 "--ssh-config", str(keyless)], capture_output=True, text=True, timeout=120,
                env=env)
            outcomes[str(key)] = (run.returncode, run.stderr)
        assert outcomes[str(lab.client_key)][0] == 0, outcomes
        code, err = outcomes[str(tmp_path / "no-such-key")]
        assert code == 2 and f"private key {tmp_path / 'no-such-key'} is not a file" in err
        code, err = outcomes[str(public)]
        assert code == 2 and f"private key {public} is not a private key" in err, err
        code, err = outcomes["None"]
        assert code == 3 and "authentication failed" in err and "no key to offer" in err
        path = write(tmp_path, f"nodes:\n  old-master:\n    address: 127.0.0.1\n"
                               f"    identity-file: {tmp_path / 'no-such-key'}\n")
        revert = subprocess.run(  # two containers, one error: the key, not two "failed"
            ["havengate", "revert", "101", "102", "--host", "old-master", "--config", str(path),
             "--ssh-config", str(keyless), "--state-dir", str(tmp_path / "state"), "-q"],
            capture_output=True, text=True, timeout=120, env=env)
        assert revert.returncode == 2, revert.stderr
        assert f"private key {tmp_path / 'no-such-key'} is not a file" in revert.stderr


def test_yaml_numbers_as_ctid_keys_are_the_ctids(tmp_path):
    """`101:` unquoted is YAML's integer 101: it still names CT 101 (it used to be ignored)."""
    config = load_config(write(tmp_path, "patch:\n  containers:\n    101: {strategy: both}\n"
                                         "verify:\n  containers:\n    101:\n      tcp: [8080]\n"))
    assert config.patch_settings("101", {}).strategy.value == "both"
    assert config.verify["containers"]["101"]["tcp"] == [8080]


@pytest.mark.parametrize(("text", "where"), [
    ("patch:\n  containers:\n    yes: {cpus: 2}\n", r"config\.yaml:2: key True .* quote it"),
    ("defaults: &d\n  policy: block\npatch: *d\n", r"config\.yaml:\d: YAML anchors and aliases"),
    ("a: &a [*a]\n", r"config\.yaml:1: YAML anchors and aliases"),
    ("patch:\n  containers:\n    0123: {cpus: 2}\n", r"config\.yaml:3: key '0123' is a number"),
    ("patch:\n  containers:\n    1_01: {cpus: 2}\n", r"config\.yaml:3: key '1_01' is a number"),
])
def test_yaml_s_surprises_are_refused_with_their_line(tmp_path, text, where):
    with pytest.raises(DocumentError, match=where):
        load_config(write(tmp_path, text))


def test_a_flag_given_wins_over_a_default_the_command_could_not_take(tmp_path, capsys):
    """`policy: warn` suits check; migrate refuses it only when no --policy is given."""
    path = write(tmp_path, "defaults:\n  policy: warn\n")
    code, _, err = run(capsys, "migrate", "101", "--source", "a", "--target", "a",
                       "--config", str(path), "--policy", "block", "--state-dir",
                       str(tmp_path))
    assert code == 2 and "nothing would move" in err  # past the config: the flag decided


def test_config_node_entries_complete_the_inventory_field_by_field():
    from havengate.api.scan import _merged

    inventory = {"m1": NodeEntry("10.0.0.1", "root", 2222, "~/.ssh/fleet")}
    merged = _merged(inventory, {"m1": NodeEntry(user="admin"), "m2": NodeEntry(port=22)})
    assert merged == {"m1": NodeEntry("10.0.0.1", "admin", 2222, "~/.ssh/fleet"),
                      "m2": NodeEntry(port=22)}
    assert _merged(inventory, {"m1": NodeEntry(identity_file="/etc/k")})["m1"].identity_file \
        == "/etc/k"


def test_a_nodes_private_key_is_checked_whatever_form_its_name_takes(tmp_path):
    """ssh://user@name:port, user@name and the bare name all find the node's entry; a key
    that is not there is exit 2 (UsageError) for each, and local needs none."""
    from havengate.errors import UsageError
    from havengate.transport import preflight

    access = NodeAccess(nodes={"master": NodeEntry(identity_file=str(tmp_path / "k"))})
    for name in ("ssh://root@master:22", "root@master", "master"):
        with pytest.raises(UsageError, match=f"private key {tmp_path / 'k'} is not a file"):
            preflight(access, (name,))
    preflight(access, ("local", "other"))
