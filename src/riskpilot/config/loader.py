"""Load and validate configuration files, with errors that name the dotted path."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from riskpilot.config.redact import redact_text
from riskpilot.config.schema import TOP_LEVEL_RULE_SECTIONS, ExitRulesConfig, RiskPilotConfig
from riskpilot.config.strict import StrictInputError, load_yaml, plain_data, scalar_errors


class ConfigError(ValueError):
    """A configuration that cannot be used. ``errors`` lists one message per problem, each
    starting with the dotted path of the offending key (secrets in quoted values redacted)."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        # A message may quote the offending value: never an alert URL's token or a key.
        self.errors = [redact_text(e) for e in errors]
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{source}: {len(self.errors)} configuration error(s):\n{lines}")


def load_config(path: str | Path) -> RiskPilotConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), [f"file not found: {p} (check the path)"])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc}"]) from exc
    return parse_config(text, source=str(p))


def parse_config(text: str, *, source: str = "<config>") -> RiskPilotConfig:
    """Validate YAML text. Duplicate keys, nesting beyond :data:`strict.MAX_DEPTH` and values
    YAML cannot construct are refused with their line; see :func:`config_from_dict` for the
    rest."""
    try:
        data = load_yaml(text)
    except StrictInputError as exc:
        raise ConfigError(source, exc.errors) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(source, [f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"the top level must be a mapping of sections, got {type(data).__name__}"])
    return config_from_dict(data, source=source)


def config_from_dict(data: dict[str, Any], *, source: str = "<config>") -> RiskPilotConfig:
    """Validate a mapping (from YAML or built in Python). Strict scalars: a boolean or text where
    a number is wanted, or anything but true/false where a boolean is, is refused rather than
    coerced; keys must be text and numbers finite (:mod:`riskpilot.config.strict`)."""
    try:
        plain = plain_data(data)
    except StrictInputError as exc:
        raise ConfigError(source, exc.errors) from None
    aliases = {section: (ExitRulesConfig, rule) for section, rule in TOP_LEVEL_RULE_SECTIONS.items()}
    problems = scalar_errors(plain, RiskPilotConfig, aliases)
    if problems:
        raise ConfigError(source, problems)
    try:
        return RiskPilotConfig.model_validate(plain)
    except ValidationError as exc:
        # Errors in SPEC's top-level sections are reported under the name the user wrote.
        renames = {
            f"exit_rules.{rule}": section
            for section, rule in TOP_LEVEL_RULE_SECTIONS.items()
            if section in data
        }
        raise ConfigError(source, format_errors(exc, renames)) from exc


def format_errors(exc: ValidationError, renames: dict[str, str] | None = None) -> list[str]:
    lines = _format(exc)
    # Defaults are layered into every method before validation, so one mistake in the
    # top-level exit rules would also be reported under each method: keep the top-level one.
    base = {line for line in lines if line.startswith("exit_rules.")}
    out: list[str] = []
    for line in lines:
        if (
            line.startswith("methods.")
            and ".exit_rules." in line
            and "exit_rules." + line.split(".exit_rules.", 1)[1] in base
        ):
            continue
        for old, new in (renames or {}).items():
            if line.startswith(old + ".") or line.startswith(old + ":"):
                line = new + line[len(old):]
        out.append(line)
    return out


def _format(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = ".".join(str(x) for x in loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            known = _known_keys(RiskPilotConfig, loc[:-1])
            key = str(loc[-1])
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) if known else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listing = f" (known keys: {', '.join(sorted(known))})" if known else ""
            out.append(f"{path}: unknown key {key!r}{hint}{listing}")
            continue
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        if not loc:
            # A cross-field check may report several problems, one per line, each with its path.
            out.extend(line for line in msg.splitlines() if line.strip())
            continue
        out.append(f"{path}: {msg}{shown}")
    return out


def _known_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """Field names of the model found by walking ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap_model(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        keys = list(current.model_fields)
        if current is RiskPilotConfig:
            keys += list(TOP_LEVEL_RULE_SECTIONS)
        return keys
    return []


def _unwrap_model(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return tp


def _step(tp: Any, part: int | str) -> Any:
    tp = _unwrap_model(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return field.annotation if field is not None else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None
