"""An editor for one config field, built from its dataclass metadata and bound to the ConfigModel.

The widget kind follows the field's type and limits (checkbox for bools, a list for choices,
spin boxes bounded by min/max, a text box for the learning rate so 2e-4 can be typed); the
tooltip is the field's help text from studio/core/config.py. Edits go to the ConfigModel; a
value the field refuses turns the box red and puts the reason in its tooltip.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox,
                               QWidget)

from studio.core.config import RunConfig
from studio.core.errors import StudioError
from studio.gui.config_model import ConfigModel

LABELS = {
    "name": "Adapter name", "model.quant": "Quantization", "model.dtype": "Precision",
    "model.attn_implementation": "Attention", "data.max_len": "Max length (tokens)", "data.loss_on": "Loss on",
    "data.eval_split": "Eval share", "data.system_prompt": "System prompt", "data.seed": "Split seed",
    "lora.rank": "Rank r", "lora.alpha": "Alpha", "lora.dropout": "Dropout", "lora.rslora": "rsLoRA",
    "lora.dora": "DoRA", "train.lr": "Learning rate", "train.scheduler": "Schedule", "train.warmup": "Warmup",
    "train.epochs": "Epochs", "train.max_steps": "Max steps", "train.batch_size": "Batch size",
    "train.grad_accum": "Grad accumulation", "train.weight_decay": "Weight decay",
    "train.max_grad_norm": "Max grad norm", "train.grad_checkpointing": "Gradient checkpointing",
    "train.auto_grad_checkpointing": "… or when memory needs it",
    "train.seed": "Seed", "train.log_every": "Log every (steps)", "train.eval_every": "Eval every (steps)",
    "train.save_every": "Save every (steps)", "train.keep_checkpoints": "Keep checkpoints",
    "train.early_stopping": "Early stopping (evals)", "train.sample_predictions": "Sample answers (per eval)",
    "train.objective": "Objective", "train.init_adapter": "Start from", "pref.beta": "Beta",
    "pref.dpo_loss": "DPO loss", "pref.desirable_weight": "Desirable weight",
    "pref.undesirable_weight": "Undesirable weight",
}
TEXT_NUMBERS = {"train.lr"}          # typed, so 2e-4 works
STEPS = {"pref.beta": 0.05, "pref.desirable_weight": 0.1, "pref.undesirable_weight": 0.1}   # about their use
SPECIAL_ZERO = {"train.max_steps": "from epochs", "train.eval_every": "each epoch", "train.save_every": "at end",
                "train.early_stopping": "off", "train.sample_predictions": "off"}


def label(key: str) -> str:
    return LABELS.get(key, key.rsplit(".", 1)[-1].replace("_", " ").capitalize())


def field_of(key: str) -> tuple[dataclasses.Field, Any]:
    config = RunConfig()
    section, _, name = key.partition(".")
    owner = getattr(config, section) if name else config
    name = name or section
    f = next(f for f in dataclasses.fields(owner) if f.name == name)
    return f, typing.get_type_hints(type(owner))[name]


def make_editor(model: ConfigModel, key: str, parent: QWidget | None = None) -> QWidget:
    f, kind = field_of(key)
    meta = f.metadata
    editor: QWidget
    if kind is bool:
        editor = QCheckBox(label(key), parent)
        editor.toggled.connect(lambda value: _commit(model, key, editor, value))
    elif meta.get("choices"):
        editor = QComboBox(parent)
        editor.addItems(list(meta["choices"]))
        editor.currentTextChanged.connect(lambda value: _commit(model, key, editor, value))
    elif kind is int and key not in TEXT_NUMBERS:
        editor = QSpinBox(parent)
        editor.setRange(int(meta.get("min") or 0), int(min(meta.get("max") or 1_000_000_000, 2_000_000_000)))
        if key in SPECIAL_ZERO:
            editor.setSpecialValueText(SPECIAL_ZERO[key])
        editor.valueChanged.connect(lambda value: _commit(model, key, editor, value))
    elif kind is float and key not in TEXT_NUMBERS:
        editor = QDoubleSpinBox(parent)
        low = meta.get("min") if meta.get("min") is not None else (meta.get("gt") or 0.0)
        editor.setDecimals(3 if (meta.get("max") or 10) <= 1 else 2)
        editor.setSingleStep(STEPS.get(key, 0.05 if (meta.get("max") or 10) <= 1 else 1.0))
        if key in STEPS:             # beta 0.05 or 0.125 must show as typed, not rounded to 0.1
            editor.setDecimals(3)
        editor.setRange(float(low), float(meta.get("max") or 1e6))
        editor.valueChanged.connect(lambda value: _commit(model, key, editor, value))
    else:
        editor = QLineEdit(parent)
        editor.editingFinished.connect(lambda: _commit(model, key, editor, editor.text()))
    if isinstance(editor, QAbstractSpinBox):
        editor.setKeyboardTracking(False)
        editor.setMinimumWidth(90)
    editor.setObjectName(key)
    editor.setToolTip(meta.get("help", ""))
    editor.setProperty("help", meta.get("help", ""))
    _show(editor, model.get(key))
    model.changed.connect(lambda changed: _show(editor, model.get(key)) if changed in ("", key) else None)
    return editor


def _commit(model: ConfigModel, key: str, editor: QWidget, value: Any) -> None:
    if editor.property("updating"):
        return
    try:
        model.set(key, value)
    except StudioError as exc:
        editor.setStyleSheet("border: 1px solid #cf222e;")
        editor.setToolTip(f"{exc}\n\n{editor.property('help')}")
        return
    editor.setStyleSheet("")
    editor.setToolTip(editor.property("help"))


def _show(editor: QWidget, value: Any) -> None:
    editor.setProperty("updating", True)
    try:
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, QLineEdit):
            text = f"{value:g}" if isinstance(value, float) else str(value)
            if editor.text() != text:
                editor.setText(text)
    finally:
        editor.setProperty("updating", False)
