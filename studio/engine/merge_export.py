"""Merging an adapter into its base and writing a verified Hugging Face model folder.

Top to bottom: load the base at full precision (bf16/fp16/fp32, never 4/8-bit, even when the
adapter was trained with QLoRA) -> attach the adapter (peft) -> record what base + adapter
answers (export_verify) -> `merge_and_unload` -> `save_pretrained(max_shard_size=...)` into a
temporary sibling of the output folder -> free the model -> load the folder fresh with plain
`AutoModelForCausalLM.from_pretrained` and compare -> model card -> rename into place. A failed
check removes the temporary folder (or, with keep_failed, renames it to `<out>.FAILED-verification`
with a VERIFICATION_FAILED.txt inside), so nothing that looks like a good export is left behind.

Memory: at no point are two copies of the weights in memory.
- Loading: transformers builds the model on the meta device and points each parameter at the
  memory-mapped safetensors file (or, for another dtype, converts it tensor by tensor), so
  there is never a state dict next to the model.
- Merging: peft folds `scale * B @ A` into each base weight in place, one layer at a time
  (`merge_adapter` explains why not safe_merge); the only extra memory is one layer's update.
- Saving: transformers writes shard by shard, and safetensors (0.6+) writes each tensor from
  its own memory without building a bytes copy of the shard.
- Verifying: all that is kept of base + adapter is the reference logits (a few prompts x
  vocabulary); the merged model is deleted before the written folder is loaded back.
The `done` event reports peak private memory and peak RSS per stage next to the weights' size
(memory_watch explains the difference); docs/export.md has the figures for a 640 MB model.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import studio
from studio.core.atomic import atomic_dir, atomic_write_json
from studio.core.config import ModelOptions
from studio.core.errors import ModelError
from studio.core.export_plan import EXPORT_INFO, decimal_size, read_json
from studio.core.library import STUDIO_JSON
from studio.core.model_card import merged_model_card
from studio.engine.export_verify import (VerificationFailed, capture_as_trained, capture_reference, compare_as_trained,
                                         compare_merged, describe, load_prompts)
from studio.engine.memory_watch import MemoryWatch
from studio.engine.stages import Stages
from studio.engine.worker_io import Controls, Emitter

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
FAILED_SUFFIX = ".FAILED-verification"


def run_export(adapter: Path, base: str, out: Path, dtype: str, shard_size: int, emitter: Emitter,
               controls: Controls, *, revision: str = "", verify: bool = True, keep_failed: bool = False,
               device: str = "cpu", trust_remote_code: bool = False,
               prompts_file: Path | None = None, next_free_name: bool = False) -> dict[str, Any]:
    """Write the verified merged model to `out`; returns the fields of the final `done` event."""
    import torch

    from studio.engine.model_loading import pick_device, resolve_source

    started = time.monotonic()
    lineage = read_json(adapter / STUDIO_JSON)
    device = pick_device() if device == "auto" else device
    torch_dtype = getattr(torch, TORCH_DTYPES[dtype])
    options = ModelOptions(name_or_path=base, revision=revision, quant="none", trust_remote_code=trust_remote_code)
    with MemoryWatch() as memory:
        stages = _WatchedStages(emitter, memory)
        stages.enter("prepare", "reading the tokenizer and the verification prompts")
        source = resolve_source(options)
        tokenizer = _export_tokenizer(adapter, source, options, lineage.get("chat_template"))
        prompts, prompt_source = load_prompts(tokenizer, prompts_file) if verify else ([], "")
        quant = (lineage.get("base_model") or {}).get("quant")
        captured = None
        if verify and quant in ("4bit", "8bit"):  # before the full-precision model: never both in memory
            captured = _as_trained(adapter, source, options, quant, device, torch_dtype, tokenizer, prompts,
                                   stages, emitter)
        stages.enter("load_model", f"loading {base} at {dtype} on {device} (full precision, not quantized)")
        model = _load(adapter, source, options, device, torch_dtype, stages)
        model_bytes = sum(p.numel() * p.element_size() for p in model.get_base_model().parameters())
        _check_cancel(controls)
        references, as_trained = [], None
        if verify:
            stages.enter("reference", f"answering {len(prompts)} prompts with base + adapter (before merging)")
            references = capture_reference(model, tokenizer, prompts,
                                           on_prompt=lambda n: _progress(emitter, "reference", n, len(prompts)))
            as_trained = captured and compare_as_trained(captured, references, quant)
            _check_cancel(controls)

        stages.enter("merge", "merging the adapter into the base weights")
        merged = merge_adapter(model)
        del model
        _check_merged(merged)
        _check_cancel(controls)

        export_info: dict[str, Any] = {
            "name": out.name, "adapter_name": lineage.get("name") or adapter.name, "adapter_path": str(adapter),
            "base_source": source, "dtype": dtype, "shard_size": shard_size, "studio_version": studio.__version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        landed: list[Path] | None = [] if next_free_name else None
        with atomic_dir(out, landed=landed) as tmp:
            stages.enter("save", f"writing safetensors shards of up to {decimal_size(shard_size)}")
            with _FolderProgress(tmp, model_bytes, emitter):
                merged.save_pretrained(str(tmp), max_shard_size=shard_size)
            tokenizer.save_pretrained(str(tmp))
            _ensure_generation_config(merged, tmp)
            del merged
            gc.collect()
            report = None
            if verify:
                stages.enter("verify", "loading the written folder fresh and comparing with base + adapter")
                report = _verify_folder(tmp, tokenizer, references, dtype, torch_dtype, device, emitter)
                report["prompt_source"] = prompt_source
                report["as_trained"] = as_trained
                emitter.emit("result", kind="verification", **report)
                if not report["passed"]:
                    _fail(tmp, out, report, keep_failed)
            stages.enter("finish", "writing the model card")
            (tmp / "README.md").write_text(merged_model_card(lineage, export_info, report), encoding="utf-8")
            (tmp / EXPORT_INFO).write_text(json.dumps({**export_info, "lineage": lineage, "verification": report},
                                                      indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # an empty folder the user made for the export
        if landed and landed[0] != out:  # another export took the name while this one was written
            out = landed[0]
            info_path = out / EXPORT_INFO
            atomic_write_json(info_path, {**json.loads(info_path.read_text(encoding="utf-8")), "name": out.name})
    return {"status": "completed", "out": str(out), "dtype": dtype, "files": sorted(p.name for p in out.iterdir()),
            "model_bytes": model_bytes, **memory.report(),
            "verification": report and {k: v for k, v in report.items() if k != "rows"},
            "seconds": round(time.monotonic() - started, 1)}


def _load(adapter: Path, source: str, options: ModelOptions, device: str, torch_dtype: Any, stages: Stages) -> Any:
    """Base at full precision (never 4/8-bit: quant is "none" whatever the adapter was trained on) + adapter."""
    from peft import PeftModel

    from studio.engine.model_loading import load_model

    model = load_model(source, options, device, quant="none", dtype=torch_dtype)
    stages.enter("load_adapter", f"attaching {adapter.name}")
    try:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(f"adapter {adapter} does not fit base model {source}: {str(exc).splitlines()[0][:300]}",
                         hint="pass --base with the model the adapter was trained on") from None
    model.eval()
    return model


def _as_trained(adapter: Path, source: str, options: ModelOptions, quant: str, device: str, torch_dtype: Any,
                tokenizer: Any, prompts: list[Any], stages: Stages, emitter: Emitter) -> list[dict[str, Any]] | None:
    """For a QLoRA adapter: its answers on the quantized base, as it was trained and evaluated.

    Information only (export_verify.compare_as_trained): a machine without a working
    bitsandbytes skips it with a log line instead of failing the export.
    """
    from peft import PeftModel

    from studio.engine.model_loading import load_model

    stages.enter("as_trained", f"answering {len(prompts)} prompts with the {quant} base + adapter, as trained")
    quantized = None
    try:
        quantized = PeftModel.from_pretrained(load_model(source, options, device, quant=quant, dtype=torch_dtype),
                                              str(adapter), is_trainable=False)
        quantized.eval()
        return capture_as_trained(quantized, tokenizer, prompts)
    except Exception as exc:  # noqa: BLE001 - information only
        emitter.emit("log", message=f"skipped the comparison with the {quant} base: {type(exc).__name__}: {exc}")
        return None
    finally:
        del quantized
        gc.collect()


def merge_adapter(peft_model: Any) -> Any:
    """peft's merge, W += scale * B @ A one layer at a time, in place.

    In place matters for memory: the weights are private copy-on-write views of the mmapped
    checkpoint, so writing a layer turns its file pages into private pages (the file on disk is
    never written). peft's safe_merge would clone each weight while its file pages stay mapped;
    NaN/inf are refused afterwards instead (`_check_merged`).
    """
    return peft_model.merge_and_unload(safe_merge=False, progressbar=False)


class _WatchedStages(Stages):
    """Stages that also tell the memory watch which stage its samples belong to."""

    def __init__(self, emitter: Emitter, memory: MemoryWatch) -> None:
        super().__init__(emitter)
        self.memory = memory

    def enter(self, name: str, message: str = "", **fields: Any) -> None:
        super().enter(name, message, **fields)
        self.memory.stage = name


def _check_merged(model: Any) -> None:
    """A plain transformers model with plain, finite weights, or no export."""
    import torch

    leftovers = [n for n, _ in model.named_modules() if "lora_" in n]
    quantized = [n for n, m in model.named_modules() if type(m).__name__ in ("Linear4bit", "Linear8bitLt")]
    if leftovers or quantized:
        raise RuntimeError(f"merge left LoRA or quantized layers behind: {(leftovers or quantized)[:3]}")
    # in slices of 4M values: isfinite on a whole embedding matrix would allocate copies of it
    broken = [n for n, p in model.named_parameters()
              if not all(bool(torch.isfinite(part).all()) for part in p.detach().reshape(-1).split(1 << 22))]
    if broken:
        raise ModelError(f"the merged weights contain NaN or inf ({', '.join(broken[:3])}), so nothing was written",
                         hint="the adapter's weights are broken (check its training loss); train it again")


def _verify_folder(folder: Path, tokenizer: Any, references: list[Any], dtype: str, torch_dtype: Any,
                   device: str, emitter: Emitter) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if device == "cuda":
        kwargs["device_map"] = {"": 0}
    fresh = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    fresh.eval()
    try:
        return compare_merged(fresh, tokenizer, references, dtype,
                              on_prompt=lambda n: _progress(emitter, "verify", n, len(references)))
    finally:
        del fresh
        gc.collect()


def _fail(tmp: Path, out: Path, report: dict[str, Any], keep_failed: bool) -> None:
    """Nothing that looks like a good export stays: the folder goes, or gets a name that says why."""
    kept = ""
    if keep_failed:
        target = out.parent / (out.name + FAILED_SUFFIX)
        n = 1
        while target.exists():
            n += 1
            target = out.parent / f"{out.name}{FAILED_SUFFIX}-{n}"
        (tmp / "VERIFICATION_FAILED.txt").write_text(
            "This merged model does NOT match base + adapter. Do not use it.\n\n" + describe(report) + "\n\n"
            + "\n".join(report["problems"]) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        kept = f"; the failed folder was kept for inspection as {target}"
    raise VerificationFailed(
        "the merged model does not match base + adapter, so it was not exported: " + describe(report)
        + "\n" + "\n".join(report["problems"][:6]) + kept,
        hint="this is a bug in the merge or the libraries; keep the figures and the worker log, "
             "and try another --dtype (fp32 is the most exact)")


def _export_tokenizer(adapter: Path, source: str, options: ModelOptions, chat_template: str | None) -> Any:
    """The tokenizer the adapter was trained with (saved next to it), with its chat template."""
    from studio.engine.model_loading import load_tokenizer

    has_own = (adapter / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(str(adapter) if has_own else source, options)
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def _ensure_generation_config(model: Any, folder: Path) -> None:
    if (folder / "generation_config.json").is_file():
        return
    from transformers import GenerationConfig

    GenerationConfig.from_model_config(model.config).save_pretrained(str(folder))


class _FolderProgress:
    """Bytes written so far, as progress events, while save_pretrained runs (it reports nothing)."""

    def __init__(self, folder: Path, total: int, emitter: Emitter, every_s: float = 0.5) -> None:
        self.folder, self.total, self.emitter, self.every_s = folder, total, emitter, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_FolderProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            _progress(self.emitter, "save", self.total, self.total, "bytes")

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            written = sum(p.stat().st_size for p in self.folder.glob("*.safetensors") if p.is_file())
            _progress(self.emitter, "save", min(written, self.total), self.total, "bytes")


def _progress(emitter: Emitter, stage: str, done: int, total: int, unit: str = "prompts") -> None:
    emitter.emit("progress", stage=stage, step=done, max_steps=total, unit=unit)


def _check_cancel(controls: Controls) -> None:
    if controls.cancel.is_set():
        raise KeyboardInterrupt

