"""Export and merge-adapters input checks: fast, before any worker starts; exit 2 and nothing written."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import make_adapter
from studio.cli import main
from studio.core.combine_plan import parse_weighted, plan_combination
from studio.core.errors import ConfigError
from studio.core.export_plan import choose_out, parse_size, plan_export
from studio.core.model_card import merged_model_card
from studio.core.workspace import Workspace


@pytest.fixture()
def library(home: Path, tiny_model: Path) -> Workspace:
    """A workspace with two small real adapters of the tiny model: `a` and `b`."""
    ws = Workspace.open(home)
    make_adapter(tiny_model, ws.adapters_dir / "a", seed=1)
    make_adapter(tiny_model, ws.adapters_dir / "b", seed=2, rank=8)
    return ws


def run_cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()  # drop what fixtures printed
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("text,expected", [("5GB", 5 * 10**9), ("500MB", 500 * 10**6), ("2GiB", 2 * 2**30),
                                           ("1.5gb", 1_500_000_000), ("200KB", 200_000), (4096, 4096)])
def test_parse_size(text, expected) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["big", "5 parsecs", "-1GB", "10"])
def test_parse_size_rejects(text) -> None:
    with pytest.raises(ConfigError, match="--shard-size"):
        parse_size(text)


def test_weight_specs() -> None:
    assert parse_weighted("a:0.5") == ("a", 0.5)
    assert parse_weighted("/x/y:z/adapter:-1") == ("/x/y:z/adapter", -1.0)
    for bad in ("a", "a:", ":1", "a:half", "a:nan"):
        with pytest.raises(ConfigError, match="NAME:WEIGHT"):
            parse_weighted(bad)


def test_default_out_never_reuses_a_name(library: Workspace) -> None:
    first = choose_out(library, "a", None)
    assert first == library.exports_dir / "a"
    first.mkdir()
    assert choose_out(library, "a", None) == library.exports_dir / "a-v2"
    (library.exports_dir / "a-v2.zip").write_text("x")
    assert choose_out(library, "a", None, suffix=".zip") == library.exports_dir / "a-v3"


def test_plan_resolves_base_dtype_and_prompts(library: Workspace, tiny_model: Path) -> None:
    plan = plan_export(library, "a", shard_size="1MB")
    assert plan.base.folder == tiny_model.resolve() and plan.dtype == "fp32"  # the base is stored in fp32
    assert plan.out == library.exports_dir / "a" and plan.shard_size == 10**6
    assert plan.estimated_bytes == plan.base.num_params * 4
    args = plan.worker_args()
    assert args[:3] == ["export", "--adapter", str(library.adapters_dir / "a")] and "--no-verify" not in args
    assert "verification uses built-in prompts" in " ".join(plan.warnings)  # its dataset is not on disk
    assert not any(library.exports_dir.iterdir())


def test_quantized_adapter_is_merged_at_full_precision(library: Workspace, tiny_model: Path) -> None:
    make_adapter(tiny_model, library.adapters_dir / "q", lineage={
        "base_model": {"name_or_path": str(tiny_model), "quant": "4bit"}})
    plan = plan_export(library, "q", dtype="bf16")
    assert plan.dtype == "bf16"
    assert any("4bit base" in w and "never into quantized weights" in w for w in plan.warnings)


def test_model_card_records_lineage_and_figures() -> None:
    lineage = {"base_model": {"name_or_path": "Qwen/Qwen2.5-0.5B", "revision": "abc", "quant": "4bit"},
               "run_id": "r1", "dataset": {"path": "/d/train.jsonl", "fingerprint": "sha256:f"},
               "config": {"lora": {"rank": 8, "alpha": 16, "targets": ["q_proj"]},
                          "train": {"lr": 2e-4, "epochs": 3, "batch_size": 4, "grad_accum": 2},
                          "data": {"max_len": 512, "loss_on": "assistant"}},
               "metrics": {"final_train_loss": 0.51234, "steps": 90}}
    report = {"dtype": "bf16", "prompts": 2, "prompt_source": "/d/eval.jsonl", "max_abs_diff": 0.02,
              "tolerance": 0.5, "relative_tolerance": 0.05, "logit_scale": 10.0, "greedy_agree": 2,
              "adapter_effect": 3.0, "inconclusive": False,
              "rows": [{"prompt": "hi | there", "reference_answer": "a", "merged_answer": "a", "max_abs_diff": 0.02}]}
    card = merged_model_card(lineage, {"name": "out", "adapter_name": "ad", "dtype": "bf16", "created": "2026-01-02"},
                             report)
    assert card.startswith("---\n") and "base_model: Qwen/Qwen2.5-0.5B" in card
    for text in ("4-bit NF4 (QLoRA)", "| run | r1 |", "rank 8, alpha 16", "sha256:f", "0.0002",
                 "batch | 4 x grad accum 2", "final train loss | 0.5123", "**0.02**", "**2/2**", "hi \\| there"):
        assert text in card, text
    assert "Not verified" in merged_model_card({}, {"name": "o", "adapter_name": "a", "dtype": "fp32"}, None)


def test_unknown_adapter(capsys, library: Workspace) -> None:
    code, text = run_cli(capsys, "export", "--adapter", "aa")
    assert code == 2 and "no adapter named 'aa'" in text and "did you mean a" in text and "Traceback" not in text
    code, text = run_cli(capsys, "export", "--adapter", "./missing/adapter")
    assert code == 2 and "does not exist" in text
    assert not any(library.exports_dir.iterdir())


def test_adapter_whose_base_is_missing(capsys, library: Workspace, tiny_model: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved-base"
    shutil.copytree(tiny_model, moved)
    make_adapter(moved, library.adapters_dir / "orphan")
    shutil.rmtree(moved)
    code, text = run_cli(capsys, "export", "--adapter", "orphan")
    assert code == 2 and "is not on this machine" in text and f"{moved} does not exist" in text
    assert "--base DIR" in text
    code, text = run_cli(capsys, "export", "--adapter", "orphan", "--json")
    assert code == 2 and json.loads(text.strip().splitlines()[-1])["error"]["kind"] == "model"
    assert not any(library.exports_dir.iterdir())
    # --base with a copy of the same model is accepted (the hash matches)
    plan = plan_export(library, "orphan", base=str(tiny_model))
    assert plan.base.folder == tiny_model.resolve()


def test_base_that_is_a_different_model(capsys, library: Workspace, tmp_path: Path) -> None:
    from studio.engine.demo_model import build_demo_model

    other = tmp_path / "other"
    build_demo_model(other, num_hidden_layers=1)
    code, text = run_cli(capsys, "export", "--adapter", "a", "--base", str(other))
    assert code == 2 and "is not the base model adapter a was trained on" in text and "--allow-base-mismatch" in text
    assert not any(library.exports_dir.iterdir())


def test_existing_out_folder_is_never_overwritten(capsys, library: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    for extra in ([], ["--adapter-only"]):
        code, text = run_cli(capsys, "export", "--adapter", "a", "--out", str(out), *extra)
        assert code == 2 and "already exists" in text and "never overwrites" in text
    assert snapshot(out) == ["precious.txt"] and (out / "precious.txt").read_text() == "mine"
    assert not any(library.exports_dir.iterdir())


def test_bad_options(capsys, library: Workspace) -> None:
    code, text = run_cli(capsys, "export", "--adapter", "a", "--shard-size", "huge")
    assert code == 2 and "'huge' is not a size" in text
    code, text = run_cli(capsys, "export", "--adapter", "a", "--zip")
    assert code == 2 and "--adapter-only" in text
    assert not any(library.exports_dir.iterdir())


def test_adapter_only_export_folder_and_zip(capsys, library: Workspace, tiny_model: Path, tmp_path: Path) -> None:
    code, text = run_cli(capsys, "export", "--adapter", "a", "--adapter-only", "--json")
    assert code == 0, text
    result = json.loads(text.strip().splitlines()[-1])
    out = Path(result["out"])
    assert out == library.exports_dir / "a-adapter"
    assert {"adapter_config.json", "adapter_model.safetensors", "studio.json"} <= set(result["files"])
    assert snapshot(out) == sorted(result["files"])
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model)
    assert any("copy it to the other machine" in n for n in result["notes"])

    zipped = tmp_path / "a.zip"

    code, text = run_cli(capsys, "export", "--adapter", "a", "--adapter-only", "--zip", "--out", str(zipped))
    assert code == 0, text
    with zipfile.ZipFile(zipped) as archive:
        names = archive.namelist()
    assert "a/adapter_model.safetensors" in names and "a/studio.json" in names and "a/adapter_config.json" in names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    code, text = run_cli(capsys, "export", "--adapter", "a", "--adapter-only", "--zip", "--out", str(zipped))
    assert code == 2 and "already exists" in text


def test_adapter_only_export_points_at_the_hub_id(library: Workspace, tiny_model: Path) -> None:
    from studio.core.adapter_export import export_adapter

    make_adapter(tiny_model, library.adapters_dir / "hub", lineage={
        "base_model": {"name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "resolved_path": str(tiny_model)}})
    result = export_adapter(library, "hub")
    config = json.loads((Path(result["out"]) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"
    library_config = json.loads((library.adapters_dir / "hub" / "adapter_config.json").read_text())
    assert library_config["base_model_name_or_path"] == str(tiny_model)  # the library copy is untouched


def test_merge_adapters_bad_input(capsys, library: Workspace, tiny_model: Path, tmp_path: Path) -> None:
    from studio.engine.demo_model import build_demo_model

    before = snapshot(library.adapters_dir)
    code, text = run_cli(capsys, "merge-adapters", "a:0.5", "b:half", "--name", "c")
    assert code == 2 and "'b:half' is not ADAPTER:WEIGHT" in text
    code, text = run_cli(capsys, "merge-adapters", "a:0.5", "nope:0.5", "--name", "c")
    assert code == 2 and "no adapter named 'nope'" in text
    code, text = run_cli(capsys, "merge-adapters", "a:0.5", "b:0.5", "--name", "c", "--combination", "linear")
    assert code == 2 and "needs adapters of one rank" in text and "a: 4, b: 8" in text
    code, text = run_cli(capsys, "merge-adapters", "a:0.5", "b:0.5", "--name", "../c")
    assert code == 2 and "not allowed" in text
    other = tmp_path / "other"
    build_demo_model(other, num_hidden_layers=1)
    make_adapter(other, tmp_path / "foreign")
    code, text = run_cli(capsys, "merge-adapters", "a:0.5", f"{tmp_path / 'foreign'}:0.5", "--name", "c")
    assert code == 2 and "different base models" in text
    assert snapshot(library.adapters_dir) == before


def test_combination_plan_versions_the_name(library: Workspace) -> None:
    plan = plan_combination(library, ["a:0.5", "b:0.25"], "a")
    assert plan.out.name == "a-v2" and "a-v2" in plan.warnings[0]
    args = plan.worker_args()
    assert f"{library.adapters_dir / 'b'}:0.25" in args and args[0] == "merge-adapters"
