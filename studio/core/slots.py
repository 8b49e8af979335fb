"""What a chat slot holds: the base model alone, or the base with one adapter.

A slot spec is one of
    base                     the base model without any adapter
    NAME                     an adapter in the library (<home>/adapters/NAME)
    PATH                     an adapter folder anywhere (a PEFT folder with adapter_config.json),
                             or a checkpoint folder of a run (runs/<id>/checkpoints/checkpoint-N)
    run:RUN[@STEP]           a run's latest complete checkpoint, or checkpoint-STEP; RUN is a run
                             id, a unique prefix of one, or 'last'; works while the run trains

Resolution reads files only (no torch), so the GUI can check a spec as it is typed and the CLI
can find the base model to load from the adapters' own records when --model is not given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.adapter_compat import claimed_base
from studio.core.errors import ModelError, WorkspaceError
from studio.core.library import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE_WEIGHTS, find_adapter, folder_chat_template
from studio.core.model_info import find_model_folder
from studio.core.runs import CHECKPOINTS, COMPLETE_MARK, checkpoints
from studio.core.workspace import Workspace

BASE = "base"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class SlotSpec:
    spec: str                        # as the user gave it
    kind: str                        # base, library, folder or checkpoint
    label: str                       # short name for column headers and votes
    path: Path | None = None         # the adapter folder (None for the base)
    base_model: str = ""             # the base model the adapter names (path or hub id)
    base_hash: str = ""              # content hash of that base, when recorded
    chat_template: str | None = None  # the template the adapter was trained with, when known
    stamp: str = ""                  # changes when the weights change (reload instead of reuse)

    @property
    def is_base(self) -> bool:
        return self.kind == BASE

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "label": self.label,
                "path": str(self.path) if self.path else None, "base_model": self.base_model or None,
                "has_chat_template": self.chat_template is not None}


def resolve_slot(spec: str, ws: Workspace) -> SlotSpec:
    text = spec.strip()
    if not text:
        raise WorkspaceError("empty slot spec", hint="use base, an adapter name, an adapter folder or run:RUN")
    if text.casefold() == BASE:
        return SlotSpec(spec, BASE, BASE)
    if text.startswith("run:"):
        return _from_run(spec, text[4:], ws)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "run.yaml").is_file():
            return _from_run(spec, str(path), ws)
        kind = "checkpoint" if _CKPT.match(path.name) and path.parent.name == CHECKPOINTS else "folder"
        label = f"{path.parent.parent.name}@{path.name}" if kind == "checkpoint" else path.resolve().name
        return _adapter_slot(spec, kind, label, path.resolve())
    if "/" in text or "\\" in text or text.startswith((".", "~")):
        raise WorkspaceError(f"adapter folder {text} does not exist", hint="check the path")
    info = find_adapter(ws.adapters_dir, text)
    if info.broken:
        raise WorkspaceError(f"adapter {text!r} cannot be used: {info.broken}",
                             hint="see `studio adapters show " + text + "`; delete or re-import it")
    return _adapter_slot(spec, "library", info.name, info.path)


def _from_run(spec: str, ref: str, ws: Workspace) -> SlotSpec:
    run_ref, _, step = ref.partition("@")
    run_dir = ws.resolve_run(run_ref)
    found = checkpoints(run_dir)
    if not found:
        raise WorkspaceError(f"run {run_dir.name} has no complete checkpoint yet",
                             hint="wait for the first checkpoint (see --save-every), or use the finished adapter")
    if step:
        chosen = [c for c in found if c.name == f"checkpoint-{step}"]
        if not chosen:
            steps = ", ".join(c.name.split("-")[1] for c in found)
            raise WorkspaceError(f"run {run_dir.name} has no complete checkpoint at step {step}",
                                 hint=f"its checkpoints are at steps {steps}")
        folder = chosen[0]
    else:
        folder = found[-1]
    return _adapter_slot(spec, "checkpoint", f"{run_dir.name}@{folder.name}", folder)


def _adapter_slot(spec: str, kind: str, label: str, folder: Path) -> SlotSpec:
    if not (folder / ADAPTER_CONFIG).is_file():
        hint = ("this is a base model folder: pass it with --model and use `base` as the slot"
                if (folder / "config.json").is_file() else "pass a PEFT adapter folder")
        raise WorkspaceError(f"{folder} has no {ADAPTER_CONFIG}, so it is not an adapter", hint=hint)
    if kind == "checkpoint" and not (folder / COMPLETE_MARK).is_file():
        raise WorkspaceError(f"checkpoint {folder} is not complete (it may still be being written)",
                             hint="wait a moment, or use the run's previous checkpoint")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        if any((folder / p).is_file() for p in PICKLE_WEIGHTS):
            raise ModelError(f"{folder} holds its weights only as a pickle, which is not loaded",
                             hint="import it with `studio adapters import FOLDER --allow-pickle`, which converts "
                                  "it to safetensors without running code")
        raise ModelError(f"{folder} has no {ADAPTER_WEIGHTS}", hint="the adapter's weights are missing")
    base, digest = claimed_base(folder)
    stat = weights.stat()
    return SlotSpec(spec, kind, label, folder, base, digest, folder_chat_template(folder),
                    f"{stat.st_mtime_ns}:{stat.st_size}")


def base_model_for(slots: list[SlotSpec], model: str = "") -> str:
    """The base model to load: `model` when given, else the one the adapter slots name."""
    if model:
        return model
    named = [s for s in slots if not s.is_base]
    if not named:
        raise WorkspaceError("no base model given, and no adapter slot names one",
                             hint="pass --model with a model folder or hub id")
    bases = {_same_key(s.base_model): s.base_model for s in named if s.base_model}
    if not bases:
        raise WorkspaceError(f"adapter {named[0].label} does not name its base model",
                             hint="pass --model with the base model it was trained on")
    if len(bases) > 1:
        listing = "; ".join(f"{s.label}: {s.base_model}" for s in named)
        raise WorkspaceError(f"the adapters were trained on different base models ({listing})",
                             hint="compare adapters of the same base, or pass --model to choose one")
    return next(iter(bases.values()))


def _same_key(name: str) -> str:
    folder = find_model_folder(name)
    return str(folder.resolve()) if folder else name.casefold()


@dataclass
class SlotChoice:
    """One entry of the GUI's slot menus: what to send as the spec and how to show it."""

    spec: str
    text: str
    kind: str                        # base, library or checkpoint
    base_model: str = ""


def slot_choices(ws: Workspace) -> list[SlotChoice]:
    """The base alone, every usable library adapter, then the complete checkpoints of the runs
    (newest run first), so a run that is still training can be tried before it finishes.
    File reads only; broken adapters are left out (the library lists them with the reason)."""
    from studio.core.library import list_adapters
    from studio.core.runs import list_runs

    choices = [SlotChoice(BASE, "Base model alone", BASE)]
    for info in list_adapters(ws.adapters_dir):
        if not info.broken and not info.name.startswith("."):
            choices.append(SlotChoice(info.name, info.name, "library", info.base_model))
    for run in reversed(list_runs(ws.runs_dir)):
        base = run.config.model.name_or_path if run.config else ""
        live = " (training)" if run.status == "running" else ""
        for folder in reversed(checkpoints(run.path)):
            step = folder.name.split("-", 1)[1]
            choices.append(SlotChoice(f"run:{run.run_id}@{step}", f"{run.name or run.run_id} @ step {step}{live}",
                                      "checkpoint", base))
    return choices
