"""Importing PEFT adapters: base model checks, zip archives that try to escape, pickles that try to run code,
only the files an adapter is made of copied (a zip's padding never unpacked), damaged adapters refused."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import fake_adapter, last_json, studio
from studio.cli import main
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


# ---- only what an adapter is, checked before anything is written --------------------------------------------
MB = 1024 * 1024


def _padded_zip(path: Path, adapter: Path, padding_mb: int) -> Path:
    """The adapter plus `padding_mb` MB of zeros, which compress to almost nothing."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(adapter.iterdir()):
            zf.write(file, f"padded/{file.name}")
        with zf.open("padded/padding.dat", "w", force_zip64=True) as out:
            for _ in range(padding_mb):
                out.write(bytes(MB))
    return path


def _big_files(*roots: Path, at_least: int = 50 * MB) -> list[str]:
    found = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            found += [f"{folder}/{n}" for n in files if os.lstat(os.path.join(folder, n)).st_size >= at_least]
    return found


def test_zip_padding_is_never_unpacked(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip holding an adapter plus 200 MB of padding: only the adapter's members are decompressed,
    nothing of that size is written to the workspace or to the temporary folder, and the CLI says
    what was left out."""
    import tempfile

    adapter = fake_adapter(tmp_path / "src" / "padded", studio_json={"name": "padded"})
    archive = _padded_zip(tmp_path / "padded.zip", adapter, 200)
    assert archive.stat().st_size < 2 * MB
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def watched_open(self, name, *args, **kwargs):  # noqa: ANN001, ANN202
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", watched_open)
    result = import_adapter(Workspace.open(home), archive)
    assert "padding.dat (not part of a PEFT adapter)" in result.skipped
    assert sorted(p.name for p in result.path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                             "studio.json"]
    assert "padded/padding.dat" not in opened and opened
    cli = studio("adapters", "import", str(archive), "--name", "again", home=home)
    assert cli.returncode == 0, cli.stderr
    assert "left out padding.dat (not part of a PEFT adapter)" in cli.stdout
    assert _big_files(home, scratch) == []
    assert sum(size for p in home.rglob("*") if p.is_file() for size in [p.stat().st_size]) < MB


def test_import_copies_only_what_an_adapter_is(home: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    folder = fake_adapter(tmp_path / "full", studio_json={"name": "full"})
    for name, text in [("README.md", "# model card"), ("tokenizer.json", "{}"), ("tokenizer_config.json", "{}"),
                       ("special_tokens_map.json", "{}"), ("chat_template.jinja", "{{ messages }}"),
                       ("generation_config.json", "{}"), ("merges.txt", "a b"), ("vocab.json", "{}"),
                       ("notes.txt", "mine"), ("run.log", "lots"), ("training_args.bin", "pickle")]:
        (folder / name).write_text(text)
    (folder / "additional_chat_templates").mkdir()
    (folder / "additional_chat_templates" / "tools.jinja").write_text("{{ tools }}")
    (folder / "additional_chat_templates" / "evil.py").write_text("import os")
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"x")
    (folder / "link.json").symlink_to("/etc/passwd")
    assert main(["adapters", "import", str(folder), "--home", str(home)]) == 0
    out = capsys.readouterr().out
    kept = {p.relative_to(home / "adapters" / "full").as_posix() for p in (home / "adapters" / "full").rglob("*")
            if p.is_file()}
    assert kept == {"adapter_config.json", "adapter_model.safetensors", "studio.json", "README.md", "tokenizer.json",
                    "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "generation_config.json", "merges.txt", "vocab.json", "additional_chat_templates/tools.jinja"}
    for left_out in ("notes.txt (not part of a PEFT adapter)", "run.log (not part of a PEFT adapter)",
                     "training_args.bin (pickle)", "checkpoint-10 (a folder)", "link.json (a link)",
                     "additional_chat_templates/evil.py (not part of a PEFT adapter)"):
        assert f"left out {left_out}" in out, out


def test_every_damaged_adapter_is_refused_on_import(home: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """What the library lists as broken is refused on import: exit 2, the reason (file, field, value)
    and a hint, and nothing written to the library."""
    from damaged_adapters import DAMAGES, seed_damaged

    expected = seed_damaged(tmp_path / "damaged")
    different = {"weights-pickle-only": "--allow-pickle", "config-is-a-folder": "holds no adapter_config.json",
                 "weights-is-a-folder": "the weights are missing",
                 "a-file-not-a-folder": "neither a folder nor a zip archive"}
    for name, fragment in expected.items():
        if name == "studio-is-a-folder":
            continue        # a folder is never copied: the adapter imports without a lineage (checked below)
        code = main(["adapters", "import", str(tmp_path / "damaged" / name), "--home", str(home)])
        err = capsys.readouterr().err
        assert code == 2 and different.get(name, fragment) in err, (name, err)
        assert "fix:" in err and "Traceback" not in err
        assert not (home / "adapters").exists() or not list((home / "adapters").iterdir()), name
    assert set(DAMAGES) <= set(expected)
    assert main(["adapters", "import", str(tmp_path / "damaged" / "studio-is-a-folder"), "--home", str(home)]) == 0
    assert "left out studio.json (a folder)" in capsys.readouterr().out


def test_size_caps_and_exact_weights(home: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    big = fake_adapter(tmp_path / "big-tokenizer")
    with open(big / "tokenizer.json", "wb") as fh:
        fh.truncate(65 * MB)                      # sparse: no disk used
    assert main(["adapters", "import", str(big), "--home", str(home)]) == 2
    assert "tokenizer.json is 65.0 MB, more than the 64.0 MB such a file can be" in capsys.readouterr().err
    padded = fake_adapter(tmp_path / "padded-weights")
    with open(padded / "adapter_model.safetensors", "ab") as fh:
        fh.write(bytes(4096))
    assert main(["adapters", "import", str(padded), "--home", str(home)]) == 2
    assert "extra bytes after the data" in capsys.readouterr().err
    assert not (home / "adapters").exists() or not list((home / "adapters").iterdir())


def test_a_member_larger_than_it_declares_stops_the_copy(tmp_path: Path) -> None:
    import io

    from studio.core.adapter_import import SourceFile, copy_file

    liar = SourceFile("adapter_model.safetensors", 10, open=lambda: io.BytesIO(bytes(1000)))
    with pytest.raises(WorkspaceError, match="holds more bytes than it declared"):
        copy_file(liar, tmp_path / "out", tmp_path)
    short = SourceFile("tokenizer.json", 10, open=lambda: io.BytesIO(b"{}"))
    with pytest.raises(WorkspaceError, match="holds fewer bytes"):
        copy_file(short, tmp_path / "out2", tmp_path)
    assert (tmp_path / "out").stat().st_size <= 10
