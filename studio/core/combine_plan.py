"""Checks before a weighted combination of adapters (`studio merge-adapters A:0.5 B:0.5 --name C`).

peft's `add_weighted_adapter` builds the new adapter; this module makes sure it is asked
something that makes sense, in milliseconds and without torch: every parent exists and is usable,
all share one base model (same hash in their lineage), the combination type fits their ranks,
and the new name is free (an existing name gets a new version, as training does).

Combination types (peft's names): `cat` (default) concatenates the low-rank factors, so the new
update is exactly sum(w_i * B_i A_i) with rank = sum of ranks; `svd` takes that exact sum and
truncates it to --svd-rank; `linear` averages the A and B factors themselves (same ranks only,
an approximation); `ties`, `dare_linear`, `dare_ties`, `magnitude_prune` prune with --density.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import ConfigError, ModelError
from studio.core.export_plan import BaseModelRef, find_adapter, read_json, resolve_base
from studio.core.library import ADAPTER_CONFIG, AdapterInfo
from studio.core.workspace import Workspace, check_name

COMBINATIONS = ("cat", "svd", "linear", "ties", "dare_linear", "dare_ties", "magnitude_prune")
SAME_RANK = ("linear", "ties", "dare_linear", "dare_ties", "magnitude_prune")
NEEDS_DENSITY = ("ties", "dare_linear", "dare_ties", "magnitude_prune")


@dataclass
class CombinePlan:
    parents: list[tuple[AdapterInfo, float]]
    base: BaseModelRef
    out: Path
    combination: str = "cat"
    density: float | None = None
    svd_rank: int | None = None
    trust_remote_code: bool = False
    warnings: list[str] = field(default_factory=list)

    def worker_args(self) -> list[str]:
        args = ["merge-adapters", "--base", self.base.source, "--out", str(self.out),
                "--combination", self.combination]
        for info, weight in self.parents:
            args += ["--adapter", f"{info.path}:{weight!r}"]
        if self.base.revision:
            args += ["--revision", self.base.revision]
        if self.density is not None:
            args += ["--density", repr(self.density)]
        if self.svd_rank is not None:
            args += ["--svd-rank", str(self.svd_rank)]
        if self.trust_remote_code:
            args.append("--trust-remote-code")
        return args


def parse_weighted(spec: str) -> tuple[str, float]:
    """'name:0.5' (or 'path/to/adapter:-1'); the weight is after the last colon."""
    ref, sep, weight = spec.rpartition(":")
    try:
        value = float(weight) if sep and ref else None
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{spec!r} is not ADAPTER:WEIGHT", hint="write each adapter as NAME:WEIGHT, e.g. a:0.5 b:0.5")
    return ref, value


def plan_combination(workspace: Workspace, specs: list[str], name: str, *, combination: str = "cat",
                     density: float | None = None, svd_rank: int | None = None, base: str = "",
                     trust_remote_code: bool = False) -> CombinePlan:
    if not specs:
        raise ConfigError("no adapters to combine", hint="pass them as NAME:WEIGHT, e.g. a:0.5 b:0.5")
    if combination not in COMBINATIONS:
        raise ConfigError(f"--combination {combination!r} is not one of {', '.join(COMBINATIONS)}",
                          hint="use cat (exact) or svd (exact sum, truncated to --svd-rank)")
    check_name(name, "adapter name (--name)")
    parents = [(find_adapter(workspace, ref), weight) for ref, weight in map(parse_weighted, specs)]
    for info, _ in parents:
        lora = info.studio.get("config", {}).get("lora", {})
        if lora.get("dora") or read_json(info.path / ADAPTER_CONFIG).get("use_dora"):
            raise ModelError(f"adapter {info.name} is a DoRA adapter, which cannot be combined by weight "
                             "(its magnitude vectors do not add up)", hint="combine plain LoRA adapters")
    _check_same_base(parents)
    ranks = {info.name: info.rank for info, _ in parents}
    if combination in SAME_RANK and len(set(ranks.values())) > 1:
        raise ConfigError(f"--combination {combination} needs adapters of one rank, but the ranks are "
                          + ", ".join(f"{n}: {r}" for n, r in ranks.items()),
                          hint="use --combination cat or svd, which accept different ranks")
    if combination in NEEDS_DENSITY and not (density is not None and 0 < density <= 1):
        raise ConfigError(f"--combination {combination} needs --density between 0 and 1 (now {density})",
                          hint="pass e.g. --density 0.5 (the share of each update that is kept)")
    if svd_rank is not None and svd_rank < 1:
        raise ConfigError(f"--svd-rank {svd_rank} must be at least 1", hint="pass e.g. --svd-rank 16")
    base_ref = resolve_base(parents[0][0], base, trust_remote_code)
    out = workspace.adapter_dir(workspace.free_adapter_name(name))
    plan = CombinePlan(parents, base_ref, out, combination, density, svd_rank, trust_remote_code)
    if out.name != name:
        plan.warnings.append(f"an adapter named {name} exists, so the new one is {out.name}")
    return plan


def _check_same_base(parents: list[tuple[AdapterInfo, float]]) -> None:
    first = parents[0][0]
    first_hash = first.studio.get("base_model", {}).get("hash")
    for info, _ in parents[1:]:
        other_hash = info.studio.get("base_model", {}).get("hash")
        same = first_hash == other_hash if first_hash and other_hash else first.base_model == info.base_model
        if not same:
            raise ModelError(f"adapters {first.name} and {info.name} were trained on different base models "
                             f"({first.base_model} and {info.base_model}), so they cannot be combined",
                             hint="combine adapters of the same base model")
