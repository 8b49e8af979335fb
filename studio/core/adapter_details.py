"""What the library shows about one adapter (its lineage card) and how two adapters differ.

The card gathers what a person asks of an adapter they found again months later: which base it
was trained on (and whether that base is still here, unchanged), on which data (fingerprint),
with which settings, how the loss went, which run made it, and its files. The diff flattens
both adapters' settings to dotted keys so a table can put them side by side and highlight the
rows that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.adapter_compat import check_base
from studio.core.adapter_files import ADAPTER_CONFIG, KEPT_FILES, read_json_file
from studio.core.errors import ModelError, StudioError
from studio.core.library import AdapterInfo, find_adapter, folder_files
from studio.core.workspace import Workspace

# adapter_config.json fields worth showing; the rest are peft defaults nobody set.
PEFT_FIELDS = ("peft_type", "r", "lora_alpha", "lora_dropout", "use_rslora", "use_dora", "bias",
               "modules_to_save", "task_type", "base_model_name_or_path", "revision")
SECTIONS = ("base_model", "dataset", "config", "metrics", "peft")
LONG_VALUE = 120


def read_peft_config(folder: Path) -> dict[str, Any]:
    """The fields of adapter_config.json worth showing, as written (a damaged value is shown, not used:
    the library marks the adapter broken with the reason); {} when the file cannot be read."""
    try:
        config = read_json_file(folder / ADAPTER_CONFIG, KEPT_FILES[ADAPTER_CONFIG])
    except (OSError, ModelError):
        return {}
    if not isinstance(config, dict):
        return {}
    shown = {k: config.get(k) for k in PEFT_FIELDS if k in config}
    targets = config.get("target_modules")
    if isinstance(targets, list):
        shown["target_modules"] = sorted({str(t).rsplit(".", 1)[-1] for t in targets})
    elif targets is not None:
        shown["target_modules"] = targets
    return shown


def lineage_card(ws: Workspace, name: str, check: bool = True) -> dict[str, Any]:
    """Everything known about one adapter, as plain data for the CLI (--json) and the GUI card.

    Raises only when there is no such adapter; a damaged one gets a card that says why it is broken,
    built from the values that passed the checks (`AdapterInfo.studio`)."""
    info = find_adapter(ws.adapters_dir, name)
    studio = info.studio
    card: dict[str, Any] = info.to_dict()
    card.update(
        peft=read_peft_config(info.path),
        base_model_record=studio.get("base_model") or {},
        dataset_record=studio.get("dataset") or {},
        config=studio.get("config") or {},
        metrics=studio.get("metrics") or {},
        loss_history=studio.get("loss_history") or [],
        eval_history=studio.get("eval_history") or [],
        chat_template=studio.get("chat_template"),
        imported=studio.get("imported"),
        files=[{"name": rel, "size_bytes": size} for rel, size in folder_files(info.path)],
        run=_run_summary(ws, info),
    )
    if check and not info.broken:
        card["base_check"] = check_base(info.path, ws).to_dict()
    return card


def _run_summary(ws: Workspace, info: AdapterInfo) -> dict[str, Any] | None:
    if not info.run_id:
        return None
    run_dir = ws.runs_dir / info.run_id          # run_id is a plain folder name (adapter_record)
    if not (run_dir / "run.yaml").is_file():
        return {"run_id": info.run_id, "exists": False, "path": str(run_dir)}
    from studio.core.runs import load_run

    try:
        run = load_run(run_dir)
    except (StudioError, OSError, ValueError) as exc:
        return {"run_id": info.run_id, "exists": True, "path": str(run_dir), "status": f"unreadable ({exc})",
                "steps": None}
    return {"run_id": info.run_id, "exists": True, "path": str(run_dir), "status": run.status,
            "steps": run.history.step}


def flat_settings(info: AdapterInfo) -> dict[str, Any]:
    """section.key -> value for everything comparable: base, data, run config, metrics, peft config."""
    studio = info.studio
    flat: dict[str, Any] = {}
    sources = {"base_model": studio.get("base_model"), "dataset": studio.get("dataset"),
               "config": studio.get("config"), "metrics": studio.get("metrics"), "peft": read_peft_config(info.path)}
    for section in SECTIONS:
        _flatten(section, sources[section] or {}, flat)
    flat.pop("config.name", None)  # the adapter's own name is not a setting
    return flat


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


@dataclass
class DiffRow:
    key: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return self.a != self.b

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "a": self.a, "b": self.b, "differs": self.differs}


def diff_adapters(a: AdapterInfo, b: AdapterInfo, only_differences: bool = False) -> list[DiffRow]:
    """Rows for every setting either adapter has, in section order (base, data, config, metrics, peft)."""
    left, right = flat_settings(a), flat_settings(b)
    keys = list(dict.fromkeys([*left, *right]))
    order = {s: i for i, s in enumerate(SECTIONS)}
    keys.sort(key=lambda k: order.get(k.split(".", 1)[0], len(order)))
    rows = [DiffRow(k, left.get(k), right.get(k)) for k in keys]
    return [r for r in rows if r.differs] if only_differences else rows


def short_value(value: Any) -> str:
    """A value as one readable cell: lists joined, long strings (templates, paths) shortened."""
    if value is None:
        return "-"
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= LONG_VALUE else text[: LONG_VALUE - 3] + "..."
