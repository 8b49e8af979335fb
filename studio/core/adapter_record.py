"""studio.json, the adapter's lineage record, checked by type and range before anything uses it.

Why: the record is read by the library table and card, the base-model check, chat, export,
combine and the eval prompt sets, and each of them used to trust the types it found (a
`base_model` that is a list, a `resolved_path` that is a number, tags that are not text) and
fail with a traceback. `check_record` keeps only the values that have the type their readers
expect and says what is wrong with the others, so a damaged record makes the adapter broken
with a reason while every reader still gets well-typed data. Keys it does not know are kept as
they are (their depth is bounded by `adapter_files.load_json`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from studio.core.adapter_files import STUDIO_JSON, check_text_path, shown
from studio.core.errors import ModelError
from studio.core.peft_config import MAX_RANK, finite
from studio.core.workspace import is_portable_name

Rule = Callable[[Any, str], str]       # (value, dotted field) -> "" when fine, else what is wrong


def said(field_name: str, value: Any, why: str) -> str:
    return f"{field_name} = {shown(value)} {why}"


def kind(types: tuple[type, ...], what: str) -> Rule:
    def rule(value: Any, field_name: str) -> str:
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        return said(field_name, value, f"is not {what}") if wrong else ""
    return rule


TEXT = kind((str,), "text")
BOOL = kind((bool,), "true or false")


def is_number(value: Any) -> bool:
    """int or float, not bool; an int must fit a float (JSON allows 1 followed by 4000 zeros, which
    float() and every format string refuse). NaN and infinity are numbers: a diverged run's loss."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, float) or abs(value) < 2**63)


def NUMBER(value: Any, field_name: str) -> str:  # noqa: N802 - a rule, named like the constants above
    return "" if is_number(value) else said(field_name, value, "is not a number")


def optional(rule: Rule) -> Rule:
    return lambda value, field_name: "" if value is None else rule(value, field_name)


def path_text(value: Any, field_name: str) -> str:
    try:
        check_text_path(value, STUDIO_JSON, field_name)
    except ModelError as exc:
        return exc.message.split(": ", 1)[1]
    return ""


def number_in(low: float, high: float, whole: bool = False) -> Rule:
    def rule(value: Any, field_name: str) -> str:
        types = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, types) or not finite(value) or not low <= value <= high:
            what = "a whole number" if whole else "a number"
            return said(field_name, value, f"is not {what} from {low:g} to {high:g}")
        return ""
    return rule


def list_of(rule: Rule) -> Rule:
    def check(value: Any, field_name: str) -> str:
        if not isinstance(value, list):
            return said(field_name, value, "is not a list")
        return next((p for i, item in enumerate(value) if (p := rule(item, f"{field_name}[{i}]"))), "")
    return check


def mapping_of(rule: Rule) -> Rule:
    def check(value: Any, field_name: str) -> str:
        if not isinstance(value, dict):
            return said(field_name, value, "is not an object")
        return next((p for key, item in value.items() if (p := rule(item, f"{field_name}.{key}"))), "")
    return check


def record(fields: dict[str, Rule]) -> Rule:
    """An object whose known fields follow their rules (absent is fine; other fields are kept)."""
    def check(value: Any, field_name: str) -> str:
        if not isinstance(value, dict):
            return said(field_name, value, "is not an object")
        return next((p for key, rule in fields.items()
                     if key in value and (p := rule(value[key], f"{field_name}.{key}"))), "")
    return check


def timestamp(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        return said(field_name, value, "is not a date and time")
    try:
        if value:
            dt.datetime.fromisoformat(value)
    except ValueError:
        return said(field_name, value, "is not an ISO date and time (such as 2026-01-31T12:00:00+00:00)")
    return ""


def run_id(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or (value and not is_portable_name(value)):
        return said(field_name, value, "is not a run id (a folder name under runs/)")
    return ""


def history(value: Any, field_name: str) -> str:
    """[[step, loss], ...]; a loss may be NaN or infinite (a run that diverged is recorded truthfully)."""
    if not isinstance(value, list):
        return said(field_name, value, "is not a list of [step, loss] pairs")
    for i, point in enumerate(value):
        if not (isinstance(point, list) and len(point) == 2 and all(is_number(v) for v in point)):
            return said(f"{field_name}[{i}]", point, "is not a [step, loss] pair of numbers")
    return ""


def targets(value: Any, field_name: str) -> str:
    return "" if isinstance(value, str) else list_of(TEXT)(value, field_name)


OPT_TEXT, OPT_PATH = optional(TEXT), optional(path_text)
# What each reader takes from the record (library, adapter_details, adapter_compat, export_plan,
# combine_plan, prompt_sets, slots, the GUI's table and card): field -> its rule.
RULES: dict[str, Rule] = {
    "name": OPT_TEXT, "studio_version": OPT_TEXT, "created": optional(timestamp), "run_id": optional(run_id),
    "notes": OPT_TEXT, "tags": list_of(TEXT), "chat_template": OPT_TEXT,
    "base_model": record({"name_or_path": OPT_PATH, "resolved_path": OPT_PATH, "hash": OPT_TEXT,
                          "revision": OPT_TEXT, "quant": OPT_TEXT}),
    "dataset": record({"path": OPT_PATH, "eval_path": OPT_PATH, "format": OPT_TEXT, "fingerprint": OPT_TEXT,
                       "train_examples": optional(number_in(0, 1e15, whole=True))}),
    "metrics": mapping_of(optional(NUMBER)),
    "config": record({
        "name": OPT_TEXT,
        "model": record({"name_or_path": OPT_PATH, "revision": OPT_TEXT, "quant": OPT_TEXT}),
        "lora": record({"rank": number_in(1, MAX_RANK, whole=True), "alpha": number_in(0, 1e6), "targets": targets,
                        "dora": BOOL, "rslora": BOOL, "dropout": number_in(0, 1)}),
        "data": record({"path": OPT_PATH, "eval_path": OPT_PATH, "format": TEXT, "system_prompt": TEXT,
                        "columns": optional(mapping_of(TEXT)), "eval_split": optional(number_in(0, 1))}),
        "train": record({}),
    }),
    "loss_history": history, "eval_history": history,
    "system_prompt": optional(record({"text": TEXT, "source": TEXT, "records": optional(number_in(0, 1e15, whole=True)),
                                      "of": optional(number_in(0, 1e15, whole=True))})),
    "imported": record({"from": OPT_TEXT, "at": OPT_TEXT, "base_check": OPT_TEXT}),
}


def check_record(value: Any, file: str = STUDIO_JSON) -> tuple[dict[str, Any], list[str]]:
    """(the record with only well-typed known fields, what is wrong with the others)."""
    if not isinstance(value, dict):
        return {}, [f"{file} holds {'a list' if isinstance(value, list) else 'a single value'}, not a JSON object"]
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for key, item in value.items():
        rule = RULES.get(key)
        problem = rule(item, key) if rule is not None else ""
        if problem:
            problems.append(f"{file}: {problem}")
        else:
            clean[key] = item
    return clean, problems
