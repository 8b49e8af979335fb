"""The bad-input corpus (tests/corpus): each file is refused with where and why, exit code 2, and
nothing is written. Also bad model folders, and a fuzzer for the dataset importer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import chat, write_jsonl
from studio.cli import main
from studio.core.datasets import import_dataset
from studio.core.errors import DataError

CORPUS = Path(__file__).parent / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def refused(capsys, home: Path, *args: str) -> str:
    code = main(["train", *args])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2, text
    assert "Traceback" not in text
    for sub in ("runs", "adapters"):
        folder = home / sub
        assert not folder.exists() or not any(folder.iterdir()), f"{sub} written"
    return text


@pytest.mark.parametrize("name", sorted(CASES["data"]))
def test_bad_data_file(capsys, home: Path, tiny_model: Path, name: str) -> None:
    text = refused(capsys, home, "--model", str(tiny_model), "--data", str(CORPUS / "data" / name))
    for fragment in CASES["data"][name]:
        assert fragment in text, text


@pytest.mark.parametrize("name", sorted(CASES["config"]))
def test_bad_config_file(capsys, home: Path, tiny_model: Path, tmp_path: Path, name: str) -> None:
    data = write_jsonl(tmp_path / "ok.jsonl", [chat("q", "a")])
    text = refused(capsys, home, "--config", str(CORPUS / "config" / name), "--model", str(tiny_model),
                   "--data", str(data))
    for fragment in CASES["config"][name]:
        assert fragment in text, text


def _break(folder: Path, how: str) -> None:
    if how == "no_weights":
        (folder / "model.safetensors").unlink()
    elif how == "truncated_weights":
        raw = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(raw[:6])
    elif how == "garbage_header":
        (folder / "model.safetensors").write_bytes(b"\xff" * 8 + b"{{{{")
    elif how == "config_not_json":
        (folder / "config.json").write_text("{'model_type': llama")
    elif how == "no_config":
        (folder / "config.json").unlink()
    elif how == "missing_shard":
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}))


@pytest.mark.parametrize("how,fragment", [
    ("no_weights", "no weights"), ("truncated_weights", "not a readable safetensors file"),
    ("garbage_header", "not a readable safetensors file"), ("config_not_json", "not valid JSON"),
    ("no_config", "no config.json"), ("missing_shard", "weight file model-00002-of-00002.safetensors is missing"),
])
def test_bad_model_folder(capsys, home: Path, tiny_model: Path, tmp_path: Path, how: str, fragment: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    _break(folder, how)
    data = write_jsonl(tmp_path / "ok.jsonl", [chat("q", "a")])
    assert fragment in refused(capsys, home, "--model", str(folder), "--data", str(data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["messages", "role", "content", "conversations", "from", "value", "prompt",
                         "completion", "text", "instruction", "output", "input", "system"]), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=40)), min_size=1, max_size=6),
       suffix=st.sampled_from([".jsonl", ".json", ".csv", ".txt"]))
def test_importer_fuzz_never_crashes(tmp_path: Path, rows: list[str], suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes("\n".join(rows).encode("utf-8", errors="replace"))
    try:
        report = import_dataset(path)
    except DataError:
        return
    assert len(report.records) + report.rejected >= 1
    for record in report.records:
        assert record.kind in ("chat", "completion", "text") and record.source


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".json", ".csv", ".txt", ".parquet"]))
def test_importer_fuzz_raw_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"raw{suffix}"
    path.write_bytes(data)
    try:
        import_dataset(path)
    except DataError:
        pass
