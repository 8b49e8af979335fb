"""The library card says what an adapter was trained for: the objective with its settings, the
adapter it started from, the reference, and the last train/eval preference accuracy and margin
(from fixture adapters; an SFT adapter made before the objective block reads as sft)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication, QLabel

from helpers import fake_adapter
from studio.core.adapter_details import lineage_card
from studio.core.workspace import Workspace
from studio.gui.theme import Theme
from studio.gui.widgets.lineage_card import LineageCard


def row(card: LineageCard, key: str) -> QLabel | None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)      # the previous card's rows
    return card.findChild(QLabel, f"lineage-{key}")


def test_the_card_shows_the_objective_and_the_preference_figures(qtbot, home: Path, tmp_path: Path) -> None:
    ws = Workspace.open(home)
    fake_adapter(ws.adapters_dir / "tickets-kto", studio_json={
        "name": "tickets-kto",
        "objective": {"name": "kto", "beta": 0.2, "desirable_weight": 1.5, "undesirable_weight": 1.0,
                      "reference": "base model"},
        "metrics": {"final_reward_margin": 0.8, "final_eval_reward_margin": 0.5}})
    fake_adapter(ws.adapters_dir / "tickets-dpo", studio_json={
        "name": "tickets-dpo",
        "objective": {"name": "dpo", "beta": 0.1, "loss_type": "sigmoid", "reference": "adapter tickets-sft",
                      "init_adapter": {"name": "tickets-sft", "run_id": "r1", "objective": "sft"}},
        "metrics": {"final_pref_accuracy": 1.0, "final_eval_pref_accuracy": 0.92, "final_eval_reward_margin": 2.5}})
    fake_adapter(ws.adapters_dir / "old-sft", studio_json={"name": "old-sft", "metrics": {"final_train_loss": 0.1}})
    card = LineageCard(Theme(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(card)

    card.show_card(lineage_card(ws, "tickets-dpo", check=False))
    assert row(card, "objective").text() == "dpo (beta 0.1, sigmoid loss), from adapter tickets-sft (sft), also the reference"
    assert row(card, "preference").text() == "train: accuracy 100%; eval: accuracy 92%, margin 2.5"
    card.show_card(lineage_card(ws, "tickets-kto", check=False))
    assert row(card, "objective").text() == ("kto (beta 0.2, desirable weight 1.5, undesirable weight 1), "
                                             "reference base model")
    assert row(card, "preference").text() == "train: margin 0.8; eval: margin 0.5"
    card.show_card(lineage_card(ws, "old-sft", check=False))
    assert row(card, "objective").text() == "sft" and row(card, "preference") is None
