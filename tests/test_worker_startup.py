"""What the training worker imports before step 1: nothing the run at hand does not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.config import RunConfig
from studio.core.config_io import save_config
from studio.core.runs import RUN_CONFIG

PROBE = """
import sys
from pathlib import Path
from studio.core.config_io import load_config
from studio.engine.train_session import environment, skip_unused_imports
skip_unused_imports(load_config(Path(sys.argv[1]) / "run.yaml"))
import peft, transformers
from transformers.utils import is_bitsandbytes_available
print(sys.modules.get("bitsandbytes") is not None, is_bitsandbytes_available(), environment()["bitsandbytes"])
"""


@pytest.mark.parametrize(("quant", "imported"), [("none", False), ("4bit", True)])
def test_bitsandbytes_is_imported_only_for_quantized_runs(tmp_path: Path, quant: str, imported: bool) -> None:
    config = RunConfig(name="startup")
    config.model.quant = quant
    save_config(config, tmp_path / RUN_CONFIG)
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    loaded, available, version = out.stdout.split()
    assert (loaded, available) == (str(imported), str(imported))
    assert version not in ("None", "")       # the installed version is still reported
