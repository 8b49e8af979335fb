"""Importing PEFT adapters: base model checks, zip archives that try to escape, pickles that try to run code."""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import fake_adapter, last_json, studio
from studio.core.adapter_import import import_adapter
from studio.core.errors import ModelError, WorkspaceError
from studio.core.library import list_adapters
from studio.core.workspace import Workspace


def demo_adapter(home: Path) -> Path:
    return home / "demo" / "adapter"


def library_names(home: Path) -> set[str]:
    return {a.name for a in list_adapters(home / "adapters")}


def test_import_with_matching_base(copy_home: Path) -> None:
    result = studio("adapters", "import", str(demo_adapter(copy_home)), "--name", "demo-copy", "--tag", "imported",
                    "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)["adapter"]
    assert out["name"] == "demo-copy" and out["base"]["status"] == "match" and out["base"]["how"] == "content hash"
    record = json.loads((copy_home / "adapters" / "demo-copy" / "studio.json").read_text())
    assert record["imported"]["from"] == str(demo_adapter(copy_home)) and record["tags"] == ["imported"]
    assert record["name"] == "demo-copy" and record["dataset"]["fingerprint"].startswith("sha256:")
    # the same folder again gets the next version, nothing is overwritten
    again = studio("adapters", "import", str(demo_adapter(copy_home)), "--name", "demo-copy", "--json", home=copy_home)
    assert last_json(again.stdout)["adapter"]["name"] == "demo-copy-v2"


def test_plain_peft_folder_matches_by_path(copy_home: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain-adapter"
    plain.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(demo_adapter(copy_home) / name, plain / name)
    (plain / "optimizer.pt").write_bytes(b"not copied")
    result = import_adapter(Workspace.open(copy_home), plain)
    assert result.name == "plain-adapter" and result.base.status == "match" and result.base.how == "path"
    assert result.skipped == ["optimizer.pt (pickle)"] and not (result.path / "optimizer.pt").exists()
    record = json.loads((result.path / "studio.json").read_text())
    assert record["base_model"]["hash"].startswith("sha256:") and record["imported"]["base_check"] == "match"


def test_import_with_non_matching_base_says_so(copy_home: Path, tmp_path: Path) -> None:
    from studio.engine.demo_model import build_demo_model

    other = tmp_path / "wider-model"
    build_demo_model(other, hidden_size=64, intermediate_size=96)
    result = studio("adapters", "import", str(demo_adapter(copy_home)), "--name", "wrong-base", "--base", str(other),
                    home=copy_home)
    assert result.returncode == 0, result.stderr
    assert "WARNING: the adapter does not fit" in result.stdout and "expects" in result.stdout
    check = last_json(studio("adapters", "show", "wrong-base", "--json", home=copy_home).stdout)["adapter"]
    assert check["base_check"]["status"] == "mismatch"
    unknown = fake_adapter(tmp_path / "elsewhere", base="someorg/model-not-on-this-machine")
    out = last_json(studio("adapters", "import", str(unknown), "--json", home=copy_home).stdout)["adapter"]
    assert out["base"]["status"] == "unknown" and "not on this machine" in out["base"]["message"]


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def test_zip_import_and_members_that_escape(copy_home: Path, tmp_path: Path) -> None:
    files = {f"my-adapter/{p.name}": p.read_bytes() for p in demo_adapter(copy_home).iterdir()}
    good = _zip(tmp_path / "my-adapter.zip", files)
    result = studio("adapters", "import", str(good), "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout)["adapter"]["name"] == "my-adapter"
    before = library_names(copy_home)
    for bad, why in [(_zip(tmp_path / "dots.zip", {**files, "my-adapter/../../escaped.txt": b"x"}), "'..'"),
                     (_zip(tmp_path / "abs.zip", {**files, "/tmp/escaped-abs.txt": b"x"}), "absolute"),
                     (_zip(tmp_path / "link.zip", files, {"my-adapter/link": "/etc/passwd"}), "link")]:
        result = studio("adapters", "import", str(bad), home=copy_home)
        assert result.returncode == 2 and why in result.stderr and "nothing was imported" in result.stderr
    assert library_names(copy_home) == before
    assert not (tmp_path / "escaped.txt").exists() and not (copy_home / "escaped.txt").exists()
    assert not list(copy_home.glob(".tmp-*")) and not list((copy_home / "adapters").glob(".tmp-*"))


class Payload:
    """Unpickling this creates the marker file (builtins.open in write mode): code that runs on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_adapter_is_refused_and_never_runs(copy_home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = tmp_path / "evil-adapter"
    folder.mkdir()
    shutil.copy(demo_adapter(copy_home) / "adapter_config.json", folder)
    with open(folder / "adapter_model.bin", "wb") as fh:
        pickle.dump({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": Payload(marker)}, fh)
    before = library_names(copy_home)

    refused = studio("adapters", "import", str(folder), home=copy_home)
    assert refused.returncode == 2 and "pickle" in refused.stderr and "--allow-pickle" in refused.stderr
    opted_in = studio("adapters", "import", str(folder), "--allow-pickle", home=copy_home)
    assert opted_in.returncode == 2 and "was not loaded" in opted_in.stderr, opted_in.stderr
    chat = studio("chat", "--b", str(folder), "--prompt", "hi", "--json", home=copy_home)
    assert chat.returncode == 2 and "pickle" in last_json(chat.stdout)["error"]["message"]

    assert not marker.exists(), "the pickle's code ran"
    assert library_names(copy_home) == before
    assert not list((copy_home / "adapters").glob(".tmp-*"))
    with pytest.raises(ModelError, match="refused"):
        import_adapter(Workspace.open(copy_home), folder)


def test_benign_pickle_is_converted_to_safetensors(copy_home: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    original = load_file(str(demo_adapter(copy_home) / "adapter_model.safetensors"))
    folder = tmp_path / "old-style"
    folder.mkdir()
    shutil.copy(demo_adapter(copy_home) / "adapter_config.json", folder)
    torch.save(original, folder / "adapter_model.bin")
    result = studio("adapters", "import", str(folder), "--allow-pickle", "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)["adapter"]
    assert out["converted_pickle"] and out["base"]["status"] == "match"
    path = Path(out["path"])
    assert not list(path.glob("*.bin"))
    converted = load_file(str(path / "adapter_model.safetensors"))
    assert converted.keys() == original.keys() and all(torch.equal(converted[k], original[k]) for k in original)


def test_not_an_adapter(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "home")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkspaceError, match="no adapter_config.json"):
        import_adapter(ws, tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="does not exist"):
        import_adapter(ws, tmp_path / "nope")
    bad = fake_adapter(tmp_path / "bad")
    (bad / "adapter_config.json").write_text("{}")
    with pytest.raises(WorkspaceError, match="no peft_type"):
        import_adapter(ws, bad)
    assert list(ws.adapters_dir.iterdir()) == []
