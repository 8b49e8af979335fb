"""Which checkpoints stay on disk, and resuming from one that already ends the run.

The Trainer's own `save_total_limit` deletes older checkpoints inside its save, before any
callback runs, so before our `studio-complete` mark is on the new one: a kill in between could
leave no complete checkpoint. We keep the limit ourselves instead, deleting only after the mark.

The Trainer also trains one step past the end when resumed from the checkpoint of the last step
(it re-enters the loop before checking the step count), so a run killed while its adapter was
being written would finish at step N+1 of N. A checkpoint that already ends the run is therefore
not trained from: its weights are loaded and the adapter is written from them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from studio.core.runs import checkpoints

TRAINER_STATE = "trainer_state.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class CheckpointRotation(TrainerCallback):
    """Keep the newest `keep` complete checkpoints (and the best one, which the Trainer loads at
    the end with early stopping); runs after the callback that marks a checkpoint complete."""

    def __init__(self, run_dir: Path, keep: int) -> None:
        self.run_dir = run_dir
        self.keep = max(1, keep)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if state.is_world_process_zero:
            rotate_checkpoints(self.run_dir, self.keep, state.best_model_checkpoint)


def rotate_checkpoints(run_dir: Path, keep: int, best: str | None = None) -> list[Path]:
    """Delete complete checkpoints older than the newest `keep`, never the best one."""
    complete = checkpoints(run_dir)
    best_path = Path(best).resolve() if best else None
    removed = []
    for path in complete[:-keep] if keep > 0 else []:
        if best_path is not None and path.resolve() == best_path:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@dataclass
class FinishedCheckpoint:
    """A checkpoint after which the run has nothing left to train."""

    state: TrainerState
    weights_from: Path        # the best checkpoint when early stopping keeps the best, else this one
    why: str


def finished_checkpoint(checkpoint: Path, load_best: bool, patience: int) -> FinishedCheckpoint | None:
    """The checkpoint's state when it already ends the run: the last step, or early stopping's
    patience used up (the Trainer would otherwise train on until the next evaluation)."""
    state_file = checkpoint / TRAINER_STATE
    if not state_file.is_file():
        return None
    state = TrainerState.load_from_json(str(state_file))
    why = ""
    if state.max_steps and state.global_step >= state.max_steps:
        why = f"step {state.global_step} is the last step"
    elif patience:
        early = state.stateful_callbacks.get("EarlyStoppingCallback") or {}
        early = early[-1] if isinstance(early, list) and early else early
        counter = (early.get("attributes") or {}).get("early_stopping_patience_counter", 0) if early else 0
        if counter >= patience:
            why = f"early stopping ended the run at step {state.global_step}"
    if not why:
        return None
    weights = checkpoint
    if load_best and state.best_model_checkpoint:
        best = Path(state.best_model_checkpoint)
        best = best if best.is_absolute() else checkpoint.parent / best.name
        if (best / ADAPTER_WEIGHTS).is_file():
            weights = best
    return FinishedCheckpoint(state, weights, why)


def load_adapter_weights(model: Any, folder: Path) -> None:
    """Put the LoRA weights saved in a checkpoint into the live PEFT model (what the Trainer's
    resume would load), refusing a checkpoint that does not hold every trained tensor."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(str(folder / ADAPTER_WEIGHTS)))
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if missing:
        raise RuntimeError(f"{folder / ADAPTER_WEIGHTS} lacks {len(missing)} LoRA tensors (e.g. {missing[0]})")
