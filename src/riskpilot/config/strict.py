"""Reading configuration input so that it means what it says, before the schema sees it.

- :func:`load_yaml`: PyYAML's safe loader, refusing duplicate keys at any depth (PyYAML keeps
  the last silently), nesting deeper than :data:`MAX_DEPTH` (PyYAML recurses and raises
  RecursionError at a few thousand levels) and values it cannot construct (``2020-13-45``,
  ``!!int abc``), each named by its line.
- :func:`plain_data`: the loaded (or Python) data as plain JSON-like values, refusing keys that
  are not text, numbers that are not finite, sets and other objects, self-referencing aliases,
  more than :data:`MAX_VALUES` values once aliases are expanded, and deep nesting.
- :func:`scalar_errors`: every place the schema wants a number, a whole number or a boolean and
  the input holds something pydantic would coerce: ``true`` read as 1.0, ``"2"`` as 2,
  ``1`` or ``"yes"`` as True. Each message names the dotted path as the user wrote it.
"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import yaml
from pydantic import BaseModel
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from riskpilot.config.schema import ExitRulesConfig, RegimeConfig

#: Deepest nesting accepted. The deepest real setting is seven levels down
#: (regimes.exit_rules.<regime>.partial_exit_target.stages.<i>.name).
MAX_DEPTH = 32
#: Most values accepted once YAML aliases are expanded (a real configuration has a few hundred;
#: a few nested aliases can otherwise stand for billions).
MAX_VALUES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictInputError(ValueError):
    """Input refused before validation; ``errors`` holds one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


# -- YAML -------------------------------------------------------------------------------------


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_DEPTH and names the node of any value it cannot
    construct."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}",
                node.start_mark,
            ) from exc


def load_yaml(text: str) -> Any:
    """The YAML document in ``text`` (None when empty).

    Raises :class:`StrictInputError` for duplicate keys and nesting beyond MAX_DEPTH, and
    ``yaml.YAMLError`` (with its mark) for text that is not YAML or a value PyYAML cannot
    construct.
    """
    loader = _StrictLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except _TooDeep as deep:
            raise StrictInputError([
                f"nesting deeper than {MAX_DEPTH} levels at line {deep.mark.line + 1}, column "
                f"{deep.mark.column + 1}: a configuration needs at most 7; check the "
                "indentation and the brackets"
            ]) from None
        if node is None:
            return None
        duplicates = _duplicate_keys(node)
        if duplicates:
            raise StrictInputError(duplicates)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _duplicate_keys(root: Node) -> list[str]:
    """One message per key repeated in its mapping, in document order. Keys brought in by a
    YAML merge (``<<: *base``) may be overridden: only keys written twice are refused."""
    found: list[tuple[int, str]] = []
    visited: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:  # an alias: the same node again
            continue
        visited.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    stack.append((value, path))
                    continue
                if not isinstance(key, ScalarNode):
                    stack.append((value, _join(path, "?")))
                    continue
                line = key.start_mark.line + 1
                where = _join(path, key.value)
                if (key.tag, key.value) in first:
                    found.append((line, (
                        f"{where}: duplicate key {key.value!r} at line {line} (first at line "
                        f"{first[key.tag, key.value]}); YAML would silently keep only the last: "
                        "remove one"
                    )))
                else:
                    first[key.tag, key.value] = line
                stack.append((value, where))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, _join(path, str(i))))
    return [message for _, message in sorted(found)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- plain data -------------------------------------------------------------------------------


def plain_data(data: Any) -> Any:
    """``data`` as JSON-like values (dict with text keys, list, str, int, float, bool, None):
    tuples become lists, enums their values, dates ISO text. Raises :class:`StrictInputError`."""
    errors: list[str] = []
    budget = [MAX_VALUES]
    out = _plain(data, "", 0, set(), budget, errors)
    if errors:
        raise StrictInputError(errors[:20])
    return out


def _plain(value: Any, path: str, depth: int, open_ids: set[int], budget: list[int],
           errors: list[str]) -> Any:
    where = path or "(top level)"
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            errors.append(f"more than {MAX_VALUES:,} values once YAML aliases are expanded: a "
                          "configuration has a few hundred; check the aliases (*name)")
        return None
    if depth > MAX_DEPTH:
        errors.append(f"{where}: nesting deeper than {MAX_DEPTH} levels")
        return None
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value, path, depth, open_ids, budget, errors)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        if id(value) in open_ids:
            errors.append(f"{where}: a YAML alias refers to the value that contains it")
            return None
        open_ids.add(id(value))
        try:
            if isinstance(value, Mapping):
                out: dict[str, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        errors.append(f"{where}: key {key!r} is not text; quote it (YAML reads "
                                      "yes/no/on/off as booleans and 1 as a number)")
                        continue
                    out[key] = _plain(item, _join(path, key), depth + 1, open_ids, budget, errors)
                return out
            return [_plain(item, _join(path, str(i)), depth + 1, open_ids, budget, errors)
                    for i, item in enumerate(value)]
        finally:
            open_ids.discard(id(value))
    errors.append(f"{where}: a {type(value).__name__} is not a configuration value (use a "
                  "mapping, a list, text, a number or true/false)")
    return None


# -- strict scalars ---------------------------------------------------------------------------

#: A number PyYAML leaves as text: YAML 1.1 floats need a dot and a signed exponent (1.0e-3).
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


def scalar_errors(data: Any, model: type[BaseModel],
                  aliases: Mapping[str, tuple[type[BaseModel], str]] | None = None) -> list[str]:
    """Messages for every number, whole number or boolean setting of ``model`` that ``data``
    (plain, see :func:`plain_data`) gives as something else pydantic would coerce.

    ``aliases``: top-level keys that stand for a field of another model (SPEC's top-level
    ``trailing_stop`` is ``exit_rules.trailing_stop``): key -> (model, field name).
    """
    errors: list[str] = []
    for path, value, tp in _leaves(data, model, "", aliases or {}):
        message = _scalar_problem(value, tp)
        if message:
            errors.append(f"{path}: {message}")
    return errors


def _leaves(data: Any, tp: Any, path: str,
            aliases: Mapping[str, tuple[type[BaseModel], str]]) -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, value, expected scalar type) of every scalar the schema types."""
    tp = _optional_inner(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            if key in tp.model_fields:
                field_tp: Any = tp.model_fields[key].annotation
                # Regime overrides are partial exit-rule settings, typed only after merging.
                if tp is RegimeConfig and key == "exit_rules" and isinstance(value, dict):
                    for regime, overrides in value.items():
                        yield from _leaves(overrides, ExitRulesConfig,
                                           _join(_join(path, key), str(regime)), {})
                    continue
            elif not path and key in aliases:
                owner, name = aliases[key]
                field_tp = owner.model_fields[name].annotation
            else:
                continue  # an unknown key: the schema names it
            yield from _leaves(value, field_tp, _join(path, key), {})
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and isinstance(data, dict) and len(args) == 2:
        for key, value in data.items():
            yield from _leaves(value, args[1], _join(path, str(key)), {})
    elif origin in (list, tuple) and isinstance(data, list) and args:
        for i, value in enumerate(data):
            yield from _leaves(value, args[0], _join(path, str(i)), {})
    elif tp in (float, int, bool):
        yield path, data, tp


def _optional_inner(tp: Any) -> Any:
    """``X | None`` -> X (one non-None member); anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def _scalar_problem(value: Any, tp: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None  # the schema's own message ("a valid number", "required") says it
    if tp is bool:
        if isinstance(value, bool):
            return None
        return f"expected true or false, got {value!r}; write true or false"
    if isinstance(value, bool):
        kind = "a whole number" if tp is int else "a number"
        return (f"expected {kind}, got the boolean {str(value).lower()} (YAML reads "
                "true/false/yes/no/on/off as booleans); write the number")
    if isinstance(value, str):
        kind = "a whole number" if tp is int else "a number"
        hint = "write the number without quotes"
        if _NUMERIC_TEXT.match(value) and ("e" in value.lower()):
            hint = ("PyYAML reads exponent notation as a number only with a dot and a signed "
                    "exponent (1.0e-3): write it that way or as a plain decimal")
        elif not _NUMERIC_TEXT.match(value):
            hint = "write a number"
        return f"expected {kind}, got the text {value!r}; {hint}"
    return None
