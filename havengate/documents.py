"""JSON documents (facts, report, baseline) and their schemas under ``schemas/``.

Dataclasses become JSON objects field by field; ``Unknown(reason)`` becomes
``{"unknown": reason}``; enums their values; tuples arrays. Decoding follows the type
hints, so a facts file read back gives exactly the facts that were written.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import stat
import sys
import types
import typing
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from havengate.errors import DocumentError
from havengate.model import Unknown

T = TypeVar("T")
_NONE = type(None)


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files("havengate").joinpath("schemas", f"{name}.schema.json").read_text()
    return json.loads(text)


def validate(document: Any, name: str, source: str = "document") -> None:
    """Raise DocumentError naming the JSON path of the first error."""
    import jsonschema  # only when a document is validated: start-up stays fast

    validator = jsonschema.Draft202012Validator(schema(name))
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    except RecursionError:
        raise DocumentError(f"{source}: nested too deeply to be a {name} document") from None
    if error is not None:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        where = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            patterns = error.schema.get("patternProperties", {})
            extra = next((key for key in error.instance if key not in known
                          and not any(re.search(p, str(key)) for p in patterns)), None)
            if extra is not None:  # the line of the key that is not allowed, not its parent's
                where = (*where, extra)
        raise DocumentError(f"{source}: {path}: {error.message} (schema {name})", where)


MAX_DOCUMENT_BYTES = 256 * 1024 * 1024  # far above any real facts file; /dev/zero is not one


STDIO = "-"  # as a file name: standard input (documents read) or output (reports written)


def read_json(path: Path, name: str) -> Any:
    """A JSON file, validated against ``schemas/<name>.schema.json``; ``-`` is stdin.

    Only a regular file is read (a FIFO or a device would block or never end), and never
    more than MAX_DOCUMENT_BYTES: a larger file is refused, not cut.
    """
    source = "standard input" if str(path) == STDIO else str(path)
    return parse_json(_read_bytes(path, name), name, source)


def _read_bytes(path: Path, name: str) -> bytes:
    if str(path) == STDIO:
        data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"standard input is larger than {MAX_DOCUMENT_BYTES // 2**20} "
                                f"MiB: not a {name} document havengate reads")
        return data
    try:
        info = path.stat()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise DocumentError(f"{path} is not a regular file (a directory, FIFO or device); "
                            f"a {name} document is a file")
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{path} is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB: "
                            f"not a {name} document havengate reads")
    return data


def read_yaml_or_json(path: Path, name: str) -> Any:
    """A document an operator writes by hand (the config): YAML, or JSON (which YAML
    reads too), validated; every error names the file, the line and the key path.

    YAML keeps the last of a key given twice, silently: here that is an error."""
    import yaml  # only when such a file is read: start-up stays fast

    source = "standard input" if str(path) == STDIO else str(path)
    try:
        text = _read_bytes(path, name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{source}: not UTF-8 text ({exc.reason})") from exc
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise DocumentError(f"{source}{where}: not YAML or JSON ({exc.problem or exc})") \
            from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise DocumentError(f"{source}: not YAML or JSON havengate reads ({exc})") from None
    lines: dict[tuple, int] = {}
    _index_lines(tree, (), lines, source, set())
    if document is None:
        document = {}  # an empty file (or only comments): no settings
    document = _string_keys(document, (), lines, source)
    try:
        validate(document, name, source)
    except DocumentError as exc:
        line = next((lines[exc.path[:n]] for n in range(len(exc.path), -1, -1)
                     if exc.path[:n] in lines), None)
        if line is None:
            raise
        raise DocumentError(str(exc).replace(f"{source}: ", f"{source}:{line}: ", 1)) from None
    return document


_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _index_lines(node: Any, path: tuple, lines: dict[tuple, int], source: str,
                 seen_nodes: set[int]) -> None:
    """JSON path (as a tuple) -> line number, from YAML's node tree; refuses duplicates,
    and aliases (an anchor used again can make a document that contains itself)."""
    import yaml

    if node is None:
        return
    if id(node) in seen_nodes:
        raise DocumentError(f"{source}:{node.start_mark.line + 1}: YAML anchors and aliases "
                            "are not read here: write the value out")
    seen_nodes.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                raise DocumentError(f"{source}:{key.start_mark.line + 1}: key {key.value!r} "
                                    f"appears twice in the same mapping (YAML would silently "
                                    f"keep the last one)")
            seen.add(key.value)
            if key.tag == "tag:yaml.org,2002:int" and not _DECIMAL.fullmatch(key.value):
                raise DocumentError(f"{source}:{key.start_mark.line + 1}: key {key.value!r} is "
                                    "a number YAML reads in another base or with separators: "
                                    "write plain digits, or quote it")
            lines[(*path, key.value)] = key.start_mark.line + 1
            _index_lines(value, (*path, key.value), lines, source, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, source, seen_nodes)


def _string_keys(value: Any, path: tuple, lines: dict[tuple, int], source: str) -> Any:
    """YAML reads ``101:`` as the number 101; a CTID (any key) is a string in a document.
    A number becomes its digits; a key YAML made a boolean, a date or null is refused."""
    if isinstance(value, list):
        return [_string_keys(item, (*path, index), lines, source)
                for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if isinstance(key, int) and not isinstance(key, bool):
            name = str(key)
        elif isinstance(key, str):
            name = key
        else:
            line = lines.get(path, "?")
            raise DocumentError(f"{source}:{line}: key {key!r} under "
                                f"${''.join(f'.{p}' for p in path)} is read as a "
                                f"{type(key).__name__}: quote it")
        result[name] = _string_keys(item, (*path, name), lines, source)
    return result


def parse_json(data: bytes, name: str, source: str) -> Any:
    """JSON bytes, validated; every way they can be wrong is a DocumentError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{source}: not UTF-8 text ({exc.reason})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: not JSON (line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg})") from exc
    except RecursionError:
        raise DocumentError(f"{source}: nested too deeply to be a {name} document") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise DocumentError(f"{source}: not JSON havengate reads ({exc})") from None
    validate(document, name, source)
    return document


def encode(value: Any) -> Any:
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    return value


def decode(kind: Any, data: Any) -> Any:
    """The value of type ``kind`` that ``encode`` turned into ``data``."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return _decode_union(get_args(kind), data)
    if dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: decode(hints[f.name], data[f.name])
                       for f in dataclasses.fields(kind) if f.name in data})
    if origin is tuple:
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], item) for item in data)
        return tuple(decode(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {data!r:.60}")
        key_kind, value_kind = get_args(kind)
        return {decode(key_kind, k): decode(value_kind, v) for k, v in data.items()}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if kind is typing.Any:
        return data
    if kind is _NONE:
        if data is not None:
            raise TypeError(f"expected null, got {data!r}")
        return None
    if kind in (int, float, str, bool):
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise TypeError(f"expected {kind.__name__}, got {data!r}")
        return data
    raise TypeError(f"cannot decode {kind!r}")


def _decode_union(options: tuple[Any, ...], data: Any) -> Any:
    if isinstance(data, dict) and set(data) == {"unknown"} and Unknown in options:
        return Unknown(data["unknown"])
    errors = []
    for option in options:
        if option is Unknown:
            continue
        try:
            return decode(option, data)
        except (TypeError, ValueError, KeyError) as exc:
            errors.append(str(exc))
    raise TypeError(f"{data!r:.60} matches none of {options}: {'; '.join(errors)}")


def load(kind: type[T], document: Any, source: str) -> T:
    try:
        return decode(kind, document)
    except (TypeError, ValueError, KeyError) as exc:
        raise DocumentError(f"{source}: {exc}") from exc
    except RecursionError:
        raise DocumentError(f"{source}: nested too deeply") from None
