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
The same reads give the system prompt an adapter was trained with (`system_prefill`), which the
Chat page and `studio chat` offer when the user gives none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.adapter_compat import claimed_base
from studio.core.datasets.system_prompts import SETTING, TrainedSystemPrompt, recorded_system_prompt
from studio.core.errors import ModelError, StudioError, WorkspaceError
from studio.core.library import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE_WEIGHTS, STUDIO_JSON, find_adapter, \
    folder_chat_template
from studio.core.model_info import find_model_folder
from studio.core.runs import CHECKPOINTS, COMPLETE_MARK, checkpoints
from studio.core.workspace import Workspace

if TYPE_CHECKING:
    from studio.core.library import AdapterInfo
    from studio.core.runs import RunInfo

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
    text: str                        # the menu's text (long ones are elided in the middle)
    kind: str                        # base, library, checkpoint, or folder (a folder or spec given by hand)
    base_model: str = ""
    detail: str = ""                 # the tooltip: full name, base model, when it was trained
    system_prompt: TrainedSystemPrompt | None = None
    label: str = ""                  # the adapter's name, for "from NAME's training data"

    @property
    def name(self) -> str:
        return self.label or self.text


def slot_choices(ws: Workspace, runs: list[RunInfo] | None = None,
                 adapters: list[AdapterInfo] | None = None) -> list[SlotChoice]:
    """The base alone, every usable library adapter, then the complete checkpoints of the runs
    (newest run first), so a run that is still training can be tried before it finishes.
    File reads only; broken adapters are left out (the library lists them with the reason).
    `runs` / `adapters`: a listing already made (the app's, shared with its Runs page), else
    the workspace is listed here."""
    from studio.core.library import list_adapters
    from studio.core.runs import list_runs

    choices = [SlotChoice(BASE, "Base model alone", BASE, detail="The base model without any adapter: what "
                          "training started from")]
    by_name: dict[str, SlotChoice] = {}
    for info in adapters if adapters is not None else list_adapters(ws.adapters_dir):
        if info.broken or info.name.startswith("."):
            continue
        steps = (info.studio.get("metrics") or {}).get("steps")
        when = short_date(info.created)
        text = " · ".join(p for p in (info.name, short_model(info.base_model), when) if p)
        detail = "\n".join(p for p in (
            info.name, f"Base model: {info.base_model or 'not recorded'}",
            f"Trained {when}" + (f", {steps:,} steps" if isinstance(steps, int) else "") if when else "",
            f"Final train loss {info.final_loss:.4g}" if info.final_loss is not None else "") if p)
        choice = SlotChoice(info.name, text, "library", info.base_model, detail,
                            recorded_system_prompt(info.studio), info.name)
        by_name[info.name] = choice
        choices.append(choice)
    for run in reversed(runs if runs is not None else list_runs(ws.runs_dir)):
        base = run.config.model.name_or_path if run.config else ""
        live = " (training)" if run.status == "running" else ""
        name = run.name or run.run_id
        prompt = run_system_prompt(run.config, by_name.get(run.adapter_name))
        found = checkpoints(run.path)
        if live and found:
            choices.append(SlotChoice(f"run:{run.run_id}", f"{name} · latest checkpoint{live}", "checkpoint", base,
                                      f"The newest complete checkpoint of run {run.run_id} when you press Load\n"
                                      f"Base model: {base or 'not recorded'}", prompt, name))
        for folder in reversed(found):
            step = folder.name.split("-", 1)[1]
            choices.append(SlotChoice(f"run:{run.run_id}@{step}", f"{name} @ step {step}{live}", "checkpoint", base,
                                      f"Run {run.run_id}, checkpoint at step {step}{live}\n"
                                      f"Base model: {base or 'not recorded'}\n{folder}", prompt, name))
    return choices


def short_model(name: str) -> str:
    """The last part of a model path or hub id: "base-model" for /home/me/demo/base-model."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if name else ""


def short_date(created: str) -> str:
    """"2026-01-31 14:02" in local time from studio.json's ISO timestamp; "" when there is none."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return ""
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M")


def run_system_prompt(config: Any, adapter: SlotChoice | None = None) -> TrainedSystemPrompt | None:
    """A run checkpoint's system prompt: what its finished adapter recorded, else its
    data.system_prompt setting (the training records themselves are not read here)."""
    if adapter is not None and adapter.system_prompt is not None:
        return adapter.system_prompt
    setting = getattr(getattr(config, "data", None), "system_prompt", "") if config is not None else ""
    return TrainedSystemPrompt(setting, SETTING) if isinstance(setting, str) and setting.strip() else None


def spec_system_prompt(spec: SlotSpec, ws: Workspace) -> TrainedSystemPrompt | None:
    """The system prompt the adapter of a resolved slot was trained with, when it is known."""
    if spec.is_base or spec.path is None:
        return None
    if spec.kind == "checkpoint":
        from studio.core.runs import load_run

        run_dir = spec.path.parent.parent
        try:
            run = load_run(run_dir)
        except (OSError, StudioError):
            return None
        adapter = None
        if run.adapter_name:
            try:
                info = find_adapter(ws.adapters_dir, run.adapter_name)
                adapter = SlotChoice(info.name, info.name, "library", system_prompt=recorded_system_prompt(info.studio))
            except StudioError:
                pass
        return run_system_prompt(run.config, adapter)
    from studio.core.adapter_files import KEPT_FILES, read_json_file
    from studio.core.adapter_record import check_record

    try:
        record, _problems = check_record(read_json_file(spec.path / STUDIO_JSON, KEPT_FILES[STUDIO_JSON]))
    except (OSError, ModelError):
        return None
    return recorded_system_prompt(record)


@dataclass
class SystemPrefill:
    """The system prompt to offer for what the slots hold, and where it comes from."""

    text: str
    adapters: list[str]              # the adapters trained with it
    detail: str                      # how training used it (TrainedSystemPrompt.origin)
    others: list[str]                # adapters trained with another system prompt (not offered)

    @property
    def note(self) -> str:
        """"from demo-ticket-classifier's training data" (or "from a's and b's training data")."""
        names = " and ".join(f"{n}'s" for n in self.adapters)
        return f"from {names} training data"

    @property
    def explanation(self) -> str:
        text = f"{self.note[0].upper()}{self.note[1:]}: {self.detail}."
        if self.others:
            was = "was" if len(self.others) == 1 else "were"
            text += f" {' and '.join(self.others)} {was} trained with another one."
        return text


def system_prefill(slots: list[tuple[str, TrainedSystemPrompt | None]]) -> SystemPrefill | None:
    """From (adapter name, its trained system prompt) per slot, in slot order: the first slot's
    prompt that is known (both columns get the same one), or None when no slot's adapter had one."""
    known = [(name, prompt) for name, prompt in slots if prompt is not None and prompt.text.strip()]
    if not known:
        return None
    first = known[0][1]
    same = list(dict.fromkeys(name for name, prompt in known if prompt.text == first.text))
    others = list(dict.fromkeys(name for name, prompt in known if prompt.text != first.text))
    return SystemPrefill(first.text, same, first.origin(), others)
