"""Merged exports of really trained adapters (full precision and QLoRA), checked with plain transformers.

Every check here loads the written folder the way any Hugging Face user would
(`AutoModelForCausalLM.from_pretrained`) and compares it with base + adapter through peft,
independently of the export's own verification.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import EventRecorder, last_json, studio, write_jsonl
from studio.core.model_info import read_safetensors_header

pytestmark = pytest.mark.slow
PICKLES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, demo_data) -> dict[str, Path]:
    """A workspace with two adapters trained for real on the tiny model: `full` and `qlora` (4-bit)."""
    home = tmp_path_factory.mktemp("export-home")
    rows = demo_data[0].read_text().splitlines()[:96]
    data = write_jsonl(tmp_path_factory.mktemp("export-data") / "train.jsonl", rows)
    adapters = {"home": home}
    for name, quant in (("full", "none"), ("qlora", "4bit")):
        result = studio("train", "--model", str(tiny_model), "--data", str(data), "--quant", quant,
                        "--max-steps", "12", "--lr", "3e-3", "--batch-size", "8", "--rank", "8", "--eval-split", "0",
                        "--save-every", "0", "--name", name, "--json", home=home)
        assert result.returncode == 0, result.stderr + result.stdout
        adapters[name] = Path(last_json(result.stdout)["adapter"])
    return adapters


def logits_of_merged_and_adapter(folder: Path, base: Path, adapter: Path, dtype: str = "float32"):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "my invoice is wrong, please fix it"}],
                                         tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))(ids).logits.float()
        base_model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype))
        plain = base_model(ids).logits.float()
        tuned = PeftModel.from_pretrained(base_model, str(adapter))(ids).logits.float()
    return merged, tuned, plain


def assert_plain_hf_folder(folder: Path, lineage: dict) -> None:
    from transformers import AutoTokenizer

    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "generation_config.json", "README.md", "tokenizer_config.json"} <= names
    assert not [p for p in folder.rglob("*") if p.suffix in PICKLES]
    assert not [n for n in names if n.startswith(("adapter_", ".tmp-"))]
    assert AutoTokenizer.from_pretrained(folder).chat_template == lineage["chat_template"]
    card = (folder / "README.md").read_text()
    assert lineage["name"] in card and lineage["base_model"]["name_or_path"] in card and "## Verification" in card


def run_export(trained: dict[str, Path], *args: str) -> dict:
    result = studio("export", *args, "--json", home=trained["home"])
    assert result.returncode == 0, result.stderr + result.stdout
    out = last_json(result.stdout)
    assert out["status"] == "completed", out
    return out


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def test_fp32_merge_matches_the_adapter(trained: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "merged"
    before = file_hashes(tiny_model), file_hashes(trained["full"])
    out = run_export(trained, "--adapter", "full", "--out", str(folder), "--dtype", "fp32")
    # merged in place over memory-mapped weights: the base checkpoint on disk must be untouched
    assert (file_hashes(tiny_model), file_hashes(trained["full"])) == before
    report = out["verification"]
    assert report["passed"] and report["greedy_agree"] == report["prompts"] == 4
    assert report["max_abs_diff"] < 1e-4 < report["adapter_effect"]
    assert report["prompt_source"].endswith("train.jsonl")  # the adapter's own data
    assert out["model_bytes"] > 1_000_000 and out["peak_rss_bytes"] > out["baseline_rss_bytes"] > 0
    lineage = json.loads((trained["full"] / "studio.json").read_text())
    assert_plain_hf_folder(folder, lineage)
    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "float32" and "quantization_config" not in config

    merged, tuned, plain = logits_of_merged_and_adapter(folder, tiny_model, trained["full"])
    assert (merged - tuned).abs().max() < 1e-4       # about 1e-5: the merge is the adapter
    assert (merged - plain).abs().max() > 0.1        # and not the base model


def test_qlora_adapter_is_merged_into_full_precision_weights(trained: dict[str, Path], tiny_model: Path,
                                                             tmp_path: Path) -> None:
    folder = tmp_path / "merged-qlora"
    out = run_export(trained, "--adapter", "qlora", "--out", str(folder), "--dtype", "fp32")
    assert out["verification"]["passed"] and out["verification"]["max_abs_diff"] < 1e-4
    as_trained = out["verification"]["as_trained"]  # what the adapter answered on its 4-bit base, for information
    assert as_trained["quant"] == "4bit" and as_trained["prompts"] == 4 and as_trained["max_abs_diff"] > 0
    lineage = json.loads((trained["qlora"] / "studio.json").read_text())
    assert lineage["base_model"]["quant"] == "4bit"
    assert_plain_hf_folder(folder, lineage)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    header = read_safetensors_header(folder / "model.safetensors")
    assert {meta["dtype"] for meta in header.values()} == {"F32"}
    assert header["model.layers.0.self_attn.q_proj.weight"]["shape"] == [128, 128]  # not packed 4-bit storage
    merged, tuned, plain = logits_of_merged_and_adapter(folder, tiny_model, trained["qlora"])
    assert (merged - tuned).abs().max() < 1e-4 and (merged - plain).abs().max() > 1e-2
    assert "4-bit NF4 (QLoRA)" in (folder / "README.md").read_text()


def test_bf16_export_in_tiny_shards(trained: dict[str, Path], tiny_model: Path) -> None:
    out = run_export(trained, "--adapter", "full", "--dtype", "bf16", "--shard-size", "200KB")
    folder = Path(out["out"])
    assert folder == trained["home"] / "exports" / "full"
    shards = sorted(p.name for p in folder.glob("*.safetensors"))
    assert len(shards) >= 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert all((folder / s).stat().st_size < 400_000 for s in shards)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    dtypes = {m["dtype"] for s in shards for m in read_safetensors_header(folder / s).values()}
    assert dtypes == {"BF16"}
    report = out["verification"]
    assert report["passed"] and report["relative_tolerance"] == 0.1
    assert report["max_abs_diff"] <= report["tolerance"]
    merged, tuned, _ = logits_of_merged_and_adapter(folder, tiny_model, trained["full"], "bfloat16")
    assert (merged - tuned).abs().max() <= report["tolerance"]
    # a second export of the same adapter gets a new folder; the first is untouched
    again = run_export(trained, "--adapter", "full", "--dtype", "bf16", "--no-verify")
    assert Path(again["out"]).name == "full-v2" and again["verification"] is None
    assert sorted(p.name for p in folder.glob("*.safetensors")) == shards


@pytest.mark.parametrize("fault", ["skipped-adapter", "perturbed-layer"])
def test_verification_fails_loudly_on_a_wrong_merge(fault: str, trained: dict[str, Path], tiny_model: Path,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from studio.engine import merge_export
    from studio.engine.export_verify import VerificationFailed
    from studio.engine.worker_io import Controls

    def broken_merge(peft_model):
        if fault == "skipped-adapter":
            return peft_model.unload()           # drops the adapter: the base model comes out
        model = peft_model.merge_and_unload()
        with torch.no_grad():                    # one layer off by a little
            weight = model.model.layers[1].mlp.down_proj.weight
            weight += 0.05 * torch.randn_like(weight)
        return model

    monkeypatch.setattr(merge_export, "merge_adapter", broken_merge)
    out = tmp_path / "exports" / "bad"
    events = EventRecorder()
    with pytest.raises(VerificationFailed) as failure:
        merge_export.run_export(trained["full"], str(tiny_model), out, "fp32", 10**9, events, Controls(),
                                keep_failed=fault == "perturbed-layer")
    message = str(failure.value)
    assert "does not match base + adapter, so it was not exported" in message and "tolerance" in message
    report = events.of_type("result")[0]
    assert not report["passed"] and report["max_abs_diff"] > report["tolerance"]
    assert not out.exists()
    leftovers = sorted(p.name for p in out.parent.iterdir())
    if fault == "perturbed-layer":
        assert leftovers == ["bad.FAILED-verification"]
        kept = out.parent / leftovers[0]
        assert "Do not use it" in (kept / "VERIFICATION_FAILED.txt").read_text()
        assert not (kept / "README.md").exists() and str(kept) in message
    else:
        assert leftovers == []
        assert report["greedy_agree"] < report["prompts"]  # the base does not answer like the adapter


def test_weighted_adapter_is_the_weighted_sum(trained: dict[str, Path], tiny_model: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = studio("merge-adapters", "full:0.7", "qlora:0.3", "--name", "mix", "--json", home=trained["home"])
    assert result.returncode == 0, result.stderr + result.stdout
    out = last_json(result.stdout)
    assert out["status"] == "completed" and out["rank"] == 16 and out["relative_error"] < 1e-5
    mix = Path(out["adapter"])
    assert mix == trained["home"] / "adapters" / "mix"
    lineage = json.loads((mix / "studio.json").read_text())
    assert [(p["name"], p["weight"]) for p in lineage["parents"]] == [("full", 0.7), ("qlora", 0.3)]
    assert lineage["combination"]["type"] == "cat" and lineage["base_model"]["hash"]
    listing = last_json(studio("adapters", "list", "--json", home=trained["home"]).stdout)
    assert "mix" in [a["name"] for a in listing["adapters"] if not a["broken"]]

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(mix), adapter_name="mix")
    model.load_adapter(str(trained["full"]), adapter_name="full")
    model.load_adapter(str(trained["qlora"]), adapter_name="qlora")
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    expected = 0.7 * layer.get_delta_weight("full") + 0.3 * layer.get_delta_weight("qlora")
    torch.testing.assert_close(layer.get_delta_weight("mix"), expected, rtol=1e-5, atol=1e-7)

    ids = torch.tensor([[3, 70, 71, 72, 2, 4]])
    logits = {}
    with torch.no_grad():
        for name in ("mix", "full", "qlora"):
            model.set_adapter(name)
            logits[name] = model(ids).logits
    assert (logits["mix"] - logits["full"]).abs().max() > 1e-2
    assert (logits["mix"] - logits["qlora"]).abs().max() > 1e-2


def test_cancel_through_the_worker_protocol_writes_nothing(tiny_model: Path, tmp_path: Path) -> None:
    """What the GUI's Export dialog does: start the worker command, follow events, cancel."""
    from helpers import make_adapter
    from studio.core.worker_process import WorkerProcess

    adapter = make_adapter(tiny_model, tmp_path / "adapter")
    out = tmp_path / "exports" / "cancelled"
    worker = WorkerProcess(["export", "--adapter", str(adapter), "--base", str(tiny_model), "--out", str(out),
                            "--dtype", "fp32", "--shard-size", "1000000"])
    stages, done = [], None
    for event in worker.events():
        if event["type"] == "stage":
            stages.append(event["name"])
            if event["name"] == "load_model":
                worker.cancel()
        elif event["type"] == "done":
            done = event
    assert worker.wait() == 130 and done["status"] == "cancelled"
    assert stages[:2] == ["prepare", "load_model"] and "save" not in stages
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_two_exports_of_one_name_at_once_both_land(trained: dict[str, Path]) -> None:
    """Two studio instances exporting the same adapter to its default name at the same time: each
    lands in its own folder (the second at the next version), whole, verified and named right."""
    import os
    import subprocess
    import sys

    from helpers import ROOT

    exports = trained["home"] / "exports"
    before = set(os.listdir(exports)) if exports.is_dir() else set()
    env = {**os.environ, "STUDIO_HOME": str(trained["home"]), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "studio", "export", "--adapter", "full", "--dtype", "fp32", "--json"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    outs = [Path(last_json(r[0])["out"]) for r in results]
    assert len(set(outs)) == 2 and not {o.name for o in outs} & before
    assert set(os.listdir(exports)) == before | {o.name for o in outs}   # no .tmp- leftovers
    weights = [{n: h for n, h in file_hashes(o).items() if n.endswith(".safetensors")} for o in outs]
    assert weights[0] and weights[0] == weights[1]
    for out in outs:
        assert json.loads((out / "studio-export.json").read_text())["name"] == out.name
        assert json.loads((out / "studio-export.json").read_text())["verification"]["passed"]
