"""The preference objectives' own figures, as TRL logs them, renamed for our events.

DPO, ORPO and KTO log `rewards/chosen`, `rewards/rejected`, `rewards/margins`,
`rewards/accuracies` (the share of pairs whose chosen answer gets the higher reward) and, for KTO,
`kl`; ORPO adds its `nll_loss` (the SFT part) and `log_odds_ratio`. `metrics` events carry them
as reward_chosen, ..., and `eval` events as eval_reward_chosen, ... (run_history.PREFERENCE_SERIES).
"""

from __future__ import annotations

from typing import Any

# TRL's log keys -> our event fields (the same in `metrics` and, with eval_, in `eval` events).
METRIC_NAMES = {"rewards/chosen": "reward_chosen", "rewards/rejected": "reward_rejected",
                "rewards/margins": "reward_margin", "rewards/accuracies": "pref_accuracy", "kl": "kl",
                "nll_loss": "nll_loss", "log_odds_ratio": "log_odds_ratio"}


def preference_metrics(logs: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The objective's own figures in a Trainer log (`prefix` "eval_" for evaluations)."""
    out = {}
    for key, name in METRIC_NAMES.items():
        value = logs.get(prefix + key)
        if isinstance(value, (int, float)):
            out[prefix + name] = round(float(value), 6)
    return out
