"""One training attempt inside a worker: hello, stages, and the outcome, around run_training.

Shared by the normal worker (`python -m studio.engine train`) and by `studio train` launched
under torchrun (studio/engine/distributed.py), which differ only in how events leave the
process and who holds the run's lock.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.engine.outcome import guarded
from studio.engine.stages import Stages
from studio.engine.worker_io import Controls, Emitter


def train_run(run_dir: Path, resume: bool, emitter: Emitter, controls: Controls) -> int:
    config = _config_or_none(run_dir)   # read once here, before any library import
    offline_unless_hub(config)
    skip_unused_imports(config)
    emitter.emit("hello", worker="train", pid=os.getpid(), run_id=run_dir.name, resume=resume,
                 python=sys.version.split()[0])
    stages = Stages(emitter)
    stages.enter("import", "starting the training worker")

    def body() -> dict[str, Any]:
        from studio.core.runs import remove_incomplete_checkpoints

        if int(os.environ.get("RANK", "0")) == 0:
            for path in remove_incomplete_checkpoints(run_dir):
                emitter.emit("log", message=f"removed incomplete checkpoint {path.name}")
            from studio.core.atomic import remove_own_leftovers
            from studio.core.workspace import Workspace

            for path in remove_own_leftovers(Workspace(run_dir.parent.parent).adapters_dir, run_dir.name):
                emitter.emit("log", message=f"removed this run's half-written adapter {path.name}")
        quiet_libraries()
        from studio.engine import failpoints

        failpoints.install()
        emitter.emit("log", environment=environment())
        from studio.engine.training import run_training

        result = run_training(run_dir, emitter, controls, stages, resume)
        if result.get("status") == "cancelled" and controls.reason:
            result["reason"] = controls.reason   # "parent_gone", "request", ...: why it stopped early
        return result

    from studio.core.workspace import Workspace

    return guarded(emitter, body, writes_to=[run_dir, Workspace(run_dir.parent.parent).adapters_dir])


def offline_unless_hub(config: Any) -> None:
    """A run on a local model folder never touches the network (set before huggingface_hub is
    imported, which reads the flag once). `config`: the run's, or None when it cannot be read."""
    name = config.model.name_or_path if config else ""
    if name and Path(name).expanduser().is_dir():
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"


def skip_unused_imports(config: Any) -> None:
    """An unquantized run never calls bitsandbytes, but peft imports it when it is installed, and
    bitsandbytes imports torch's compiler: a third of the worker's start-up (8.5 s instead of
    13-17 s to import peft on a busy 2-core machine). Marking it absent in sys.modules makes
    importlib.util.find_spec, which peft and transformers ask, answer "not installed"."""
    if config is not None and config.model.quant == "none" and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None  # type: ignore[assignment]


def _config_or_none(run_dir: Path) -> Any:
    from studio.core.config_io import load_config
    from studio.core.runs import RUN_CONFIG

    try:
        return load_config(run_dir / RUN_CONFIG)
    except StudioError:
        return None  # reported properly once training starts


def environment() -> dict[str, Any]:
    import peft
    import torch
    import transformers

    env: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__,
                           "peft": peft.__version__, "cuda": torch.cuda.is_available(),
                           "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    try:  # the installed version, also when this unquantized run does not import it
        from importlib.metadata import version

        env["bitsandbytes"] = version("bitsandbytes")
    except Exception:  # bitsandbytes is optional at run time for unquantized training
        env["bitsandbytes"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["device"] = props.name
        env["device_memory"] = props.total_memory
    else:
        env["device"] = "cpu"
    return env


def quiet_libraries() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("bitsandbytes", "transformers.modeling_utils"):
        logging.getLogger(name).setLevel(logging.ERROR)
