"""Turning a pickled adapter (adapter_model.bin) into safetensors, without running its code.

Only called after the user opted in for this one import. `torch.load(weights_only=True)` uses
PyTorch's restricted unpickler: it rebuilds tensors and plain containers and refuses any other
object, so a pickle that would run code on load fails here with an error instead of running.
The result is saved with safetensors and the pickle is removed from the (temporary) folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.errors import ModelError
from studio.core.library import ADAPTER_WEIGHTS, PICKLE_WEIGHTS
from studio.engine.worker_io import Emitter


def convert_pickle_adapter(folder: Path, emitter: Emitter | None = None) -> dict[str, Any]:
    import pickle

    import torch
    from safetensors.torch import save_file

    source = next((folder / p for p in PICKLE_WEIGHTS if (folder / p).is_file()), None)
    if source is None:
        raise ModelError(f"{folder} has no {' or '.join(PICKLE_WEIGHTS)} to convert")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{source.name} is not a plain tensor file and was not loaded: {first[:300]}",
                         hint="the pickle holds objects other than tensors (possibly code); get a "
                              "safetensors version of this adapter from its author") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ModelError(f"{source.name} does not hold a flat name -> tensor mapping",
                         hint="this is not a PEFT adapter weights file")
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    source.unlink()
    if emitter is not None:
        emitter.emit("log", message=f"converted {source.name} ({len(state)} tensors) to {ADAPTER_WEIGHTS}")
    return {"tensors": len(state)}
