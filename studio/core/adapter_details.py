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
from studio.core.objective_summary import objective_of_record
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
        objective=objective_of_record(studio),      # sft for adapters made before the block
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


def base_model_text(card: dict[str, Any]) -> str:
    """The card's "Base model" line: the base the adapter was trained on, and where the base check
    (the one source of the banner's message too) found it on this machine when that is another
    folder, e.g. a copy of the same weights in this workspace's demo folder."""
    check = card.get("base_check") or {}
    trained = str(card.get("base_model") or check.get("claimed") or "")
    found = check.get("base_path")
    if found and trained and not _same_path(trained, str(found)):
        return f"{trained} (on this machine: {found})"
    return trained


def _same_path(name: str, folder: str) -> bool:
    try:
        return Path(name).expanduser().resolve() == Path(folder).resolve()
    except (OSError, ValueError, RuntimeError):
        return False


def _run_summary(ws: Workspace, info: AdapterInfo) -> dict[str, Any] | None:
    """The run that made the adapter and where it is: `where` is "here" (this workspace's runs),
    "other" (trained in another workspace: another STUDIO_HOME, or imported from one; `workspace`
    names it, `exists_there` says whether its run folder is still there), "imported" (made
    somewhere else, nothing says where its run is) or "deleted" (a run of this workspace whose
    folder is gone). `exists` is True only for "here": the Runs page
    shows this workspace's runs."""
    if not info.run_id:
        return None
    run_dir = ws.runs_dir / info.run_id          # run_id is a plain folder name (adapter_record)
    if (run_dir / "run.yaml").is_file():
        return {"run_id": info.run_id, "exists": True, "where": "here", "path": str(run_dir), **_run_state(run_dir)}
    found, other = _run_elsewhere(ws, info)
    if found is not None:
        return {"run_id": info.run_id, "exists": False, "where": "other", "exists_there": True,
                "workspace": str(found.parent.parent), "path": str(found), **_run_state(found)}
    if other is not None:
        return {"run_id": info.run_id, "exists": False, "where": "other", "exists_there": False,
                "workspace": str(other), "path": str(other / "runs" / info.run_id)}
    imported = (info.studio.get("imported") or {}).get("from")
    if imported:
        return {"run_id": info.run_id, "exists": False, "where": "imported", "imported_from": str(imported)}
    return {"run_id": info.run_id, "exists": False, "where": "deleted", "path": str(run_dir)}


def _run_state(run_dir: Path) -> dict[str, Any]:
    from studio.core.runs import load_run

    try:
        run = load_run(run_dir)
    except (StudioError, OSError, ValueError) as exc:
        return {"status": f"unreadable ({exc})", "steps": None}
    return {"status": run.status, "steps": run.history.step}


def _run_elsewhere(ws: Workspace, info: AdapterInfo) -> tuple[Path | None, Path | None]:
    """(the run's folder in another workspace, else that workspace when only it is known).

    The paths the adapter records lead there: the folder it was imported from
    (<home>/adapters/<name>), its base model and data (the demo's live in <home>/demo/). A few
    parents of each are looked at for runs/<run_id>/run.yaml: some stats, no walk of the disk."""
    studio = info.studio
    imported = (studio.get("imported") or {}).get("from")
    base = studio.get("base_model") or {}
    paths = [p for p in (imported, base.get("resolved_path"), base.get("name_or_path"),
                         (studio.get("dataset") or {}).get("path")) if isinstance(p, str) and p.strip()]
    here = _resolved(ws.home)
    other: Path | None = None
    for text in paths:
        try:
            path = Path(text).expanduser()
            if not path.is_absolute():
                continue
            ancestors = list(path.parents)[:PARENTS_LOOKED_AT]
        except (OSError, ValueError):
            continue
        for folder in ancestors:
            if _resolved(folder) == here:
                break                               # a path of this workspace says nothing of another
            run_dir = folder / "runs" / info.run_id
            try:
                if (run_dir / "run.yaml").is_file():
                    return run_dir, folder
                if other is None and _looks_like_workspace(folder, path):
                    other = folder
            except OSError:
                continue
    return None, other


PARENTS_LOOKED_AT = 4


def _looks_like_workspace(folder: Path, recorded: Path) -> bool:
    """A home the recorded path lives in: <home>/adapters/<name> or <home>/demo/..."""
    try:
        part = recorded.relative_to(folder).parts[0]
    except (ValueError, IndexError):
        return False
    return part in ("adapters", "demo") and ((folder / "runs").is_dir() or (folder / "adapters").is_dir()
                                              or part == "adapters")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def run_text(run: dict[str, Any] | None) -> str:
    """The card's "Run" line (GUI and `studio adapters show`): what is true of the run's folder."""
    if not run:
        return ""
    state = f"{run.get('status', '')}, {run.get('steps')} steps" if "status" in run else ""
    where = run.get("where") or ("here" if run.get("exists") else "deleted")
    if where == "here":
        return f"{run['run_id']} ({state})"
    if where == "other":
        there = state if run.get("exists_there") else "its run folder is not there now"
        return f"{run['run_id']}, trained in another workspace: {run.get('workspace')} ({there})"
    if where == "imported":
        return f"{run['run_id']} (trained before it was imported from {run.get('imported_from')}; its run is not here)"
    return f"{run['run_id']} (its run folder was deleted from this workspace)"


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
