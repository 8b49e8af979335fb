"""Bad input on the command line: one clear message with the fix, exit code 2, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import chat, studio, write_jsonl
from studio.cli import main


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", [chat(f"q{i}", f"a{i}") for i in range(20)])


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def assert_nothing_written(home: Path) -> None:
    runs = home / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    adapters = home / "adapters"
    assert not adapters.exists() or not any(adapters.iterdir())


@pytest.mark.parametrize("extra,words", [
    (["--rank", "0"], ["lora.rank = 0", "--rank"]),
    (["--lr=-1e-4"], ["train.lr = -0.0001", "greater than 0"]),
    (["--quant", "2bit"], ["model.quant = '2bit'", "4bit"]),
    (["--format", "xml"], ["data.format = 'xml'", "sharegpt"]),
    (["--targets", "q_proj,qkv"], ["no module named 'qkv'", "down_proj, gate_proj"]),
    (["--name", "../escape"], ["'../escape' is not allowed", "--name"]),
    (["--epochs", "many"], ["train.epochs = 'many' is not a valid float"]),
])
def test_bad_settings(capsys, home: Path, tiny_model: Path, data: Path, extra: list[str], words: list[str]) -> None:
    code, text = run_cli(capsys, "train", "--model", str(tiny_model), "--data", str(data), *extra)
    assert code == 2, text
    for word in words:
        assert word in text
    assert "Traceback" not in text
    assert_nothing_written(home)


def test_missing_and_malformed_data(capsys, home: Path, tiny_model: Path, tmp_path: Path) -> None:
    code, text = run_cli(capsys, "train", "--model", str(tiny_model), "--data", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "does not exist" in text
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat("q", "a"), "{oops", {"messages": []}])
    code, text = run_cli(capsys, "train", "--model", str(tiny_model), "--data", str(bad))
    assert code == 2
    assert "bad.jsonl:2: invalid JSON" in text and "bad.jsonl:3: wrong type" in text
    assert "--skip-bad-rows" in text
    assert_nothing_written(home)


def test_model_that_is_not_a_model(capsys, home: Path, data: Path, tmp_path: Path) -> None:
    code, text = run_cli(capsys, "train", "--model", str(tmp_path / "missing-model/"), "--data", str(data))
    assert code == 2 and "does not exist" in text
    code, text = run_cli(capsys, "train", "--model", str(tmp_path), "--data", str(data))
    assert code == 2 and "no config.json" in text
    assert_nothing_written(home)


def test_resume_refuses_changed_settings(capsys, home: Path) -> None:
    code, text = run_cli(capsys, "train", "--resume", "last", "--lr", "1e-3")
    assert code == 2 and "--resume continues a run exactly" in text


def test_unknown_run_to_resume(capsys, home: Path) -> None:
    code, text = run_cli(capsys, "train", "--resume", "does-not-exist", "--json")
    assert code == 2
    assert json.loads(text.strip().splitlines()[-1])["error"]["kind"] == "workspace"


def test_real_command_has_no_traceback(home: Path, tiny_model: Path, tmp_path: Path) -> None:
    result = studio("train", "--model", str(tiny_model), "--data", str(tmp_path / "x.csv"), home=home)
    assert result.returncode == 2
    assert result.stderr.startswith("error: data file") and "Traceback" not in result.stderr


def test_config_file_errors_point_at_line(capsys, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  name_or_path: m\ndata:\n  path: d.jsonl\nlora:\n  rank: 8\n  droput: 0.1\n")
    code, text = run_cli(capsys, "train", "--config", str(path))
    assert code == 2 and f"{path}:7: unknown key 'lora.droput'" in text and "lora.dropout" in text


def test_print_config_shows_resolved_yaml(capsys, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  name_or_path: m\ndata:\n  path: d.jsonl\nlora:\n  rank: 8\n")
    code, text = run_cli(capsys, "train", "--config", str(path), "--rank", "32", "--set", "train.lr=1e-3",
                         "--print-config")
    assert code == 0 and "rank: 32" in text and "lr: 0.001" in text


def test_pickle_only_model_is_refused(capsys, home: Path, tiny_model: Path, data: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    code, text = run_cli(capsys, "train", "--model", str(pickled), "--data", str(data))
    assert code == 2 and "only pickle weights" in text and "--allow-pickle" in text, text
    assert_nothing_written(home)


def test_every_train_flag_has_readable_help(capsys) -> None:  # noqa: ANN001
    """argparse formats help text with %: a literal "30%" in a field's help printed argparse's internals."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "about 30% slower" in out
    assert "option_strings" not in out
