"""What a run or an adapter was trained for, in one shape and one line of text, for every view.

`studio runs show`, `studio adapters show`, the Runs page's Details and the library card all say
the objective (sft, dpo, orpo, kto), its settings, the adapter the run started from, the reference
model and the last train/eval preference accuracy and reward margin. They read it from different
places (a run's config, an adapter's studio.json, which has an `objective` block since preference
tuning came, or only a config, or nothing at all for older SFT adapters), so the reading and the
wording live here once. No Qt, no torch.
"""

from __future__ import annotations

from typing import Any

PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto")
# The figures shown as "last": a series of the run (RunHistory) or final_<key> in studio.json's metrics.
LAST_FIGURES = ("pref_accuracy", "reward_margin", "eval_pref_accuracy", "eval_reward_margin")


def objective_block(objective: str, pref: dict[str, Any], init_adapter: str = "") -> dict[str, Any]:
    """studio.json's `objective` block for these settings (engine/adapter_save.py writes the same
    shape, with the init adapter's own run id and objective when it can read them)."""
    block: dict[str, Any] = {"name": objective or "sft"}
    if objective in PREFERENCE_OBJECTIVES and pref.get("beta") is not None:
        block["beta"] = pref["beta"]
    if objective == "dpo" and pref.get("dpo_loss"):
        block["loss_type"] = pref["dpo_loss"]
    if objective == "kto":
        block.update({k: pref[k] for k in ("desirable_weight", "undesirable_weight") if pref.get(k) is not None})
    if init_adapter:
        block["init_adapter"] = {"name": init_adapter}
    if objective in ("dpo", "kto"):
        block["reference"] = f"adapter {init_adapter}" if init_adapter else "base model"
    return block


def objective_of_config(config: Any) -> dict[str, Any]:
    """The block for a RunConfig (a run's run.yaml)."""
    pref = getattr(config, "pref", None)
    values = {k: getattr(pref, k, None) for k in ("beta", "dpo_loss", "desirable_weight", "undesirable_weight")}
    return objective_block(config.train.objective, values, config.train.init_adapter)


def objective_of_record(record: dict[str, Any]) -> dict[str, Any]:
    """The block of an adapter's studio.json (or its lineage card): the block it has; else one made
    from its saved config; else sft (adapters made before preference tuning have neither)."""
    block = record.get("objective")
    if isinstance(block, dict) and isinstance(block.get("name"), str):
        return block
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    pref = config.get("pref") if isinstance(config.get("pref"), dict) else {}
    objective = train.get("objective") if isinstance(train.get("objective"), str) else "sft"
    init = train.get("init_adapter") if isinstance(train.get("init_adapter"), str) else ""
    return objective_block(objective, pref, init)


def describe_objective(block: dict[str, Any]) -> str:
    """One line: "dpo (beta 0.1, sigmoid loss), reference base model", or with an init adapter
    "dpo (beta 0.1, sigmoid loss), from adapter demo (sft), also the reference"."""
    name = str(block.get("name") or "sft")
    settings = []
    if block.get("beta") is not None:
        settings.append(f"{'lambda' if name == 'orpo' else 'beta'} {block['beta']:g}"
                        if isinstance(block["beta"], (int, float)) else f"beta {block['beta']}")
    if block.get("loss_type"):
        settings.append(f"{block['loss_type']} loss")
    for key, short in (("desirable_weight", "desirable"), ("undesirable_weight", "undesirable")):
        if isinstance(block.get(key), (int, float)):
            settings.append(f"{short} weight {block[key]:g}")
    text = name + (f" ({', '.join(settings)})" if settings else "")
    init = block.get("init_adapter")
    init_name = init.get("name") if isinstance(init, dict) else None
    if init_name:
        text += f", from adapter {init_name}" + (f" ({init['objective']})" if init.get("objective") else "")
    if block.get("reference"):
        text += (", also the reference" if init_name and block["reference"] == f"adapter {init_name}"
                 else f", reference {block['reference']}")
    return text


def last_figures_of_history(history: Any) -> dict[str, float]:
    """The last logged value of each LAST_FIGURES series of a RunHistory (absent: not logged)."""
    out = {}
    for key in LAST_FIGURES:
        series = history.series.get(key) or {}
        if series:
            out[key] = series[max(series)]
    return out


def last_figures_of_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The same figures from studio.json's metrics (final_pref_accuracy, ...)."""
    out = {}
    for key in LAST_FIGURES:
        value = metrics.get("final_" + key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def describe_figures(figures: dict[str, float]) -> str:
    """ "train: accuracy 95%, margin 1.23; eval: accuracy 90%, margin 1.10" ("" when none)."""
    parts = []
    for label, prefix in (("train", ""), ("eval", "eval_")):
        accuracy, margin = figures.get(prefix + "pref_accuracy"), figures.get(prefix + "reward_margin")
        shown = ([f"accuracy {100 * accuracy:.0f}%"] if accuracy is not None else []) + \
                ([f"margin {margin:.3g}"] if margin is not None else [])
        if shown:
            parts.append(f"{label}: {', '.join(shown)}")
    return "; ".join(parts)
