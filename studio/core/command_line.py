"""The `studio train` command line that reproduces a config (shown in the GUI to copy).

Only settings that differ from the defaults are written, each with the flag the CLI defines for
it in studio/core/config.py, so the line stays short and `studio train` parses it back to the
same config (tests check the round trip).
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from studio.core.config import RunConfig, sections


def train_command(config: RunConfig, program: str = "studio") -> str:
    defaults = RunConfig()
    args = [program, "train"]
    owners = [("", config, defaults)] + [(name, section, getattr(defaults, name)) for name, section in sections(config)]
    for _, owner, default_owner in owners:
        for f in dataclasses.fields(owner):
            flag = f.metadata.get("flag")
            if not flag:
                continue
            value, default = getattr(owner, f.name), getattr(default_owner, f.name)
            if value == default:
                continue
            args += _flag(flag, value)
    return " ".join(shlex.quote(a) for a in args)


def _flag(flag: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    if isinstance(value, list):
        return [flag, ",".join(value)]
    if isinstance(value, dict):
        return [flag, ",".join(f"{k}={v}" for k, v in value.items())]
    if isinstance(value, float):
        return [flag, repr(value)]
    return [flag, str(value)]
