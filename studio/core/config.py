"""The run configuration: one dataclass per section, every field with its help text and limits.

The same objects back the CLI flags, the YAML file (`studio train --config run.yaml`), the GUI's
editors (help text becomes the tooltip) and the resolved `run.yaml` each run writes. Limits live
in the field metadata so that one validator gives every field the same kind of error message:
the key, the bad value, the rule, and the flag to fix it with.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from studio.core.datasets.messages import REASONING_MODES
from studio.core.datasets.readers import TEXT_UNITS
from studio.core.errors import ConfigError


def opt(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
        min: float | None = None, gt: float | None = None, max: float | None = None,
        choices: tuple[str, ...] | None = None, factory: Any = None) -> Any:
    """A config field with help text and the limits the validator enforces."""
    meta = {"help": help, "flag": flag, "min": min, "gt": gt, "max": max, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


QUANT_CHOICES = ("none", "4bit", "8bit")
DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32")
FORMAT_CHOICES = ("auto", "chat", "sharegpt", "alpaca", "completion", "text", "preference", "kto")
OBJECTIVE_CHOICES = ("sft", "dpo", "orpo", "kto")
# TRL's DPO losses that need nothing beyond beta (the others take settings we do not expose yet).
DPO_LOSS_CHOICES = ("sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero", "apo_down")
SCHEDULER_CHOICES = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts",
                     "polynomial", "inverse_sqrt")


@dataclass
class ModelOptions:
    name_or_path: str = opt("", "Base model: a local Hugging Face model folder or a hub id "
                            "such as Qwen/Qwen2.5-0.5B-Instruct.", flag="--model")
    revision: str = opt("", "Hub revision (branch, tag or commit) of the base model; empty for the "
                        "default branch.", flag="--revision")
    quant: str = opt("none", "Quantize the frozen base weights: 4bit (QLoRA, NF4 with double "
                     "quantization), 8bit, or none.", flag="--quant", choices=QUANT_CHOICES)
    dtype: str = opt("auto", "Precision of the unquantized weights and of compute: auto picks bf16 "
                     "on GPUs that support it, else fp16 on GPU, fp32 on CPU.", flag="--dtype",
                     choices=DTYPE_CHOICES)
    trust_remote_code: bool = opt(False, "Run Python code shipped with the model. Off by default: "
                                  "turn it on only for a model you trust.", flag="--trust-remote-code")
    allow_pickle: bool = opt(False, "Allow loading .bin/.pt (pickle) weights, which can run code. "
                             "Off by default: only safetensors are loaded.", flag="--allow-pickle")
    chat_template: str = opt("", "A Jinja chat template file (.jinja) to use instead of the tokenizer's "
                             "own, e.g. one that renders tools or reasoning; it is saved with the adapter.",
                             flag="--chat-template")
    attn_implementation: str = opt("sdpa", "Attention kernel: sdpa (PyTorch), eager, or "
                                   "flash_attention_2 when installed.", flag="--attn",
                                   choices=("sdpa", "eager", "flash_attention_2"))


@dataclass
class DataOptions:
    path: str = opt("", "Training data: a JSON, JSONL, CSV, Parquet or .txt file, or a folder saved "
                    "with datasets' save_to_disk.", flag="--data")
    format: str = opt("auto", "Record format: auto (detect), chat (OpenAI messages), sharegpt "
                      "(conversations), alpaca (instruction/input/output), completion "
                      "(prompt/completion), text, or for preference tuning preference (prompt/chosen/rejected; "
                      "also LLaMA-Factory's and OpenAI's pair layouts) and kto (prompt/completion/label, or "
                      "LLaMA-Factory's kto_tag).", flag="--format", choices=FORMAT_CHOICES)
    columns: dict = opt(help="Column mapping for files whose column names differ, e.g. "
                        "{prompt: question, completion: answer}.", flag="--columns", factory=dict)
    eval_path: str = opt("", "Separate evaluation file; when empty, eval_split of the training "
                         "data is held out.", flag="--eval-data")
    eval_split: float = opt(0.1, "Share of the training data held out for evaluation when there is "
                            "no eval file (0 disables evaluation).", flag="--eval-split", min=0.0, max=0.5)
    max_len: int = opt(1024, "Maximum tokens per example; longer examples are truncated (the report "
                       "says how many).", flag="--max-len", min=8, max=1_048_576)
    loss_on: str = opt("assistant", "Which tokens count toward the loss: assistant (the answers / "
                       "completions only) or all (the prompt too).", flag="--loss-on",
                       choices=("assistant", "all"))
    skip_bad_rows: bool = opt(False, "Train on the valid rows of a dataset that has rejected rows. "
                              "Off by default: a bad row stops the run so nothing is silently dropped.",
                              flag="--skip-bad-rows")
    system_prompt: str = opt("", "System prompt added to chat records that have none.",
                             flag="--system-prompt")
    text_unit: str = opt("paragraph", "What one document of a .txt file is: paragraph (documents "
                         "separated by blank lines), line (one document per line) or document (the whole "
                         "file). Each document ends with the end-of-text token.", flag="--text-unit",
                         choices=TEXT_UNITS)
    reasoning: str = opt("template", "What to do with the assistant's reasoning (reasoning_content, "
                         "reasoning or thinking fields): template (pass it to the chat template, which must "
                         "render it), inline (write it into the answer as <think>...</think>), or drop "
                         "(train on the answers without it).", flag="--reasoning", choices=REASONING_MODES)
    seed: int = opt(42, "Seed of the train/eval split.", flag="--split-seed", min=0)
    cache_tokenized: bool = opt(True, "Keep the tokenized data in the workspace cache (cache/tokenized), "
                                "keyed by the data's content, the tokenizer, max_len and loss_on, so the "
                                "next run on the same data starts training without tokenizing again.",
                                flag="--cache-tokenized")


@dataclass
class LoraOptions:
    rank: int = opt(16, "LoRA rank r: the width of the low-rank update. 8-64 is typical; higher "
                    "learns more and costs more memory.", flag="--rank", min=1, max=4096)
    alpha: float = opt(32.0, "LoRA alpha: the update is scaled by alpha/r (alpha/sqrt(r) with "
                       "rsLoRA). Often 2 x rank.", flag="--alpha", gt=0)
    dropout: float = opt(0.05, "Dropout on the LoRA input during training (0-0.5).", flag="--dropout",
                         min=0.0, max=0.9)
    targets: list = opt(help="Modules to adapt: all-linear, or names such as q_proj,v_proj "
                        "(see `studio inspect MODEL`).", flag="--targets",
                        factory=lambda: ["all-linear"])
    rslora: bool = opt(False, "Rank-stabilized LoRA: scale by alpha/sqrt(r), which keeps high "
                       "ranks learning.", flag="--rslora")
    dora: bool = opt(False, "DoRA: weight-decomposed LoRA; often better at low rank, slower to "
                     "train.", flag="--dora")


@dataclass
class TrainOptions:
    objective: str = opt("sft", "What training optimises: sft (learn the answers), dpo (prefer the chosen answer "
                         "of each pair over the rejected one, against the starting model), orpo (SFT on the chosen "
                         "answers plus an odds-ratio penalty on the rejected ones, no reference model) or kto "
                         "(answers labelled desirable or undesirable, unpaired). The data must fit the objective.",
                         flag="--objective", choices=OBJECTIVE_CHOICES)
    init_adapter: str = opt("", "Start from this library adapter instead of a fresh LoRA (e.g. the SFT adapter "
                            "before DPO); its rank and targets are kept, and for dpo/kto it is also the "
                            "reference the new adapter is compared with.", flag="--init-adapter")
    lr: float = opt(2e-4, "Peak learning rate. 1e-4 to 3e-4 is typical for LoRA.", flag="--lr", gt=0, max=1.0)
    scheduler: str = opt("cosine", "Learning-rate schedule after warmup.", flag="--scheduler",
                         choices=SCHEDULER_CHOICES)
    warmup: float = opt(0.03, "Warmup: a share of the total steps if below 1, else a step count.",
                        flag="--warmup", min=0)
    epochs: float = opt(3.0, "Passes over the training data (ignored when max_steps is set).",
                        flag="--epochs", gt=0, max=10_000)
    max_steps: int = opt(0, "Stop after this many optimizer steps; 0 means train for `epochs`.",
                         flag="--max-steps", min=0)
    batch_size: int = opt(4, "Examples per device per step.", flag="--batch-size", min=1, max=65_536)
    grad_accum: int = opt(1, "Gradient accumulation: steps summed before each optimizer update. "
                          "Effective batch = batch_size x grad_accum.", flag="--grad-accum", min=1, max=65_536)
    weight_decay: float = opt(0.0, "AdamW weight decay.", flag="--weight-decay", min=0, max=1)
    max_grad_norm: float = opt(1.0, "Clip gradients to this norm (0 disables).", flag="--max-grad-norm", min=0)
    grad_checkpointing: bool = opt(False, "Recompute activations in the backward pass: much less "
                                   "memory, about 30% slower. Off unless memory needs it.",
                                   flag="--grad-checkpointing")
    auto_grad_checkpointing: bool = opt(True, "Turn gradient checkpointing on by itself when the memory "
                                        "estimate of the run does not fit the memory free on the device "
                                        "when training starts (the worker logs why).",
                                        flag="--auto-grad-checkpointing")
    packing: bool = opt(True, "Padding-free packing: the examples of a batch are concatenated into one "
                        "row and attention is kept within each example, so no compute is spent on padding. "
                        "Same examples per step and same token-averaged loss as padded batches; checked on "
                        "the model before training (it falls back to padding if the check fails).",
                        flag="--packing")
    group_by_length: bool = opt(False, "Batch examples of similar length together (transformers' "
                                "group_by_length): fewer pad tokens when packing is off, but the batches "
                                "then go from long to short examples instead of being random, which changes "
                                "the loss curve. With packing there is no padding to save.",
                                flag="--group-by-length")
    liger: str = opt("auto", "Liger Kernel fused ops (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy) "
                     "on CUDA: auto uses them when liger-kernel is installed (pip install "
                     "'lora-studio[cuda]') and supports the model type; on fails if it cannot.",
                     flag="--liger", choices=("auto", "on", "off"))
    seed: int = opt(42, "Seed for weights init, dropout and data order.", flag="--seed", min=0)
    log_every: int = opt(1, "Report train metrics every N steps.", flag="--log-every", min=1)
    eval_every: int = opt(0, "Evaluate every N steps; 0 evaluates once per epoch.", flag="--eval-every", min=0)
    save_every: int = opt(100, "Save a resumable checkpoint every N steps; 0 saves only at the end "
                          "and on cancel.", flag="--save-every", min=0)
    keep_checkpoints: int = opt(3, "How many recent checkpoints to keep on disk.", flag="--keep-checkpoints", min=1)
    early_stopping: int = opt(0, "Stop when eval loss has not improved for N evaluations (0 = off).",
                              flag="--early-stopping", min=0)
    sample_predictions: int = opt(4, "Held-out prompts answered at each evaluation (greedy, the same prompts "
                                  "each time), shown next to the expected answer with exact match and "
                                  "similarity on the Runs page and in `studio runs show` (0 = off).",
                                  flag="--sample-predictions", min=0, max=64)
    sample_max_tokens: int = opt(48, "Most tokens generated per prediction sample; an answer stops earlier "
                                 "at the end of its turn.", flag="--sample-max-tokens", min=1, max=4096)
    report_to: list = opt(help="Also log to these experiment trackers (each installed separately): tensorboard "
                               "(<run>/tensorboard), mlflow (the workspace's mlruns store, or MLFLOW_TRACKING_URI; "
                               "the run config as params, the adapter as an artifact), wandb (offline in the run "
                               "folder unless WANDB_MODE is set). See docs/tracking.md.",
                          flag="--report-to", factory=list)


@dataclass
class PreferenceOptions:
    """Settings of the preference objectives (train.objective dpo, orpo, kto); SFT ignores them."""

    beta: float = opt(0.1, "dpo/kto: how far the adapter may move from the reference (higher keeps it closer); "
                      "orpo: the weight of the odds-ratio penalty (lambda in the paper). 0.1 is typical.",
                      flag="--beta", gt=0, max=100)
    dpo_loss: str = opt("sigmoid", "dpo only: the loss TRL applies to the reward margin: sigmoid (the DPO "
                        "paper), ipo (no overfitting to deterministic preferences), hinge (SLiC), robust (noisy "
                        "labels), bco_pair, sppo_hard, nca_pair, apo_zero or apo_down.", flag="--dpo-loss",
                        choices=DPO_LOSS_CHOICES)
    desirable_weight: float = opt(1.0, "kto only: weight of the desirable answers' loss; raise it when the "
                                  "data holds fewer desirable than undesirable answers.",
                                  flag="--desirable-weight", gt=0, max=100)
    undesirable_weight: float = opt(1.0, "kto only: weight of the undesirable answers' loss.",
                                    flag="--undesirable-weight", gt=0, max=100)


@dataclass
class RunConfig:
    name: str = opt("", "Name of the adapter in the library; a name that exists gets a new "
                    "version (-v2, -v3, ...).", flag="--name")
    model: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    lora: LoraOptions = field(default_factory=LoraOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    pref: PreferenceOptions = field(default_factory=PreferenceOptions)

    def validate(self) -> "RunConfig":
        """Check every field's limits, then the rules that tie fields together."""
        for section_name, section in sections(self):
            for f in dataclasses.fields(section):
                _check_field(section_name, f, getattr(section, f.name))
        if not self.model.name_or_path:
            raise ConfigError("no base model given (model.name_or_path is empty)",
                              hint="pass --model with a model folder or hub id, or run `studio demo` "
                                   "to build the demo model")
        if not self.data.path:
            raise ConfigError("no training data given (data.path is empty)",
                              hint="pass --data with a JSONL/JSON/CSV/Parquet/txt file")
        if not self.lora.targets:
            raise ConfigError("lora.targets is empty", hint="use --targets all-linear or names such as q_proj,v_proj")
        has_eval = bool(self.data.eval_path) or self.data.eval_split > 0
        if self.train.early_stopping and not has_eval:
            raise ConfigError("train.early_stopping needs evaluation data, but eval_split is 0 and "
                              "there is no eval file", hint="set --eval-split 0.1 or --eval-data FILE, "
                                                            "or --early-stopping 0")
        if self.train.objective == "kto" and self.train.batch_size < 2:
            raise ConfigError("train.objective kto needs train.batch_size of at least 2: KTO's KL term compares each "
                              "answer with another prompt of its batch", hint="set --batch-size 2 or more")
        for tracker in self.train.report_to:
            if tracker not in ("tensorboard", "mlflow", "wandb"):
                raise ConfigError(f"train.report_to: unknown tracker {tracker!r}",
                                  hint="use tensorboard, mlflow or wandb, e.g. --report-to mlflow "
                                       "(each is installed separately)")
        if len(set(self.train.report_to)) != len(self.train.report_to):
            raise ConfigError(f"train.report_to lists a tracker twice: {', '.join(self.train.report_to)}",
                              hint="name each tracker once, e.g. --report-to mlflow,tensorboard")
        return self


def sections(config: RunConfig) -> list[tuple[str, Any]]:
    return [(f.name, getattr(config, f.name)) for f in dataclasses.fields(config)
            if dataclasses.is_dataclass(getattr(config, f.name))]


def _check_field(section: str, f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    key = f"{section}.{f.name}"
    fix = f"set {meta['flag']}" if meta.get("flag") else f"set {key}"
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} = {value} is not a finite number", hint=fix + " to a number")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key} = {value!r} is not one of {', '.join(meta['choices'])}",
                          hint=f"{fix} to one of: {', '.join(meta['choices'])}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if meta.get("min") is not None and value < meta["min"]:
            raise ConfigError(f"{key} = {value} is too small: it must be at least {meta['min']}",
                              hint=f"{fix} to {meta['min']} or more ({meta['help']})")
        if meta.get("gt") is not None and value <= meta["gt"]:
            raise ConfigError(f"{key} = {value} must be greater than {meta['gt']}",
                              hint=f"{fix} to a value above {meta['gt']} ({meta['help']})")
        if meta.get("max") is not None and value > meta["max"]:
            raise ConfigError(f"{key} = {value} is too large: it must be at most {meta['max']}",
                              hint=f"{fix} to {meta['max']} or less ({meta['help']})")


def field_help(config: RunConfig, key: str) -> str:
    """Help text of a dotted key such as 'lora.rank' (the GUI's tooltips)."""
    section, _, name = key.partition(".")
    target = getattr(config, section) if name else config
    name = name or section
    for f in dataclasses.fields(target):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(key)
