"""adapter_config.json by peft's rules, and the LoRA tensors' shapes against it: no peft import.

Why: peft reads this file with its config dataclasses and builds layers from it; a rank that is
text, a rank of a billion, or weights saved for another rank fail there with a traceback (or a
memory blow-up) long after the adapter was imported. The same rules are checked here by type and
range when the library is read and before an import copies anything. rank_pattern keys are
regular expressions from the file: they are matched the way peft matches them (the end of the
module name at a '.' boundary), and a pattern whose matching could run for ever is refused, so
reading a hostile folder cannot hang the library.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from studio.core.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, REPAIR, SafetensorsHeader, bad, \
    check_text_path, json_kind, shown
from studio.core.errors import ModelError

MAX_RANK = 4096             # the same bound as lora.rank in core.config
MAX_PATTERNS = 4096         # rank_pattern entries (peft's EVA init writes one per module)
COSTLY_BUDGET = 200         # matches of repeating rank_pattern keys per adapter; then the check is coarser
# peft's PeftType values (peft 0.21); an adapter of another type cannot be loaded by peft.
PEFT_TYPES = frozenset(
    "PROMPT_TUNING MULTITASK_PROMPT_TUNING P_TUNING PREFIX_TUNING LORA ADALORA ADAMSS BOFT ADAPTION_PROMPT IA3 "
    "BEFT LILY LOHA LOKR OFT POLY LN_TUNING VERA FROD PVERA FOURIERFT GLORA XLORA HRA VBLORA UNILORA CPT MISS "
    "RANDLORA ROAD TRAINABLE_TOKENS HIRA SHIRA C3A WAVEFT OSF DELORA GRALORA CARTRIDGE TINYLORA PSOFT PEANUT "
    "SHADOW SUPERTUNING DEFT".split())
# peft's saved keys: base_model.model.<module>.lora_A.weight (Linear, Conv), ...lora_embedding_A (Embedding)
LORA_TENSOR = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?:embedding_)?(?P<part>A|B)"
                         r"(?:\.[^.]+)?(?:\.weight)?$")


def finite(value: float) -> bool:
    """math.isfinite, which cannot take an int beyond float range (JSON allows 1 followed by 400 zeros)."""
    return not isinstance(value, float) or math.isfinite(value)


def _number(config: dict[str, Any], key: str, file: str, low: float, high: float, *, low_open: bool = False,
            whole: bool = False) -> float | None:
    value = config.get(key)
    if value is None:
        return None
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not finite(value) \
            or value > high or value < low or (low_open and value == low):
        what = "a whole number" if whole else "a number"
        span = f"greater than {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise bad(file, key, value, f"is not {what} {span}")
    return value


@dataclass
class PeftSettings:
    """The fields of adapter_config.json that the app uses, each of the type peft expects."""

    peft_type: str
    r: int | None
    alpha: float | None
    targets: list[str]
    base_model: str
    revision: str
    use_dora: bool
    raw: dict[str, Any]
    rank_pattern: list[tuple[re.Pattern[str], int, bool]] = field(default_factory=list, repr=False)

    def rank_for(self, module: str, budget: list[int]) -> int | None:
        """peft's rank for a module (get_pattern_key: the first rank_pattern key that matches the end of
        the module name at a '.' boundary, else r). `budget` bounds the costly (repeating) patterns."""
        starts = [0] + [i + 1 for i, c in enumerate(module) if c == "."]
        for pattern, rank, costly in self.rank_pattern:
            if costly:
                if budget[0] <= 0 or len(module) > 256:
                    return None                      # too costly to decide: the caller checks less
                budget[0] -= 1
            if any(pattern.fullmatch(module, start) for start in starts):
                return rank
        return self.r

    @property
    def ranks(self) -> set[int]:
        return {rank for _, rank, _ in self.rank_pattern} | ({self.r} if self.r else set())


def check_peft_config(config: Any, file: str = ADAPTER_CONFIG) -> PeftSettings:
    """adapter_config.json by the types peft's config classes declare, and ranges that can load."""
    if not isinstance(config, dict):
        raise ModelError(f"{file} holds {json_kind(config)}, not a JSON object, so it is not a PEFT adapter "
                         "config", hint="pass a folder written by peft's save_pretrained")
    peft_type = config.get("peft_type")
    if peft_type in (None, ""):
        raise ModelError(f"{file} has no peft_type, so it is not a PEFT adapter config",
                         hint="pass a folder written by peft's save_pretrained")
    if not isinstance(peft_type, str) or peft_type not in PEFT_TYPES:
        raise bad(file, "peft_type", peft_type, "is not an adapter type peft knows (such as LORA)")
    r = _number(config, "r", file, 1, MAX_RANK, whole=True)
    alpha = _number(config, "lora_alpha", file, 0, 1e6, low_open=True)
    _number(config, "lora_dropout", file, 0, 1)
    targets = config.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    elif targets is None:
        targets = []
    elif not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise bad(file, "target_modules", targets, "is neither a module name nor a list of module names")
    base = config.get("base_model_name_or_path")
    base = "" if base is None else check_text_path(base, file, "base_model_name_or_path")
    for key in ("revision", "task_type"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise bad(file, key, config[key], "is not text")
    for key in ("use_dora", "use_rslora", "inference_mode"):
        if config.get(key) is not None and not isinstance(config[key], bool):
            raise bad(file, key, config[key], "is not true or false")
    saved = config.get("modules_to_save")
    if saved is not None and not (isinstance(saved, list) and all(isinstance(m, str) for m in saved)):
        raise bad(file, "modules_to_save", saved, "is not a list of module names")
    settings = PeftSettings(peft_type, int(r) if r is not None else (8 if peft_type == "LORA" else None),
                            alpha, targets, base, config.get("revision") or "", bool(config.get("use_dora")), config)
    settings.rank_pattern = _patterns(config, "rank_pattern", file, ranks=True)
    _patterns(config, "alpha_pattern", file, ranks=False)
    return settings


def _patterns(config: dict[str, Any], key: str, file: str, ranks: bool) -> list[tuple[re.Pattern[str], int, bool]]:
    """rank_pattern / alpha_pattern: regular expression -> rank (or alpha), as peft matches them."""
    table = config.get(key)
    if table is None:
        return []
    if not isinstance(table, dict) or len(table) > MAX_PATTERNS:
        raise bad(file, key, table, f"is not an object of at most {MAX_PATTERNS} module patterns")
    compiled = []
    for pattern, value in table.items():
        where = f"{key}[{shown(pattern)}]"
        if ranks and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RANK):
            raise bad(file, where, value, f"is not a rank from 1 to {MAX_RANK}")
        if not ranks and (isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value)):
            raise bad(file, where, value, "is not a number")
        try:
            re.compile(rf"(.*\.)?({pattern})$")          # how peft compiles it: it must compile so
            own = re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise bad(file, key, pattern, f"is not a regular expression peft can use ({exc})") from None
        costly = any(c in pattern for c in "*+{?|(")
        if ranks and costly and (len(pattern) > 200 or _backtracks(pattern)):
            raise bad(file, key, pattern, "nests or chains repetitions in a way that can take forever to "
                      "match", hint="write the pattern as module names, or with at most two non-nested "
                                    "repeats (such as layers\\.\\d+\\.q_proj)")
        compiled.append((own, int(value), costly))
    return compiled if ranks else []


def _backtracks(pattern: str) -> bool:
    """True when matching could take exponential (or high-degree polynomial) time: a repeat inside a
    repeat, a branch inside a repeat, a back-reference, more than two unbounded repeats, or
    alternatives whose combinations exceed 16. Read from the re module's own parse tree."""
    try:
        parser: Any = importlib.import_module("re._parser")
        tree = parser.parse(pattern)
    except Exception:  # noqa: BLE001 - no parser (another Python): refuse what cannot be judged
        return True
    repeats = {parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", parser.MAX_REPEAT)}
    count = {"unbounded": 0, "combinations": 1}

    def walk(items: Any, repeated: bool) -> bool:
        for op, av in items:
            if op in repeats:
                _low, high, body = av
                if repeated and high > 1:
                    return True
                if high > 1:
                    count["unbounded"] += 1
                if walk(body, repeated or high > 1):
                    return True
            elif op is parser.BRANCH:
                count["combinations"] *= len(av[1])
                if repeated or any(walk(b, repeated) for b in av[1]):
                    return True
            elif op is parser.SUBPATTERN:
                if walk(av[3], repeated):
                    return True
            elif op in (parser.ASSERT, parser.ASSERT_NOT):
                if walk(av[1], repeated):
                    return True
            elif op in (parser.GROUPREF, parser.GROUPREF_EXISTS, getattr(parser, "ATOMIC_GROUP", None)):
                return True
        return False

    return walk(tree, False) or count["unbounded"] > 2 or count["combinations"] > 16


def check_lora_shapes(header: SafetensorsHeader, peft: PeftSettings, file: str = ADAPTER_WEIGHTS) -> None:
    """lora_A is [r, in, ...] and lora_B [out, r, ...], with peft's rank for that module (r, or the
    rank_pattern entry that matches it). A mismatch means config and weights do not belong together."""
    if peft.peft_type != "LORA":
        return
    if not header.tensors:
        raise ModelError(f"{file} holds no tensors, so the adapter changes nothing", hint=REPAIR)
    budget = [COSTLY_BUDGET]
    for name, (_dtype, shape) in header.tensors.items():
        m = LORA_TENSOR.match(name)
        if not m:
            continue
        axis = 0 if m.group("part") == "A" else 1
        if len(shape) < 2:
            raise ModelError(f"{file}: LoRA tensor {name} has shape {shape}, not a matrix", hint=REPAIR)
        rank = peft.rank_for(m.group("module"), budget)
        allowed = {rank} if rank is not None else peft.ranks
        if shape[axis] not in allowed:
            which = f"rank {rank}" if rank is not None else f"one of the ranks {sorted(allowed)}"
            raise ModelError(
                f"{file}: LoRA tensor {name} has shape {shape}, but {ADAPTER_CONFIG} gives {which} for "
                f"{m.group('module')} (r{' or rank_pattern' if peft.rank_pattern else ''}): the config and the "
                "weights do not belong together", hint=f"use the {ADAPTER_CONFIG} saved with these weights")
