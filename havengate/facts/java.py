"""Which processes are JVMs, and which options the JVM itself was given.

HotSpot reads options from JAVA_TOOL_OPTIONS, then JDK_JAVA_OPTIONS (java launcher), then
the command line up to the main class or ``-jar FILE``, then _JAVA_OPTIONS; a later
``-XX:±Flag`` wins. Arguments after the main class belong to the program, not the JVM.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

_JVM_BINARY = re.compile(r"^(java|jsvc)(\.[A-Za-z0-9_]+)?$")
_JAVA_VALUE_OPTIONS = frozenset(
    {"-cp", "-classpath", "--class-path", "-p", "--module-path", "--add-modules",
     "--add-opens", "--add-exports", "--add-reads", "--upgrade-module-path"}
)
_JAVA_STOP_AFTER_VALUE = frozenset({"-jar", "-m", "--module"})
_JSVC_VALUE_OPTIONS = frozenset(
    {"-jvm", "-cp", "-classpath", "-user", "-java-home", "-home", "-pidfile", "-procname",
     "-wait", "-outfile", "-errfile", "-cwd", "-umask"}
)
_ENV_BEFORE_ARGV = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")
_ENV_AFTER_ARGV = ("_JAVA_OPTIONS",)
JVM_OPTION_VARIABLES = (*_ENV_BEFORE_ARGV, *_ENV_AFTER_ARGV)  # the only environ facts keep


def is_jvm(argv: tuple[str, ...], exe: str) -> bool:
    """argv[0] or the executable is java / jsvc (any path, e.g. java.bin, jsvc.exec)."""
    names = [exe.removesuffix(" (deleted)").rsplit("/", 1)[-1]]  # upgraded under it
    if argv:
        names.append(argv[0].rsplit("/", 1)[-1])
    return any(_JVM_BINARY.fullmatch(name) for name in names if name)


def jvm_options(argv: tuple[str, ...], environ: Mapping[str, str]) -> tuple[str, ...]:
    """-X, -XX: and -D options in the order the JVM applies them."""
    options: list[str] = []
    for name in _ENV_BEFORE_ARGV:
        options.extend(_split_env(environ.get(name, "")))
    options.extend(_command_line_options(argv))
    for name in _ENV_AFTER_ARGV:
        options.extend(_split_env(environ.get(name, "")))
    return tuple(option for option in options if _is_jvm_option(option))


def _command_line_options(argv: tuple[str, ...]) -> list[str]:
    is_jsvc = bool(argv) and argv[0].rsplit("/", 1)[-1].startswith("jsvc")
    takes_value = _JSVC_VALUE_OPTIONS if is_jsvc else _JAVA_VALUE_OPTIONS
    options: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        if arg in takes_value:
            next(args, None)
            continue
        if not is_jsvc and arg in _JAVA_STOP_AFTER_VALUE:
            break
        if not arg.startswith("-"):
            break  # the main class: what follows is the program's
        options.append(arg)
    return options


def _split_env(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def _is_jvm_option(option: str) -> bool:
    return option.startswith(("-X", "-D")) or option in ("-server", "-client")
