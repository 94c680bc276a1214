"""Reading a spec: YAML (safe_load only), ``--set`` overrides, and readable errors.

All problems of a file are collected and raised together as one
:class:`~searchengine.errors.SpecError`; each names the file, the line, the YAML path and
what was expected (``model.embedding.dim.choice[2]: expected a positive integer, got -4``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from searchengine.errors import SpecError, SpecIssue, did_you_mean
from searchengine.spec.expressions import EXPR_KEYS
from searchengine.spec.format import Spec

__all__ = ["SpecSource", "format_path", "load_spec", "parse_spec", "spec_source"]

Loc = tuple[Any, ...]


class SpecSource:
    """Where a spec came from: its file, the line of every YAML path, its overrides."""

    def __init__(
        self,
        file: str | None = None,
        lines: Mapping[Loc, int] | None = None,
        overrides: Mapping[Loc, str] | None = None,
    ) -> None:
        self.file = file
        self.lines = dict(lines or {})
        self.overrides = dict(overrides or {})

    def issue(self, loc: Loc, message: str) -> SpecIssue:
        """A :class:`SpecIssue` at ``loc`` with its line, or its ``--set`` origin."""
        for prefix, raw in self.overrides.items():
            if loc[: len(prefix)] == prefix:
                return SpecIssue(format_path(loc), message, source=f"--set {raw}")
        line = None
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                line = self.lines[loc[:end]]
                break
        return SpecIssue(format_path(loc), message, line=line)

    def error(self, issues: Sequence[SpecIssue]) -> SpecError:
        return SpecError(issues, self.file)


def spec_source(spec: Any) -> SpecSource:
    """Where ``spec`` was read from (file and lines), or an empty source if unknown."""
    return getattr(spec, "_source", None) or SpecSource()


def format_path(loc: Loc) -> str:
    """``("model", "mlp", "layers", 0)`` -> ``"model.mlp.layers[0]"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


#: A check of a spec's raw data by a layer above this one (the strategy names, which
#: the strategies resolve): ``data -> [(loc, message), ...]``, reported with the rest.
RawCheck = Callable[[Mapping[str, Any]], list[tuple[Loc, str]]]


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), *, checks: Sequence[RawCheck] = ()
) -> Spec:
    """Read, override and validate a spec file.

    Args:
        path: the YAML file.
        overrides: ``key=value`` strings; the key is a dotted path (``search.trials``,
            ``model.mlp.layers[0]``), the value is YAML (``{choice: [4, 8]}``).
        checks: more checks of the raw data, by the layers above (e.g.
            :func:`searchengine.strategies.strategy_name_issues`); their problems are
            reported with the file's own.

    Returns:
        The validated :class:`Spec`; its source (file, lines) is kept for later errors.

    Raises:
        SpecError: every problem of the file and the overrides, at once.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no such spec file: {file}") from None
    except OSError as exc:
        raise SpecError(f"cannot read spec file {file}: {exc.strerror}") from None
    return parse_spec(text, file=file, overrides=overrides, checks=checks)


def parse_spec(
    text: str | Mapping[str, Any],
    *,
    file: str | None = None,
    overrides: Sequence[str] = (),
    checks: Sequence[RawCheck] = (),
) -> Spec:
    """Validate a spec given as YAML text or as an already-parsed mapping.

    Raises:
        SpecError: every problem found, at once.
    """
    if isinstance(text, str):
        data, lines = _read_yaml(text, file)
    else:
        data, lines = _deep_copy(text), {}
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping (name: ..., data: ..., ...)", file)
    source = SpecSource(file, lines)
    issues = _apply_overrides(data, overrides, source)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        issues += [source.issue(*_describe(err, data)) for err in exc.errors()]
        from searchengine.searchspace._checks import raw_name_issues

        reported = {issue.path for issue in issues}
        issues += [
            source.issue(loc, message)
            for loc, message in raw_name_issues(data)
            if format_path(loc) not in reported
        ]
        issues += [source.issue(loc, message) for check in checks for loc, message in check(data)]
        raise source.error(issues) from None
    issues += [source.issue(loc, message) for check in checks for loc, message in check(data)]
    if issues:
        raise source.error(issues)
    spec._source = source
    return spec


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


def _read_yaml(text: str, file: str | None) -> tuple[Any, dict[Loc, int]]:
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file or '<spec>'}:{mark.line + 1}" if mark else (file or "<spec>")
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([SpecIssue("", f"invalid YAML: {problem}", source=where)]) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = loc + (key.value,)
            out[child] = key.start_mark.line + 1
            _collect_lines(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _collect_lines(value, loc + (i,), out)


# --------------------------------------------------------------------------- overrides


def _parse_key(key: str) -> Loc | None:
    loc: list[Any] = []
    for part in key.split("."):
        name, _, rest = part.partition("[")
        if not name:
            return None
        loc.append(name)
        while rest:
            index, sep, rest = rest.partition("]")
            if not sep or not index.isdigit() or (rest and not rest.startswith("[")):
                return None
            loc.append(int(index))
            rest = rest[1:]
    return tuple(loc)


def _apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: SpecSource) -> list:
    issues: list[SpecIssue] = []
    for raw in overrides:
        key, sep, text = raw.partition("=")
        loc = _parse_key(key.strip()) if sep else None
        if loc is None:
            issues.append(
                SpecIssue("", "expected key=value with a dotted key", source=f"--set {raw}")
            )
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            issues.append(
                SpecIssue(
                    format_path(loc), f"invalid YAML value: {problem}", source=f"--set {raw}"
                )
            )
            continue
        target: Any = data
        for i, part in enumerate(loc[:-1]):
            nxt = loc[i + 1]
            if isinstance(target, dict):
                if not isinstance(target.get(part), dict | list):
                    target[part] = [] if isinstance(nxt, int) else {}
                target = target[part]
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                target = None
                break
        last = loc[-1]
        if isinstance(target, dict) and not isinstance(last, int):
            target[last] = value
        elif isinstance(target, list) and isinstance(last, int) and last < len(target):
            target[last] = value
        else:
            issues.append(
                SpecIssue(format_path(loc), "no such place in the spec", source=f"--set {raw}")
            )
            continue
        source.overrides[loc] = raw
    return issues


# --------------------------------------------------------------------------- errors

_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}
_PATTERNS = {
    "^[A-Za-z0-9][A-Za-z0-9_.\\-]*$": "expected letters, digits, '_', '.' or '-' (a file name)",
    "^[A-Za-z_][\\w.]*:[A-Za-z_]\\w*$": "expected package.module:function",
}


def _clean_loc(loc: Loc) -> Loc:
    return tuple(
        p for p in loc if not (isinstance(p, str) and p.startswith("<") and p.endswith(">"))
    )


def _got(value: Any) -> str:
    if isinstance(value, dict | list) and len(repr(value)) > 60:
        return ""
    return f", got {value!r}" if not isinstance(value, str) else f", got '{value}'"


def _describe(err: Any, data: Any) -> tuple[Loc, str]:
    kind, loc, value = err["type"], _clean_loc(err["loc"]), err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        if len(loc) > 1 and isinstance(loc[-1], int) and loc[-2] in ("int", "float"):
            return loc[:-1], "expected [low, high]"
        return loc, "required"
    if kind == "extra_forbidden":
        key = loc[-1]
        hint = did_you_mean(str(key), _allowed_keys(err["loc"][:-1]))
        return loc, f"unknown key '{key}'{hint}"
    if kind == "literal_error":
        choices = [
            c.strip().strip("'")
            for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")
        ]
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return loc, f"expected one of {ctx.get('expected')}{_got(value)}{hint}"
    if kind == "slot":
        hint = ""
        if isinstance(value, dict):
            for key in value:
                hint = hint or did_you_mean(str(key), EXPR_KEYS)
            if (
                all(k in value for k in ("choice", "int"))
                or sum(k in value for k in EXPR_KEYS) > 1
            ):
                return loc, "give one of choice, int, float, not several"
        return loc, f"{err['msg']}{_got(value)}{hint}"
    if kind == "field_type" and isinstance(value, dict):
        kind_given = value.get("type")
        hint = did_you_mean(str(kind_given), ("categorical", "numerical"))
        return loc + ("type",), f"{err['msg']}{_got(kind_given)}{hint}"
    if kind in ("too_short", "too_long"):
        if isinstance(err["loc"][-1], str) and err["loc"][-1] in ("int", "float"):
            return loc, f"expected [low, high]{_got(value)}"
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return loc, f"expected {word} {bound} item{'s' if bound != 1 else ''}"
    if kind == "string_pattern_mismatch":
        return loc, f"{_PATTERNS.get(ctx.get('pattern', ''), 'invalid text')}{_got(value)}"
    if kind in _EXPECTED:
        return loc, f"{_EXPECTED[kind]}{_got(value)}"
    if kind == "value_error":
        return loc, str(ctx.get("error", err["msg"]))
    message = err["msg"]
    if kind in (
        "positive_int",
        "non_negative_int",
        "positive_float",
        "non_negative_float",
        "probability",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
    ):
        message += _got(value)
    return loc, message


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return Spec.model_json_schema(by_alias=True)


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys a mapping at ``loc`` may have, read off the JSON Schema.

    ``loc`` is pydantic's raw location: a union tag in it (``<numerical>``, ``<choice>``)
    picks the branches that tag stands for.
    """
    schema = _schema()
    nodes = [schema]
    for part in loc:
        if isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            nodes = _pick(schema, nodes, part[1:-1])
        else:
            nodes = [c for n in nodes for c in _children(schema, n, part)]
    keys: list[str] = []
    for node in nodes:
        for branch in _branches(schema, node):
            keys += list(branch.get("properties", {}))
    return keys


def _pick(root: dict[str, Any], nodes: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    def matches(branch: dict[str, Any]) -> bool:
        props = branch.get("properties", {})
        kind = props.get("type", {})
        return tag in props or tag in (kind.get("const"), kind.get("default"))

    branches = [b for n in nodes for b in _branches(root, n)]
    picked = [b for b in branches if matches(b)]
    return picked or nodes


def _branches(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    out = [node]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            out += _branches(root, sub)
    return out


def _children(root: dict[str, Any], node: dict[str, Any], part: Any) -> list[dict[str, Any]]:
    out = []
    for branch in _branches(root, node):
        if isinstance(part, int):
            if "items" in branch:
                out.append(branch["items"])
            out += branch.get("prefixItems", [])
        else:
            if part in branch.get("properties", {}):
                out.append(branch["properties"][part])
            elif isinstance(branch.get("additionalProperties"), dict):
                out.append(branch["additionalProperties"])
    return out
