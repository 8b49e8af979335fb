"""`studio bench`: runs end to end on the tiny model and reports every field (a smoke test: speed
figures are recorded in docs/benchmarks.md, never asserted here); the TRL baselines train the same
tokens and labels as studio; the statistics and the plot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import chat, last_json, studio, write_jsonl
from studio.core.bench.summary import loss_agreement, paired_ratios, spread, summarise
from studio.core.bench.svg import Panel, Series, chart, nice_ticks
from studio.core.bench.training_speed import BASELINES, TrainingBench, parse_baselines, run_order


def test_bench_runs_end_to_end_and_reports_the_fields(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = studio("bench", "--sections", "training", "--steps", "2", "--repeats", "1", "--batch-size", "4",
                    "--out", str(out), "--json", home=home)
    assert result.returncode == 0, result.stderr[-3000:]
    report = last_json(result.stdout)
    assert report["status"] == "completed" and report["versions"]["transformers"]
    section = report["sections"]["training"]
    assert [r["trainer"] for r in section["runs"]] == ["trainer", "studio"]  # the default baseline
    summary = section["summary"]
    assert summary["baselines"] == ["trainer"] and summary["same_examples"] == {"trainer": True}
    for trainer in ("trainer", "studio"):
        figures = summary["trainers"][trainer]
        assert figures["steps"] == 2 and figures["train_examples"] == 8
        for key in ("tokens_per_s", "seconds", "peak_mem_bytes", "to_first_step_s", "tokens_per_cpu_s"):
            assert figures[key]["median"] > 0, (trainer, key)
        assert {"import", "load_model", "tokenize", "setup"} <= set(figures["stages"])
    for key in ("tokens_per_s", "seconds", "peak_mem_bytes"):
        assert summary["ratios"]["trainer"][key]["of_medians"] > 0
    loss = summary["loss"]["trainer"]
    assert loss["steps_compared"] == 2 and loss["eval_loss"]["baseline"] and loss["eval_loss"]["studio"]
    studio_run = section["runs"][1]
    assert studio_run["speedups"]["packing"] is True and studio_run["from_cache"] is False

    saved = json.loads((out / "report.json").read_text())
    assert all(len(r["losses"]) == 2 for r in saved["sections"]["training"]["runs"])
    svg = ET.parse(out / "training-loss.svg").getroot()
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}polyline")) == 4  # 2 trainers x 2 loss panels
    table = (out / "training.md").read_text()
    assert "| trainer | " in table and "| studio | " in table and "studio bench --sections training" in table
    assert (home / "bench" / "tiny-model" / "model.safetensors").is_file()
    assert not list((home / "adapters").iterdir())  # bench runs stay out of the user's library


def test_trl_baselines_train_a_user_file_with_the_same_tokens_and_labels_as_studio(home: Path, tiny_model: Path,
                                                                                   tmp_path: Path) -> None:
    """Examples from a user's file, and TRL's SFTTrainer padded, padding-free and packed, for real:
    the same tokens, loss tokens and examples as studio, and (same batches) the same losses as
    studio's trainer step by step."""
    rows = [chat(f"ticket {i} " + "words " * (i % 5) * 12, ["bug", "billing"][i % 2]) for i in range(12)]
    data = write_jsonl(tmp_path / "mixed.jsonl", rows)
    baselines = ["trl", "trl-padding-free", "trl-packing"]
    result = studio("bench", "--sections", "training", "--model", str(tiny_model), "--data", str(data), "--steps", "2",
                    "--repeats", "1", "--batch-size", "4", "--baseline", ",".join(baselines),
                    "--out", str(tmp_path / "b"), "--json", home=home)
    assert result.returncode == 0, result.stderr[-3000:]
    section = json.loads((tmp_path / "b" / "report.json").read_text())["sections"]["training"]  # with the losses
    assert section["config"]["eval_data"]  # the 4 records after the first 8 are held out
    assert [r["trainer"] for r in section["runs"]] == [*baselines, "studio"]
    summary, runs = section["summary"], {r["trainer"]: r for r in section["runs"]}
    studio_run = runs["studio"]
    assert studio_run["train_examples"] == 8 and studio_run["speedups"]["label_logits"] is True
    assert 0 < studio_run["train_labels"] < studio_run["train_tokens"]
    for name in baselines:
        assert summary["same_examples"][name], name
        for key in ("train_tokens", "train_labels", "train_examples"):
            assert runs[name][key] == studio_run[key], (name, key)
        assert runs[name]["settings"]["trainer"].startswith("trl.SFTTrainer")
    first_step = studio_run["losses"][0][1]
    for name in ("trl", "trl-padding-free"):  # the same batches, so the same loss at every step
        assert summary["same_batches"][name] and len(runs[name]["losses"]) == 2
        assert abs(runs[name]["losses"][0][1] - first_step) < 1e-4 * first_step, name
        assert summary["loss"][name]["max_step_difference"] < 1e-3, name
        assert abs(runs[name]["eval_loss"] - studio_run["eval_loss"]) < 1e-3, name
    packed = runs["trl-packing"]  # 8 examples packed into max_len rows: fewer rows and steps
    assert packed["train_rows"] < 8 and packed["steps"] < 2 and not summary["same_batches"]["trl-packing"]
    assert abs(packed["losses"][0][1] - first_step) < 0.1 * first_step  # other batches, the same model

    too_few = studio("bench", "--model", str(tiny_model), "--data", str(data), "--steps", "5", "--json", home=home)
    assert too_few.returncode == 2 and "fewer than --steps x --batch-size" in last_json(too_few.stdout)["error"]["message"]


def test_baseline_names_order_and_refusals(tmp_path: Path) -> None:
    from studio.core.errors import ConfigError
    from studio.engine.bench_baselines import SCRIPTS

    assert set(SCRIPTS) == set(BASELINES)  # the core's list of names is the engine's
    assert parse_baselines("all") == list(BASELINES) and parse_baselines(" trl , trainer") == ["trl", "trainer"]
    assert run_order(["trainer", "trl"], 0) == ["trainer", "trl", "studio"]
    assert run_order(["trainer", "trl"], 1) == ["studio", "trl", "trainer"]
    for flag, words in (("trl,unsloth", "unknown baseline unsloth"), ("trl,trl", "name each baseline once")):
        with pytest.raises(ConfigError, match=words):
            TrainingBench(tmp_path, baselines=parse_baselines(flag)).check()


def test_bench_refuses_settings_that_would_make_the_comparison_unfair(home: Path) -> None:
    result = studio("bench", "--set", "train.lr=0.1", "--json", home=home)
    assert result.returncode == 2
    error = last_json(result.stdout)["error"]
    assert "train.packing" in error["hint"] and "train.lr" in error["message"]


def run(trainer: str, repeat: int, tokens_per_s: float, losses: list, eval_loss: float) -> dict:
    return {"trainer": trainer, "repeat": repeat, "train_tokens": 1000, "train_labels": 100, "train_examples": 10,
            "steps": len(losses),
            "tokens_per_s": tokens_per_s, "seconds": 1000 / tokens_per_s, "tokens_per_cpu_s": tokens_per_s,
            "peak_mem_bytes": 100, "to_first_step_s": 5.0, "stages": {"import": 1.0}, "losses": losses,
            "eval_loss": eval_loss}


def test_summary_medians_paired_ratios_and_loss_agreement() -> None:
    curve = [[1, 3.0], [2, 2.0], [3, 1.5], [4, 1.2]]
    runs = [run("trainer", 0, 100, curve, 1.0), run("trl", 0, 200, curve, 1.0), run("studio", 0, 300, curve, 1.0),
            run("studio", 1, 250, curve, 1.0), run("trl", 1, 250, curve, 1.0), run("trainer", 1, 125, curve, 1.0),
            run("trainer", 2, 90, curve, 1.0), run("trl", 2, 155, curve, 1.0), run("studio", 2, 310, curve, 1.0)]
    assert spread([3, 1, 2]) == {"median": 2, "min": 1, "max": 3, "n": 3}
    assert sorted(paired_ratios(runs, "tokens_per_s", a="trainer")) == [2.0, 3.0, 310 / 90]
    summary = summarise(runs, ["trainer", "trl"])
    assert summary["baselines"] == ["trainer", "trl"] and list(summary["trainers"]) == ["trainer", "trl", "studio"]
    assert summary["ratios"]["trainer"]["tokens_per_s"]["of_medians"] == 300 / 100
    assert summary["ratios"]["trainer"]["tokens_per_s"]["paired"]["median"] == 3.0
    assert summary["ratios"]["trl"]["tokens_per_s"]["of_medians"] == 300 / 200
    assert summary["ratios"]["trl"]["tokens_per_s"]["paired"] == spread([1.5, 1.0, 2.0])
    assert summary["loss"]["trl"]["same_learning"] and summary["repeat_loss_difference"] == 0
    assert summary["same_batches"] == {"trainer": True, "trl": True}

    packed = [run("trl-packing", 0, 400, [[1, 3.0], [2, 1.9]], 1.01), run("studio", 0, 300, curve, 1.0)]
    other = summarise(packed)
    assert other["baselines"] == ["trl-packing"] and other["same_examples"]["trl-packing"]
    assert not other["same_batches"]["trl-packing"] and not other["loss"]["trl-packing"]["same_learning"]

    drifted = run("studio", 0, 300, [[1, 3.0], [2, 2.0], [3, 1.8], [4, 1.6]], 1.3)
    agreement = loss_agreement(runs[0], drifted)
    assert not agreement["same_learning"] and abs(agreement["max_step_difference"] - 0.4) < 1e-9


def test_svg_chart_has_ticks_lines_and_dots() -> None:
    assert nice_ticks(0.3, 9.7) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(1, 1, integers=True) == [1, 2] and nice_ticks(1, 3, integers=True) == [1, 2, 3]
    svg = chart([Panel("loss", "step", "loss", [Series("a", [(1, 2.0), (2, 1.0)]),
                                                Series("b <&>", [(1, 2.1), (2, 1.1)], dash="4,2")]),
                 Panel("rate", "repeat", "tok/s", [Series("a", [(1, 100.0), (2, 120.0)], dots=True)],
                       y_from_zero=True)], caption="x")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}polyline")) == 2 and len(root.findall(f".//{ns}circle")) == 3
    assert "b <&>" in [t.text for t in root.iter(f"{ns}text")]


def test_bench_gui_section_measures_stalls_and_plot_frames(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench-gui"
    result = studio("bench", "--sections", "gui", "--gui-points", "3000", "--gui-flood-rate", "500",
                    "--gui-flood-seconds", "1", "--gui-train-steps", "3", "--out", str(out), "--json", home=home)
    assert result.returncode == 0, result.stderr[-3000:]
    gui = last_json(result.stdout)["sections"]["gui"]
    assert set(last_json(result.stdout)["sections"]) == {"gui"}
    for scenario in ("idle", "event_flood", "training_run"):
        assert gui[scenario]["ticks"] > 10 and gui[scenario]["longest_stall_ms"] >= 0
    assert gui["event_flood"]["status"] == "completed" and gui["event_flood"]["steps"] == 500
    assert gui["event_flood"]["events"] >= 1000                       # progress + metrics per step
    assert gui["training_run"]["status"] == "completed" and gui["training_run"]["steps"] == 3
    assert gui["plot"]["points_per_series"] == 3000 and gui["plot"]["full_redraw"]["frames"] == 20
    assert gui["plot"]["live_frame_10_new_points"]["median_ms"] > 0


def test_memory_estimate_is_compared_with_a_measured_peak(home: Path, tiny_model: Path, tmp_path: Path) -> None:
    from studio.core.bench.memory_check import Case, run_case, write_long_texts
    from studio.core.workspace import Workspace

    data = write_long_texts(tmp_path / "long.jsonl", rows=8, chars=300)
    result = run_case(Case("none", 2, 64), tiny_model, data, Workspace.open(tmp_path / "ws"), "cpu")
    assert result["measured_bytes"] > 100 * 2**20                      # a real process's peak RSS
    assert result["estimate_bytes"] == sum(result["estimate_parts"].values())
    assert abs(result["error"]) < 0.5                                  # the estimate is in the right range
    assert result["error"] == round(result["estimate_bytes"] / result["measured_bytes"] - 1, 4)


def test_bench_refuses_an_unknown_section(home: Path) -> None:
    result = studio("bench", "--sections", "training,speedy", "--json", home=home)
    assert result.returncode == 2 and "speedy" in last_json(result.stdout)["error"]["message"]
