"""Reading and writing run configs: YAML files, dicts, `key=value` overrides.

The YAML written here is commented with each field's help text, so a saved run.yaml explains
itself. Reading is strict: an unknown key or a value of the wrong type is an error that names
the file, the line and the key (and suggests the key that was probably meant), because a
silently ignored typo in a training config wastes a GPU-hour.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from pathlib import Path
from typing import Any

import yaml

from studio.core.config import RunConfig, sections
from studio.core.errors import ConfigError

# libyaml's parser when PyYAML was built with it (10x faster: the app reads a config per run).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any], *, source: str = "", lines: dict[str, int] | None = None,
                     base: RunConfig | None = None) -> RunConfig:
    """Build a config from nested dicts; unknown keys and wrong types are errors."""
    config = _copy(base) if base is not None else RunConfig()
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError("a run config must be a mapping of sections (model:, data:, lora:, train:)",
                          where=source)
    section_names = {name for name, _ in sections(config)}
    top_fields = {f.name for f in dataclasses.fields(config)} - section_names
    for key, value in data.items():
        where = _where(source, lines, key)
        if key in section_names:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"section {key!r} must be a mapping of settings, got {value!r}", where=where)
            for sub_key, sub_value in value.items():
                dotted = f"{key}.{sub_key}"
                set_value(config, dotted, sub_value, where=_where(source, lines, dotted))
        elif key in top_fields:
            set_value(config, key, value, where=where)
        else:
            raise ConfigError(f"unknown key {key!r}", where=where,
                              hint=_suggest(key, sorted(section_names | top_fields)))
    return config


def set_value(config: RunConfig, key: str, value: Any, *, where: str = "") -> None:
    """Set a dotted key ('lora.rank') to a value, converting strings from the command line."""
    target, name = _resolve(config, key, where)
    expected = _type_hints(type(target))[name]
    setattr(target, name, _coerce(key, value, expected, where))


@functools.lru_cache(maxsize=None)
def _type_hints(section: type) -> dict[str, Any]:
    """Resolved once per section class: get_type_hints evaluates every annotation string, which was
    70% of listing a workspace's runs (46 keys per run config read)."""
    return typing.get_type_hints(section)


def get_value(config: RunConfig, key: str) -> Any:
    target, name = _resolve(config, key, "")
    return getattr(target, name)


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply torchtune-style `section.key=value` strings."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value",
                              hint="write e.g. --set lora.rank=8")
        key, value = item.split("=", 1)
        set_value(config, key.strip(), yaml.safe_load(value) if value.strip() else "", where="--set")
    return config


def load_config(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", hint="check the path given to --config")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=SAFE_LOADER) or {}
        lines = _key_lines(yaml.compose(text, Loader=SAFE_LOADER))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=where,
                          hint="fix the YAML syntax (indentation, a missing colon or quote)") from None
    return config_from_dict(data, source=str(path), lines=lines, base=base)


def dump_config(config: RunConfig, *, header: str = "") -> str:
    """Commented YAML: each key preceded by its help text."""
    out: list[str] = []
    if header:
        out += [f"# {line}" if line else "#" for line in header.splitlines()] + [""]
    top = [f for f in dataclasses.fields(config) if not dataclasses.is_dataclass(getattr(config, f.name))]
    for f in top:
        out += _commented(f, getattr(config, f.name), indent="")
    for name, section in sections(config):
        out.append("")
        out.append(f"{name}:")
        for f in dataclasses.fields(section):
            out += _commented(f, getattr(section, f.name), indent="  ")
    return "\n".join(out) + "\n"


def save_config(config: RunConfig, path: str | Path, *, header: str = "") -> None:
    from studio.core.atomic import atomic_write_text

    atomic_write_text(Path(path), dump_config(config, header=header))


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)     # libyaml's, when PyYAML has it: same text, faster


def _commented(f: dataclasses.Field, value: Any, indent: str) -> list[str]:
    lines = []
    help_text = f.metadata.get("help", "")
    if help_text:
        import textwrap

        for line in textwrap.wrap(help_text, width=96 - len(indent)):
            lines.append(f"{indent}# {line}")
    rendered = yaml.dump({f.name: value}, Dumper=_DUMPER, default_flow_style=True, sort_keys=False,
                         width=1_000).strip()
    if rendered.startswith("{") and rendered.endswith("}"):
        rendered = rendered[1:-1]
    lines.append(f"{indent}{rendered}")
    return lines


def _copy(config: RunConfig) -> RunConfig:
    return config_from_plain(dataclasses.asdict(config))


def config_from_plain(data: dict[str, Any]) -> RunConfig:
    """Rebuild a config from `dataclasses.asdict` output (trusted, already validated)."""
    config = RunConfig()
    for name, section in sections(config):
        for key, value in data.get(name, {}).items():
            setattr(section, key, value)
    for f in dataclasses.fields(config):
        if not dataclasses.is_dataclass(getattr(config, f.name)) and f.name in data:
            setattr(config, f.name, data[f.name])
    return config


def _resolve(config: RunConfig, key: str, where: str) -> tuple[Any, str]:
    parts = key.split(".")
    target: Any = config
    for i, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(target)]
        if part not in names:
            prefix = ".".join(parts[:i])
            candidates = [f"{prefix}.{n}" if prefix else n for n in names]
            raise ConfigError(f"unknown key {key!r}", where=where,
                              hint=_suggest(".".join(parts[: i + 1]), candidates))
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(getattr(target, part)):
                raise ConfigError(f"{key!r} is a section, not a setting", where=where,
                                  hint=f"set one of its keys, e.g. {key}.{dataclasses.fields(getattr(target, part))[0].name}")
            return target, part
        target = getattr(target, part)
        if not dataclasses.is_dataclass(target):
            raise ConfigError(f"unknown key {key!r}", where=where)
    raise AssertionError("unreachable")


def _coerce(key: str, value: Any, expected: Any, where: str) -> Any:
    type_name = getattr(expected, "__name__", str(expected))
    bad = ConfigError(f"{key} = {value!r} is not a valid {type_name}", where=where,
                      hint=f"give {key} a {type_name} value")
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise bad
    if expected is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                raise bad from None
        raise bad
    if expected is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if expected is str:
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    if expected is list:
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{key} = {value!r} is not a list of names", where=where,
                          hint=f"write {key} as a list or a comma-separated string")
    if expected is dict:
        if value is None:
            return {}
        if isinstance(value, str):
            return parse_mapping(key, value, where)
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return dict(value)
        raise ConfigError(f"{key} = {value!r} is not a mapping of names", where=where,
                          hint=f"write {key} as name=column pairs, e.g. prompt=question,completion=answer")
    raise AssertionError(f"unsupported config type {expected!r} for {key}")


def parse_mapping(key: str, text: str, where: str = "") -> dict[str, str]:
    """'prompt=question,completion=answer' -> {'prompt': 'question', 'completion': 'answer'}."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ConfigError(f"{key}: {part!r} is not of the form field=column", where=where,
                              hint="write e.g. prompt=question,completion=answer")
        name, column = part.split("=", 1)
        result[name.strip()] = column.strip()
    return result


def _suggest(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    listing = ", ".join(candidates)
    return f"did you mean {close[0]!r}? Known keys: {listing}" if close else f"known keys: {listing}"


def _where(source: str, lines: dict[str, int], key: str) -> str:
    if not source:
        return ""
    return f"{source}:{lines[key]}" if key in lines else source


def _key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Map dotted keys to 1-based line numbers from a composed YAML node tree."""
    found: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            found[key] = key_node.start_mark.line + 1
            found.update(_key_lines(value_node, key))
    return found
