"""The Train page: LoRA and target editors with live figures, tooltips, the memory warning,
YAML save/load and the command line, the queue."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from studio.core.config import RunConfig, sections
from studio.core.config_io import config_to_dict, load_config
from studio.core.device import DeviceInfo
from studio.core.model_info import inspect_model
from studio.core.run_queue import RunQueue


def train_page(window, qtbot):  # noqa: ANN001, ANN201
    window.show_page("Train")
    page = window.page("Train")
    qtbot.waitUntil(lambda: page.info is not None, timeout=10_000)
    return page


def test_rank_and_targets_change_the_parameter_count(app, qtbot, tiny_model: Path) -> None:
    ctx, window = app
    page = train_page(window, qtbot)
    info = inspect_model(tiny_model)
    label = page.findChild(QWidget, "trainable-params")
    assert label.text() == f"{info.lora_params(['all-linear'], 8):,}"

    rank = page.findChild(QWidget, "lora.rank")
    rank.setValue(32)
    assert ctx.config.get("lora.rank") == 32
    assert label.text() == f"{info.lora_params(['all-linear'], 32):,}"

    table = page.targets.table
    q_row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "q_proj")
    assert table.item(q_row, 3).text() == f"{info.groups['q_proj'].lora_params(32):,}"
    table.item(q_row, 0).setCheckState(Qt.CheckState.Unchecked)
    remaining = [g for g in info.groups if g != "q_proj"]
    assert ctx.config.get("lora.targets") == remaining
    assert label.text() == f"{info.lora_params(remaining, 32):,}"

    page.findChild(QWidget, "preset:Attention").click()
    assert ctx.config.get("lora.targets") == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert label.text() == f"{info.lora_params(['q_proj', 'k_proj', 'v_proj', 'o_proj'], 32):,}"
    page.findChild(QWidget, "preset:All linear").click()
    assert ctx.config.get("lora.targets") == ["all-linear"]
    assert "--targets" not in page.command.command()
    assert "--rank 32" in page.command.command()
    assert page.findChild(QWidget, "lora-scale").text().endswith(f"= {32 / 32:.3g}")


def test_every_editor_shows_its_help_as_tooltip(app, qtbot) -> None:
    ctx, window = app
    train_page(window, qtbot)
    keys = [f"{name}.{f.name}" for name, section in sections(RunConfig()) for f in dataclasses.fields(section)]
    found = 0
    for key in keys + ["name"]:
        for editor in window.findChildren(QWidget, key):
            assert editor.toolTip() == ctx.config.help(key), key
            found += 1
    assert found >= 30


def test_memory_warning_offers_a_fix_that_fits(app, qtbot) -> None:
    ctx, window = app
    page = train_page(window, qtbot)
    ctx.config.set("train.batch_size", 64)
    ctx.config.set("data.max_len", 1024)
    ctx.longest_example = None
    ctx.device = DeviceInfo("cpu", "Small test CPU", 700 * 2**20, 640 * 2**20)
    ctx.device_changed.emit()
    assert page.memory.banner.isVisible()
    assert "will not fit" in page.memory.banner.title.text()
    assert "Fix: lower the batch size to" in page.memory.banner.body.text().replace("<b>", "").replace("</b>", "")
    apply = [b for b in page.memory.banner.findChildren(QWidget) if getattr(b, "text", lambda: "")() == "Apply the fix"]
    apply[0].click()
    batch = ctx.config.get("train.batch_size")
    assert batch < 64 and ctx.config.get("train.grad_accum") == 64 // batch      # same effective batch
    assert not page.memory.banner.isVisible()                                      # now it fits


def test_save_and_load_yaml_and_the_command_line(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = train_page(window, qtbot)
    ctx.config.set("lora.rank", 4)
    ctx.config.set("train.lr", 5e-4)
    path = tmp_path / "run.yaml"
    page.save_config_to(path)
    assert config_to_dict(load_config(path)) == config_to_dict(ctx.config.config)     # what `studio train --config` reads

    ctx.config.set("lora.rank", 64)
    assert page.load_config_from(path)
    assert ctx.config.get("lora.rank") == 4 and page.findChild(QWidget, "lora.rank").value() == 4
    assert page.findChild(QWidget, "train.lr").text() == "0.0005"

    from studio.cli import build_parser
    from studio.cli.train_cmd import resolve_config
    import shlex

    args = build_parser().parse_args(shlex.split(page.command.command())[1:])
    assert config_to_dict(resolve_config(args)) == config_to_dict(ctx.config.config)


def test_queue_lists_waiting_runs_from_the_workspace(app, qtbot) -> None:
    ctx, window = app
    page = train_page(window, qtbot)
    RunQueue(ctx.workspace.home).add_sweep(ctx.config.snapshot(), "lora.rank", [4, 16])
    ctx.runs.queue_changed.emit()
    items = [page.queue.list.item(i).text() for i in range(page.queue.list.count())]
    assert items == ["gui-test-rank4  (rank 4)", "gui-test-rank16  (rank 16)"]
    assert page.queue.start.isEnabled()


def test_the_objective_shows_only_the_settings_that_apply(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = train_page(window, qtbot)

    def shown(key: str) -> bool:
        return page.findChild(QWidget, key).isVisibleTo(page)

    assert ctx.config.get("train.objective") == "sft" and page.objective.buttons["sft"].isChecked()
    assert not any(shown(k) for k in ("pref.beta", "pref.dpo_loss", "pref.desirable_weight", "objective-reference"))
    sft_memory = page.findChild(QWidget, "memory-total").text()
    page.findChild(QWidget, "objective:dpo").click()
    assert page.findChild(QWidget, "memory-total").text() != sft_memory      # chosen + rejected per example
    assert ctx.config.get("train.objective") == "dpo" and "--objective dpo" in page.command.command()
    assert shown("pref.beta") and shown("pref.dpo_loss") and not shown("pref.desirable_weight")
    assert "from the reference" in page.findChild(QWidget, "beta-meaning").text()
    assert page.findChild(QWidget, "objective-reference").text() == "the base model (the adapter switched off)"
    assert "pairs" in page.findChild(QWidget, "objective-data").text()
    beta = page.findChild(QWidget, "pref.beta")
    beta.setValue(0.125)                                 # three decimals: not rounded to 0.13
    assert ctx.config.get("pref.beta") == 0.125 and "--beta 0.125" in page.command.command()

    page.findChild(QWidget, "objective:orpo").click()
    assert shown("pref.beta") and not shown("pref.dpo_loss")
    assert page.objective.form.labelForField(beta).text() == "Beta (λ)"
    assert "penalty" in page.findChild(QWidget, "beta-meaning").text()
    assert page.findChild(QWidget, "objective-reference").text().startswith("none")
    page.findChild(QWidget, "objective:kto").click()
    assert shown("pref.desirable_weight") and shown("pref.undesirable_weight") and not shown("pref.dpo_loss")
    page.findChild(QWidget, "objective:sft").click()
    assert not shown("pref.beta") and not shown("objective-reference") and not shown("objective-data")

    path = tmp_path / "kto.yaml"                         # a loaded config checks its objective
    ctx.config.set("train.objective", "kto")
    page.save_config_to(path)
    ctx.config.set("train.objective", "sft")
    assert page.load_config_from(path)
    assert page.objective.buttons["kto"].isChecked() and shown("pref.desirable_weight")


def test_starting_from_a_library_adapter_takes_its_shape(app, qtbot, tiny_model: Path) -> None:
    from helpers import fake_adapter

    ctx, window = app
    page = train_page(window, qtbot)
    record = {"name": "tickets-sft", "config": {"lora": {"rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]}}}
    fake_adapter(ctx.workspace.adapters_dir / "tickets-sft", base=str(tiny_model), rank=4, studio_json=record)
    (ctx.workspace.adapters_dir / "half-written").mkdir()          # broken: cannot be started from
    picker = page.findChild(QWidget, "train.init_adapter")
    page.read_adapters()
    qtbot.waitUntil(lambda: picker.count() == 2, timeout=10_000)
    assert [picker.itemText(i) for i in range(2)] == ["fresh LoRA", "tickets-sft  (sft, rank 4)"]

    picker.setCurrentIndex(1)
    assert ctx.config.get("train.init_adapter") == "tickets-sft"
    qtbot.waitUntil(lambda: ctx.config.get("lora.rank") == 4, timeout=5000)       # the adapter's shape
    assert ctx.config.get("lora.targets") == ["q_proj", "v_proj"] and ctx.config.get("lora.alpha") == 8.0
    info = inspect_model(tiny_model)
    assert page.findChild(QWidget, "trainable-params").text() == f"{info.lora_params(['q_proj', 'v_proj'], 4):,}"
    assert not page.findChild(QWidget, "lora.rank").isEnabled() and not page.targets.table.isEnabled()
    assert not page.findChild(QWidget, "preset:MLP").isEnabled()
    for note in ("lora-from-adapter", "targets-from-adapter"):
        label = page.findChild(QWidget, note)
        assert label.isVisibleTo(page) and "Taken from the init adapter tickets-sft" in label.text()
    assert "--init-adapter tickets-sft" in page.command.command()
    page.findChild(QWidget, "objective:dpo").click()
    assert page.findChild(QWidget, "objective-reference").text() == "the adapter tickets-sft (a frozen copy)"

    picker.setCurrentIndex(0)                                          # back to a fresh LoRA: editable again
    assert ctx.config.get("train.init_adapter") == "" and page.findChild(QWidget, "lora.rank").isEnabled()
    assert not page.findChild(QWidget, "lora-from-adapter").isVisibleTo(page) and page.targets.table.isEnabled()
    ctx.config.set("train.init_adapter", "gone")                       # e.g. a YAML from another machine
    assert picker.currentText() == "gone  (not in the library)"


def test_every_objective_fits_a_laptop_screen(app, qtbot) -> None:
    """The objective card's rows come and go with the objective: none of them may be squeezed."""
    from test_small_screen import LAPTOP, squeezed

    ctx, window = app
    page = train_page(window, qtbot)
    window.resize(LAPTOP)
    for objective in ("dpo", "orpo", "kto", "sft"):
        page.findChild(QWidget, f"objective:{objective}").click()
        qtbot.wait(100)
        assert window.width() <= LAPTOP.width() and squeezed(page) == [], objective
