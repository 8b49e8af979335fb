"""Untrusted files let nothing in: pickle weights and remote code are refused, names cannot escape."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, chat, studio, write_jsonl
from studio.core.errors import WorkspaceError
from studio.core.library import read_adapter
from studio.core.workspace import Workspace


class Evil:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(path: Path, marker: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump({"base_model.model.lm_head.weight": Evil(marker)}, fh)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "d.jsonl", [chat(f"q{i}", f"a{i}") for i in range(10)])


def test_malicious_pickle_adapter_is_refused_and_never_runs(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    adapter = tmp_path / "evil-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"],
        "base_model_name_or_path": str(tiny_model), "task_type": "CAUSAL_LM"}))
    evil_pickle(adapter / "adapter_model.bin", marker)
    assert "pickle" in read_adapter(adapter).broken
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "studio.engine", "evaluate", "--model", str(tiny_model),
                             "--adapter", str(adapter), "--data", str(data)], capture_output=True, text=True, env=env)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    error = next(e for e in events if e["type"] == "error")
    assert result.returncode == 2 and "pickle" in error["message"]
    assert not marker.exists()


def test_malicious_pickle_model_is_refused_even_with_opt_in(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    model = tmp_path / "evil-model"
    shutil.copytree(tiny_model, model)
    (model / "model.safetensors").unlink()
    evil_pickle(model / "pytorch_model.bin", marker)
    home = tmp_path / "home"
    refused = studio("train", "--model", str(model), "--data", str(data), home=home)
    assert refused.returncode == 2 and "only pickle weights" in refused.stderr and "--allow-pickle" in refused.stderr
    # With the opt-in, transformers' weights-only unpickler still rejects code objects.
    opted = studio("train", "--model", str(model), "--data", str(data), "--allow-pickle", "--max-steps", "1",
                   home=home)
    assert opted.returncode != 0
    assert not marker.exists()


def test_remote_code_model_needs_opt_in(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    model = tmp_path / "custom-code"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    result = studio("train", "--model", str(model), "--data", str(data), home=tmp_path / "home")
    assert result.returncode == 2 and "--trust-remote-code" in result.stderr


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", ".hidden", "x" * 101, "", "a b",
                                  "C:\\x", "name\x00", "CON", "nul", "Aux", "com1.v2", "LPT9.txt", "prn.",
                                  "name."])
def test_names_cannot_escape_the_workspace(tmp_path: Path, name: str) -> None:
    ws = Workspace.open(tmp_path)
    with pytest.raises(WorkspaceError):
        ws.adapter_dir(name)
    with pytest.raises(WorkspaceError):
        ws.run_dir(name)


def test_unportable_names_are_refused_with_a_fix_everywhere(tmp_path: Path) -> None:
    from studio.core.workspace import check_name, slug

    with pytest.raises(WorkspaceError) as refused:
        check_name("NUL", "adapter name")
    assert "device name on Windows" in refused.value.message and "NUL-1" in refused.value.hint
    assert check_name("console") == "console" and check_name("com10") == "com10"
    assert slug("con") == "con-1" and slug("CON.txt") != "CON.txt"   # names we make up are portable too
    ws = Workspace.open(tmp_path)
    (ws.adapters_dir / "Support").mkdir(parents=True)
    # `support` is the same folder as `Support` on Windows and macOS: it gets the next version.
    assert ws.free_adapter_name("support") == "support-v2"
    result = studio("adapters", "rename", "Support", "CON", home=tmp_path)
    assert result.returncode == 2 and "device name" in result.stderr and "Traceback" not in result.stderr


def test_local_training_opens_no_network_connection(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    """Every socket connect in the worker is recorded (and refused) by a sitecustomize hook."""
    hook = tmp_path / "hook"
    hook.mkdir()
    log = tmp_path / "connections.log"
    (hook / "sitecustomize.py").write_text(
        "import socket\n"
        "_real = socket.socket.connect\n"
        "def connect(self, address):\n"
        f"    open({str(log)!r}, 'a').write(repr(address) + '\\n')\n"
        "    if isinstance(address, tuple):\n"
        "        raise OSError('network disabled by test')\n"
        "    return _real(self, address)\n"
        "socket.socket.connect = connect\n")
    env_path = os.pathsep.join([str(hook), str(ROOT)])
    env = {**os.environ, "PYTHONPATH": env_path, "STUDIO_HOME": str(tmp_path / "home")}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-m", "studio", "train", "--model", str(tiny_model), "--data",
                             str(data), "--max-steps", "2", "--eval-split", "0", "--json"],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert not log.exists() or "(" not in log.read_text(), log.read_text()
    # The hook itself works: a deliberate connection is recorded.
    subprocess.run([sys.executable, "-c", "import socket\ntry: socket.socket().connect(('192.0.2.1', 9))\n"
                    "except OSError: pass"], env=env, check=True)
    assert "192.0.2.1" in log.read_text()
