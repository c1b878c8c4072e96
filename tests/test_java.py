"""Which processes are JVMs and which flags the JVM (not the program) was given."""

from __future__ import annotations

import pytest

from havengate.facts.java import is_jvm, jvm_options
from havengate.facts.model import JavaProcess


@pytest.mark.parametrize(
    ("argv", "exe", "expected"),
    [
        (("/usr/lib/jvm/java-6-openjdk/jre/bin/java", "-jar", "x.jar"), "", True),
        (("java",), "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", True),
        (("jsvc.exec", "-user", "tomcat6"), "/usr/bin/jsvc", True),
        (("/opt/activemq/bin/activemq",), "/bin/bash", False),
        (("javascript-server",), "/usr/bin/node", False),
        (("sleep", "infinity"), "/bin/sleep", False),
        (("tomcat7",), "/usr/bin/jsvc (deleted)", True),  # jsvc -procname, upgraded under it
    ],
)
def test_is_jvm(argv, exe, expected):
    assert is_jvm(argv, exe) is expected


def test_options_stop_at_main_class_and_jar():
    argv = ("java", "-Xmx1g", "-cp", "-XX:+AssumeMP", "-XX:+UseSerialGC", "Main", "-XX:+AssumeMP")
    assert jvm_options(argv, {}) == ("-Xmx1g", "-XX:+UseSerialGC")
    argv = ("java", "-XX:+AssumeMP", "-jar", "app.jar", "-Dnot.jvm=1")
    assert jvm_options(argv, {}) == ("-XX:+AssumeMP",)


def test_options_from_environment_in_jvm_order():
    env = {"JAVA_TOOL_OPTIONS": "-XX:+AssumeMP", "_JAVA_OPTIONS": "-XX:-AssumeMP"}
    options = jvm_options(("java", "Main"), env)
    assert options == ("-XX:+AssumeMP", "-XX:-AssumeMP")
    process = JavaProcess(pid=1, argv=("java",), jvm_options=options, listeners=())
    assert process.assumes_mp is False  # _JAVA_OPTIONS comes last and wins


def test_jsvc_options():
    argv = ("jsvc", "-user", "tomcat", "-pidfile", "/run/t.pid", "-XX:+AssumeMP",
            "org.apache.catalina.startup.Bootstrap", "start")
    assert jvm_options(argv, {}) == ("-XX:+AssumeMP",)
