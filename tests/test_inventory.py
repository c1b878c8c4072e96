"""Ansible inventories: the Ansible docs' own examples, the three formats, --limit patterns.

The fixtures under fixtures/inventory/ are the examples of Ansible's inventory and
patterns guides and of ansible-core's ini plugin, verbatim (see its README.md).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from havengate.errors import DocumentError
from havengate.inventory import (
    Inventory,
    InventoryError,
    InventoryHost,
    load_inventory,
    parse_ini,
    parse_list_json,
    parse_yaml,
)

FIXTURES = Path(__file__).parent / "fixtures" / "inventory"


def load(name: str) -> Inventory:
    return load_inventory(FIXTURES / name)


def names(hosts: tuple[InventoryHost, ...]) -> list[str]:
    return [host.name for host in hosts]


def ini(text: str) -> Inventory:
    return parse_ini(text, "inventory.ini")


def ini_error(text: str) -> str:
    with pytest.raises(InventoryError) as caught:
        ini(text)
    return str(caught.value)


def yaml_error(text: str) -> str:
    with pytest.raises(InventoryError) as caught:
        parse_yaml(text, "inventory.yml")
    return str(caught.value)


# --- the docs' examples -------------------------------------------------------------------

def test_basic_ini_and_yaml_examples_give_the_same_inventory():
    by_ini, by_yaml = load("docs_basic.ini"), load("docs_basic.yml")
    assert names(by_ini.hosts) == ["mail.example.com", "foo.example.com", "bar.example.com",
                                   "one.example.com", "two.example.com", "three.example.com"]
    assert by_ini.hosts == by_yaml.hosts
    assert dict(by_ini.groups) == dict(by_yaml.groups)


def test_default_groups_all_and_ungrouped():
    """Docs: mail.example.com is in all and ungrouped; two.example.com in all and dbservers."""
    inventory = load("docs_basic.ini")
    assert inventory.host("mail.example.com").groups == ("all", "ungrouped")
    assert inventory.host("two.example.com").groups == ("all", "dbservers")
    assert inventory.groups["ungrouped"] == ("mail.example.com",)
    assert len(inventory.groups["all"]) == 6


def test_parent_groups_give_the_same_groups_as_listing_every_host():
    listed, nested = load("docs_multiple_groups.yml"), load("docs_parent_groups.yml")
    for group in ("prod", "test", "east", "west", "webservers", "dbservers"):
        assert set(listed.groups[group]) == set(nested.groups[group])
    assert nested.host("one.example.com").groups == ("all", "dbservers", "east", "prod")


@pytest.mark.parametrize("name", ["docs_range.ini", "docs_range.yml"])
def test_numeric_range_keeps_leading_zeros(name):
    hosts = names(load(name).hosts)
    assert len(hosts) == 50
    assert hosts[0] == "www01.example.com" and hosts[-1] == "www50.example.com"


@pytest.mark.parametrize("name", ["docs_range_stride.ini", "docs_range_stride.yml"])
def test_range_with_a_stride(name):
    """Docs: www01, www03, ..., www49, but not www00, www02 or www50."""
    assert names(load(name).hosts) == [f"www{n:02d}.example.com" for n in range(1, 50, 2)]


def test_alphabetic_range():
    inventory = load("docs_range_alpha.ini")
    assert inventory.groups["databases"] == tuple(f"db-{c}.example.com" for c in "abcdef")


def test_ranges_nest_and_combine_with_a_port():
    inventory = ini("[openvz]\nnode[1:2]-[a:b].example.com:2222\n")
    assert names(inventory.hosts) == ["node1-a.example.com", "node1-b.example.com",
                                      "node2-a.example.com", "node2-b.example.com"]
    assert {host.port for host in inventory.hosts} == {2222}


def test_ipv6_hosts_take_a_port_only_in_brackets():
    inventory = ini("[v6]\n[2001:db8::1]:2222\n2001:db8::2\n")
    assert [(h.name, h.port) for h in inventory.hosts] == [("2001:db8::1", 2222), ("2001:db8::2", None)]
    assert names(inventory.select("2001:db8::2")) == ["2001:db8::2"]  # one address, not a:b:c


def test_host_variables_ini_and_yaml():
    by_ini, by_yaml = load("docs_host_vars.ini"), load("docs_host_vars.yml")
    assert dict(by_ini.host("host2").vars) == {"http_port": 303, "maxRequestsPerChild": 909}
    assert by_ini.hosts == by_yaml.hosts


def test_port_after_the_host_name():
    host = load("docs_port.ini").host("badwolf.example.com")
    assert host.port == 5309 and host.address == "badwolf.example.com"
    assert host.vars["ansible_port"] == 5309


def test_connection_variables():
    inventory = load("docs_connection_vars.ini")
    assert names(inventory.hosts) == ["localhost", "other1.example.com", "other2.example.com"]
    assert inventory.host("localhost").vars["ansible_connection"] == "local"
    assert inventory.host("localhost").user is None
    assert inventory.host("other2.example.com").user == "myotheruser"


def test_inventory_alias_ini_and_yaml():
    by_ini = load("docs_alias.ini").host("jumper")
    snippet = (FIXTURES / "docs_alias_snippet.yml").read_text()
    by_yaml = parse_yaml("all:\n" + snippet, "alias.yml").host("jumper")  # the docs' "# ..."
    assert (by_ini.address, by_ini.port) == ("192.0.2.50", 5555)
    assert by_ini == by_yaml


def test_group_variables_ini_and_yaml():
    by_ini, by_yaml = load("docs_group_vars.ini"), load("docs_group_vars.yml")
    assert by_ini.host("host1").vars["ntp_server"] == "ntp.atlanta.example.com"
    assert by_ini.hosts == by_yaml.hosts


def test_groups_of_groups_yaml():
    inventory = load("docs_groups_of_groups.yml")
    host2 = inventory.host("host2")
    assert host2.groups == ("all", "atlanta", "raleigh", "southeast", "usa")
    assert host2.vars["halon_system_timeout"] == 30
    assert inventory.groups["usa"] == ("host1", "host2", "host3")
    assert inventory.groups["northeast"] == ()


def test_groups_of_groups_ini_example_names_undefined_groups():
    """The docs' INI version lists northeast, southwest and northwest as children without
    declaring them: ansible-core's ini plugin refuses that file, and so does havengate."""
    with pytest.raises(InventoryError) as caught:
        load("docs_groups_of_groups.ini")
    source = FIXTURES / "docs_groups_of_groups.ini"
    assert str(caught.value) == (f"{source}:21: Section [usa:children] includes undefined "
                                 "group: northeast")


def test_behavioral_parameters_example():
    inventory = load("docs_behavioral.ini")
    some_host = inventory.host("some_host")
    assert (some_host.port, some_host.user) == (2222, "manager")
    assert inventory.host("aws_host").vars == {
        "ansible_ssh_private_key_file": "/home/example/.ssh/aws.pem"}
    assert inventory.host("aws_host").identity_file == "/home/example/.ssh/aws.pem"
    assert some_host.identity_file is None
    assert inventory.groups["ungrouped"] == ("some_host", "aws_host", "freebsd_host",
                                             "ruby_module_host")


def test_the_private_key_is_the_ssh_plugins_last_variable_set():
    """ansible_private_key_file, then ansible_ssh_private_key_file (the ssh plugin's order:
    the later wins), from the host or any of its groups."""
    inventory = ini("[nodes]\nn1\nn2 ansible_private_key_file=~/.ssh/n2\n"
                    "n3 ansible_private_key_file=~/.ssh/a ansible_ssh_private_key_file=~/.ssh/b\n"
                    "[nodes:vars]\nansible_private_key_file=/etc/keys/fleet\n")
    assert [h.identity_file for h in inventory.hosts] == [
        "/etc/keys/fleet", "~/.ssh/n2", "~/.ssh/b"]


def test_ini_plugin_example_1():
    """ansible-core evaluates [group:vars] values as Python literals too (the comments of
    the example, and the docs, say strings): `myvar=23 # ...` is 23, `has_java = True # ...`
    is True. havengate reads what Ansible reads."""
    inventory = load("ini_plugin_example1.ini")
    assert names(inventory.hosts) == ["host1", "host2", "tomcat1", "tomcat2", "tomcat3", "jenkins1"]
    assert dict(inventory.host("host2").vars) == {
        "has_java": False, "http_port": 8080, "myvar": 23, "ansible_port": 222}
    assert inventory.host("tomcat2").vars["myvar"] == 34  # host vars override group vars
    assert inventory.host("tomcat3").vars["mysecret"] == "03#pa33w0rd"
    assert inventory.host("jenkins1").vars["has_java"] is True  # child group over parent
    assert inventory.host("tomcat1").vars["has_java"] is False  # 'all' is 'top' parent
    assert inventory.groups["web"] == ("host1", "host2", "tomcat1", "tomcat2", "tomcat3", "jenkins1")
    assert inventory.host("jenkins1").groups == ("all", "nginx", "web")


def test_ini_plugin_example_2():
    inventory = load("ini_plugin_example2.ini")
    assert inventory.groups["ungrouped"] == ("host1", "host2", "host3")
    assert [(h.address, h.port) for h in inventory.hosts[1:3]] == [("127.0.0.1", 44), ("127.0.0.1", 45)]
    assert names(inventory.hosts).count("host4") == 1
    assert inventory.host("host4").groups == ("all", "g1", "g2")


# --- values and precedence ----------------------------------------------------------------

def test_inline_values_are_python_literals_where_possible():
    host = ini("""node01 cpus=8 x="a b" quoted="'8'" on=True yes=yes none=None list="[1, 2]" """
               """pair="(1, 2)" vzctl=4.0 kernel=2.6.32-042stab134.8 empty=\n""").host("node01")
    assert dict(host.vars) == {"cpus": 8, "x": "a b", "quoted": "8", "on": True, "yes": "yes",
                               "none": None, "list": [1, 2], "pair": [1, 2], "vzctl": 4.0,
                               "kernel": "2.6.32-042stab134.8", "empty": ""}


def test_group_vars_keep_everything_after_the_equals_sign():
    host = ini("[g]\nnode01\n[g:vars]\nproxy = proxy.example.com # comment\nport=22 # comment\n"
               "motd=hello world\n").host("node01")
    assert dict(host.vars) == {"proxy": "proxy.example.com # comment", "port": 22,
                               "motd": "hello world"}


def test_comments_and_blank_lines():
    inventory = ini("# comment\n; comment too\n\n   \n[g] # trailing comment\n  node01  # c\n"
                    "\t; indented comment\nnode02\n")
    assert names(inventory.hosts) == ["node01", "node02"]


def test_groups_at_the_same_depth_merge_alphabetically():
    text = "[b_group]\nnode01\n[a_group]\nnode01\n[a_group:vars]\nv=a\n[b_group:vars]\nv=b\n"
    assert ini(text).host("node01").vars["v"] == "b"


def test_ansible_group_priority_docs_example():
    """The docs' example, plus a host in both groups: priority 10 makes a_group win."""
    text = (FIXTURES / "docs_group_priority.yml").read_text()
    text += "all:\n  hosts:\n    node01:\n"
    text = text.replace("    ansible_group_priority: 10\n",
                        "    ansible_group_priority: 10\n  hosts:\n    node01:\n")
    text = text.replace("    testvar: b\n", "    testvar: b\n  hosts:\n    node01:\n")
    host = parse_yaml(text, "priority.yml").host("node01")
    assert host.vars == {"testvar": "a"}  # ansible_group_priority is not a variable
    without = parse_yaml(text.replace("    ansible_group_priority: 10\n", ""), "p.yml")
    assert without.host("node01").vars == {"testvar": "b"}


def test_child_groups_override_parents_whatever_their_names():
    text = "[a_child]\nnode01\n[z_parent:children]\na_child\n[z_parent:vars]\nv=parent\n" \
           "[a_child:vars]\nv=child\n[all:vars]\nv=all\nw=all\n"
    assert dict(ini(text).host("node01").vars) == {"v": "child", "w": "all"}


def test_depth_is_the_longest_path_from_all():
    """c is a child of all-level a and of b (itself under a): depth 3 beats depth 2."""
    text = "[a:children]\nb\nc\n[b:children]\nc\n[c]\nnode01\n[d]\nnode01\n" \
           "[c:vars]\nv=c\n[d:vars]\nv=d\n"
    assert ini(text).host("node01").vars["v"] == "c"


def test_dict_variables_are_replaced_not_merged():
    """Ansible's default hash_behaviour is replace."""
    text = "all:\n  vars:\n    t: {a: 1, b: 2}\n  hosts:\n    node01:\n      t: {a: 3}\n"
    assert parse_yaml(text, "x.yml").host("node01").vars == {"t": {"a": 3}}


def test_ssh_variants_of_connection_variables_win_as_in_ansible():
    """The ssh plugin reads ansible_host, then ansible_ssh_host: the last one set wins."""
    host = ini("node01 ansible_host=a ansible_ssh_host=b ansible_port=1 ansible_ssh_port=2 "
               "ansible_user=u ansible_ssh_user=v\n").host("node01")
    assert (host.address, host.port, host.user) == ("b", 2, "v")


def test_a_port_given_as_a_string_is_a_number():
    yaml_host = parse_yaml("all:\n  hosts:\n    n:\n      ansible_port: '2222'\n", "x.yml").host("n")
    assert yaml_host.port == 2222


def test_a_host_in_two_groups_is_one_host_with_both_groups():
    inventory = ini("[a]\nnode01 x=1 y=1\n[b]\nnode01:2222 y=2\nnode02\n")
    assert names(inventory.hosts) == ["node01", "node02"]
    node01 = inventory.host("node01")
    assert node01.groups == ("a", "all", "b")
    assert dict(node01.vars) == {"x": 1, "y": 2}
    assert node01.port is None  # as Ansible: a port is read where the host first appears


def test_ungrouped_keeps_only_hosts_without_another_group():
    text = "ungrouped:\n  hosts:\n    node01:\n    node02:\nslaves:\n  hosts:\n    node02:\n" \
           "all:\n  hosts:\n    node03:\n"
    inventory = parse_yaml(text, "x.yml")
    assert inventory.groups["ungrouped"] == ("node01", "node03")
    assert inventory.host("node02").groups == ("all", "slaves")


def test_vars_for_a_group_declared_later_in_the_file():
    inventory = ini("[masters:vars]\nrole=master\n[masters]\nnode01\n")
    assert inventory.host("node01").vars == {"role": "master"}


def test_children_declared_before_the_child_group():
    inventory = ini("[openvz:children]\nmasters\n[masters]\nnode01\n")
    assert inventory.host("node01").groups == ("all", "masters", "openvz")


def test_hosts_are_frozen_and_hashable():
    host = load("fleet.ini").host("node04")
    with pytest.raises(dataclasses.FrozenInstanceError):
        host.port = 22  # type: ignore[misc]
    with pytest.raises(TypeError):
        host.vars["cpus"] = 1  # type: ignore[index]
    assert len({host, load("fleet.yml").host("node04")}) == 1


# --- the same fleet in three formats ------------------------------------------------------

def test_fleet_in_ini_yaml_and_list_json_is_the_same_inventory():
    by_ini, by_yaml, by_json = load("fleet.ini"), load("fleet.yml"), load("fleet.json")
    assert by_ini.hosts == by_yaml.hosts == by_json.hosts
    assert dict(by_ini.groups) == dict(by_yaml.groups) == dict(by_json.groups)


def test_fleet_values():
    inventory = load("fleet.ini")
    assert names(inventory.hosts) == [f"node0{n}" for n in range(1, 7)]
    assert [inventory.host(f"node0{n}").vars.get("havengate_peer") for n in (1, 2, 3)] == [
        "node04", "node05", "node06"]
    assert inventory.host("node04").vars["havengate_target"] == {
        "kernel": "2.6.32-042stab134.8", "cpus": 8, "vzctl": "4.0"}
    node03, node06 = inventory.host("node03"), inventory.host("node06")
    assert (node03.address, node03.port, node03.user) == ("node03", 2222, "root")
    assert (node06.address, node06.port, node06.user) == ("10.0.0.16", 2200, "admin")
    assert inventory.host("node01").vars["havengate_policy"] == "block"  # openvz over all
    assert inventory.host("node05").vars["havengate_policy"] == "warn"  # slaves over openvz
    assert inventory.host("node05").vars["havengate_connect_timeout"] == 10
    assert inventory.groups["openvz"] == tuple(names(inventory.hosts))
    assert inventory.source == str(FIXTURES / "fleet.ini")
    assert inventory.host("node07") is None


def test_parse_functions_read_the_fixtures_directly():
    for parse, name in ((parse_ini, "fleet.ini"), (parse_yaml, "fleet.yml"),
                        (parse_list_json, "fleet.json")):
        assert parse((FIXTURES / name).read_text(), name).hosts == load("fleet.ini").hosts


def test_list_json_group_vars_and_bare_host_lists():
    """`--list --export` prints group vars; old inventory scripts print bare host lists."""
    text = json.dumps({"masters": ["node01"], "slaves": {"hosts": ["node04"], "vars": {"r": "s"}},
                       "all": {"children": ["masters", "slaves"], "vars": {"r": "a", "t": 1}},
                       "_meta": {"hostvars": {"node01": {"t": 2}, "ghost": {"t": 3}}}})
    inventory = parse_list_json(text, "list.json")
    assert names(inventory.hosts) == ["node01", "node04"]  # a host only in _meta is not listed
    assert inventory.host("node01").vars == {"r": "a", "t": 2}
    assert inventory.host("node04").vars == {"r": "s", "t": 1}


@pytest.mark.skipif(shutil.which("ansible-inventory") is None, reason="ansible-inventory not installed")
def test_ansible_inventory_list_of_the_ini_fixture_reads_the_same():
    listed = subprocess.run(["ansible-inventory", "-i", str(FIXTURES / "fleet.ini"), "--list"],
                            capture_output=True, text=True, check=True, timeout=120)
    assert parse_list_json(listed.stdout, "ansible-inventory").hosts == load("fleet.ini").hosts


# --- format detection and reading the file ------------------------------------------------

@pytest.mark.parametrize("fixture", ["fleet.ini", "fleet.yml", "fleet.json"])
def test_format_is_detected_without_a_suffix(tmp_path, fixture):
    copy = tmp_path / "hosts"
    copy.write_bytes((FIXTURES / fixture).read_bytes())
    assert load_inventory(copy).hosts == load("fleet.ini").hosts


def test_a_json_file_shaped_like_yaml_is_a_yaml_inventory(tmp_path):
    """Ansible's yaml plugin reads .json files: hosts are then a mapping, not a list."""
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"all": {"hosts": {"node01": {"ansible_port": 2200}}}}))
    assert load_inventory(path).host("node01").port == 2200


def test_list_json_in_a_file_with_any_suffix(tmp_path):
    path = tmp_path / "fleet.out"
    path.write_bytes((FIXTURES / "fleet.json").read_bytes())
    assert load_inventory(path).hosts == load("fleet.ini").hosts


def test_a_broken_yml_file_reports_the_yaml_error_with_its_line(tmp_path):
    path = tmp_path / "fleet.yml"
    path.write_text("all:\n  hosts:\n    node01:\n   - node02\n")
    with pytest.raises(InventoryError, match=rf"^{path}:4: not YAML: "):
        load_inventory(path)


def test_a_broken_json_file_reports_the_json_error_with_its_line():
    with pytest.raises(InventoryError, match=r"^list.json:3: not JSON: "):
        parse_list_json('{\n "all": {\n   "hosts": [,]\n }\n}', "list.json")


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read {path}: No such file or directory"),
    (b"node01\n\xff\n", "{path}:2: not UTF-8 text (invalid start byte)"),
    (b"#!/usr/bin/env python3\nprint('{}')\n", "{path}:1: an inventory script; havengate does not run it"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "hosts"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(message.format(path=path))


def test_a_directory_is_not_an_inventory(tmp_path):
    with pytest.raises(InventoryError, match="is not a regular file"):
        load_inventory(tmp_path)


def test_inventory_error_is_a_document_error_with_exit_code_2():
    assert issubclass(InventoryError, DocumentError) and InventoryError.exit_code == 2


# --- errors name the file and the line ----------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("[masters]\nnode01\n[masters:weird]\n",
     "inventory.ini:3: Section [masters:weird] has unknown type: weird"),
    ("[bad group]\n", "inventory.ini:1: Invalid section entry: '[bad group]'"),
    ("[g]\nnode[05:01]\n", "inventory.ini:2: host range [05:01] must have begin <= end"),
    ("[g]\nnode[f:a]\n", "inventory.ini:2: host range [f:a] must have begin <= end"),
    ("node[a:5]\n", "inventory.ini:1: host range [a:5] must be letters (a:f) or digits (01:50)"),
    ("node[01:5]\n", "inventory.ini:1: host range [01:5] must give begin and end with equal widths"),
    ("node[1:5:0]\n", "inventory.ini:1: host range [1:5:0]: the step must be a positive integer"),
    ("node[1:]\n", "inventory.ini:1: host range [1:] must specify an end value"),
    ("node[01:05\n", "inventory.ini:1: host range in 'node[01:05' must be [begin:end]"),
    ("node[0:999999]\n", "inventory.ini:1: host range [0:999999] makes more than 100000 hosts"),
    ("node[0:99999][0:99999]\n", "inventory.ini:1: host range 'node[0:99999][0:99999]' makes more than"),
    ("node01\nnode02 x=\"a b\n", "inventory.ini:2: Error parsing host definition"),
    ("node01 flag\n", "inventory.ini:1: Expected key=value host variable assignment, got: flag"),
    ("node01 ; comment\n", "inventory.ini:1: Expected key=value host variable assignment, got: ;"),
    ("[g]\nnode01\n[g:vars]\nnot a var\n", "inventory.ini:4: Expected key=value, got: not a var"),
    ("[g:children]\nbad name\n", "inventory.ini:2: Expected group name, got: bad name"),
    ("[a:children]\nb\n[b:children]\na\n",
     "inventory.ini:4: group 'a' cannot be a child of 'b': that makes a cycle"),
    ("[a:children]\na\n", "inventory.ini:2: group 'a' cannot be its own child"),
    ("[a:children]\nall\n", "inventory.ini:2: group 'all' cannot be a child of 'a'"),
    ("[x:vars]\ny=1\n", "inventory.ini:1: Section [x:vars] not valid for undefined group: x"),
    ("[p:children]\nc\n[c:vars]\ny=1\n", "inventory.ini:2: Section [p:children] includes undefined group: c"),
    ("node01:\n", "inventory.ini:1: Invalid host pattern 'node01:'"),
    ("---\nall:\n", "inventory.ini:1: Invalid host pattern '---': this looks like a YAML file"),
    ("n ansible_group_priority=1\n[g]\nn\n[g:vars]\nansible_group_priority=high\n",
     "inventory.ini:5: ansible_group_priority of 'g' is not an integer: 'high'"),
])
def test_ini_errors(text, message):
    assert ini_error(text).startswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("all:\n  hosts:\n    node01:\n  node02:\n",
     "inventory.yml:4: unexpected key 'node02' in group 'all': only hosts, children and vars"),
    ("all:\n  hosts:\n    node01:\n   bad: [\n", "inventory.yml:4: not YAML: "),
    ("all:\n  hosts:\n    node01: 5\n", "inventory.yml:3: host 'node01': its variables must be a mapping"),
    ("all:\n  hosts:\n    5:\n", "inventory.yml:3: host pattern 5 must be a string: quote it"),
    ("all:\n  hosts:\n    - node01\n", "inventory.yml:3: hosts of group 'all' must be a mapping"),
    ("masters: [node01]\n", "inventory.yml:1: group 'masters' must be a mapping"),
    ("a:\n  children:\n    b:\n      children:\n        a:\n",
     "inventory.yml:3: group 'b' cannot be a child of 'a': that makes a cycle"),
    ("all:\n  hosts:\n    node[05:01]:\n", "inventory.yml:3: host range [05:01] must have begin <= end"),
    ("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
     "inventory.yml:1: an inventory plugin's configuration, not an inventory"),
    ("- node01\n", "inventory.yml:1: a YAML inventory is a mapping of group names"),
    ("a: &x\n  children:\n    b: *x\n", "inventory.yml: groups nested too deeply (or recursively)"),
    ("", "inventory.yml: the YAML inventory is empty"),
    ("all: {}\n---\nall: {}\n", "inventory.yml:2: not YAML: but found another document"),
    ("all:\n  vars:\n    secret: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n", "inventory.yml:3: not YAML: "),
])
def test_yaml_errors(text, message):
    assert yaml_error(text).startswith(message)


def test_yaml_accepts_a_single_name_where_a_mapping_is_expected():
    """Ansible reads `hosts: node01` as {node01: null}, and the same for children, vars."""
    inventory = parse_yaml("openvz:\n  hosts: node01\n  children: slaves\n  vars: x\n"
                           "slaves:\n  hosts:\n    node04:\n", "x.yml")
    assert inventory.groups["openvz"] == ("node01", "node04")
    assert inventory.host("node01").vars == {"x": None}


def test_yaml_anchors_and_merge_keys():
    text = "all:\n  hosts:\n    node01: &base\n      ansible_user: root\n    node02:\n" \
           "      <<: *base\n      ansible_port: 2200\n"
    node02 = parse_yaml(text, "x.yml").host("node02")
    assert (node02.user, node02.port) == ("root", 2200)


@pytest.mark.parametrize(("data", "message"), [
    ('{"masters": {"hosts": "node01"}}', "list.json:1: group 'masters': hosts must be a JSON array"),
    ('{\n"all": {"children": ["m"]},\n"m": {"hosts": ["n"], "vars": []}\n}',
     "list.json:3: group 'm': vars must be a JSON object"),
    ('{\n"m": {"hosts": ["n"]},\n"_meta": {"hostvars": {\n"n": 5}}}',
     "list.json:4: the variables of host 'n' must be an object"),
    ('{"m": {"hosts": [5]}}', "list.json:1: invalid host name 5"),
    ('{\n"a": {"children": ["b"]},\n"b": {"children": ["a"]}\n}',
     "list.json:3: group 'a' cannot be a child of 'b': that makes a cycle"),
    ("[1]", "list.json:1: ansible-inventory --list output is a JSON object"),
])
def test_list_json_errors(data, message):
    with pytest.raises(InventoryError) as caught:
        parse_list_json(data, "list.json")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("line", "message"), [
    ("node01 ansible_port=ssh", "inventory.ini: host 'node01': ansible_port 'ssh' is not a TCP port number"),
    ("node01 ansible_port=70000", "inventory.ini: host 'node01': ansible_port 70000 is not a TCP port"),
    ('node01 ansible_host="{{ lookup(\'env\', \'H\') }}"', "inventory.ini: host 'node01': ansible_host is a "
     "Jinja template"),
    ('node01 ansible_ssh_private_key_file="{{ key }}"', "inventory.ini: host 'node01': "
     "ansible_ssh_private_key_file is a Jinja template"),
])
def test_connection_settings_havengate_cannot_use(line, message):
    assert ini_error(line + "\n").startswith(message)


# --- --limit patterns ---------------------------------------------------------------------

PATTERNS = load_inventory(FIXTURES / "patterns.ini")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("all", "foo bar web3 one two three"),
    ("*", "foo bar web3 one two three"),
    ("one.example.com", "one"),
    ("one.example.com:two.example.com", "one two"),
    ("one.example.com,two.example.com", "one two"),
    ("webservers", "foo bar web3"),
    ("webservers:dbservers", "foo bar web3 one two three"),
    ("webservers:!staging", "foo web3"),
    ("webservers:&staging", "bar"),
    ("webservers:dbservers:&staging:!phoenix", "bar two"),
    ("*.example.com", "foo bar web3 one two three"),
    ("one*.com:dbservers", "one two three"),
    ("~(web|db).*\\.example\\.com", "web3"),
    ("~t", "two three"),  # a regex matches from the start of the name
    ("t*", "two three"),
    ("w?b3.example.com", "web3"),
    ("all:!foo.example.com", "bar web3 one two three"),
    ("!phoenix", "foo bar web3 one two"),  # only exclusions: they apply to all
    ("&staging", "bar two three"),
    ("phoenix:webservers", "foo bar web3 three"),  # inventory order, not pattern order
    (" webservers , phoenix ", "foo bar web3 three"),
    ("dbservers,nosuch", "one two three"),  # a term that matches nothing: Ansible warns
])
def test_patterns(pattern, expected):
    assert names(PATTERNS.select(pattern)) == [f"{name}.example.com" for name in expected.split()]


def test_pattern_processing_order_from_the_docs():
    """a:b:&c:!d:!e == &c:a:!d:b:!e == !d:a:!e:&c:b"""
    a, b, c, d, e = "webservers", "dbservers", "staging", "phoenix", "foo.example.com"
    results = {PATTERNS.select(p) for p in (f"{a}:{b}:&{c}:!{d}:!{e}", f"&{c}:{a}:!{d}:{b}:!{e}",
                                            f"!{d}:{a}:!{e}:&{c}:{b}", f"{a}:{b}:!{e}:!{d}:&{c}")}
    assert len(results) == 1
    assert names(results.pop()) == ["bar.example.com", "two.example.com"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("webservers[0]", "cobweb"),
    ("webservers[-1]", "weber"),
    ("webservers[0:2]", "cobweb webbing weber"),
    ("webservers[1:2]", "webbing weber"),
    ("webservers[1:]", "webbing weber"),
])
def test_subscripts_from_the_docs(pattern, expected):
    assert names(load("docs_subscripts.ini").select(pattern)) == expected.split()


def test_limit_from_the_docs():
    """ansible-playbook -i inventory_test -l appservers site.yml"""
    assert names(load("docs_inventory_test.ini").select("appservers")) == [
        "app01.test.example.com", "app02.test.example.com", "app03.test.example.com"]


def test_no_pattern_selects_every_host():
    assert PATTERNS.select(None) == PATTERNS.select("") == PATTERNS.hosts


def test_a_host_name_wins_over_a_group_of_the_same_name():
    inventory = ini("web\n[web]\nnode01\n")
    assert names(inventory.select("web")) == ["web"]
    assert names(inventory.select("web*")) == ["web", "node01"]


@pytest.mark.parametrize("pattern", ["nosuch", "webservers:&phoenix", "all:!all", "~zz", "node*"])
def test_a_pattern_that_matches_no_host_is_an_error(pattern):
    with pytest.raises(InventoryError) as caught:
        PATTERNS.select(pattern)
    assert str(caught.value) == f"--limit {pattern} matches no host in {FIXTURES / 'patterns.ini'}"


def test_bad_patterns():
    with pytest.raises(InventoryError, match=r"--limit ~web\(: invalid host pattern"):
        PATTERNS.select("~web(")
    with pytest.raises(InventoryError, match="no hosts matched the subscripted pattern"):
        PATTERNS.select("webservers[7]")
