"""One base model in memory, with adapters attached to it by name.

The base is loaded once; each adapter is added with peft's `load_adapter` under a short internal
name (library names may contain dots, which peft's module dicts do not allow). Switching is
`set_adapter` (one adapter active) or `disable_adapter_layers` (the base alone): flags on the
LoRA layers, no weights move, so it takes milliseconds however large the model is. Two adapters
therefore cost one model plus two small sets of LoRA matrices.

An adapter is identified by its folder and the weights' mtime/size, so a checkpoint folder that
was rewritten, or a library adapter that was replaced, is loaded again instead of reused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from studio.core.adapter_compat import check_base
from studio.core.config import ModelOptions
from studio.core.errors import ModelError
from studio.core.slots import SlotSpec
from studio.engine.worker_io import Emitter


UNKNOWN = object()   # the active adapter after attach/delete: set it again before use


@dataclass
class Attached:
    name: str            # peft adapter name inside the model
    spec: SlotSpec
    params: int
    bytes: int


class AdapterPool:
    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.model: Any = None
        self.tokenizer: Any = None
        self.options: ModelOptions | None = None
        self.source = ""
        self.device = ""
        self.dtype: Any = None
        self.attached: dict[str, Attached] = {}     # key (folder + stamp) -> adapter
        self._active: object = UNKNOWN               # adapter name; None = base alone
        self._counter = 0

    # ----- the base model -----------------------------------------------------------------------
    def same_base(self, options: ModelOptions) -> bool:
        return self.model is not None and self.options == options

    def load_base(self, options: ModelOptions, steps: int) -> None:
        """Load base model and tokenizer; `steps` is the progress total (base + adapters)."""
        from studio.engine.model_loading import compute_dtype, load_model, load_tokenizer, pick_device, \
            resolve_source

        self.unload()
        self.device = pick_device()
        self.dtype = compute_dtype(options.dtype, self.device)
        if options.quant != "none" and self.device not in ("cuda", "cpu"):
            raise ModelError(f"{options.quant} quantization is not supported on {self.device}",
                             hint="load the base with quant none on this machine")
        self.emitter.emit("stage", name="load_model", message=f"loading {options.name_or_path}")
        self.source = resolve_source(options)
        self.tokenizer = load_tokenizer(self.source, options)
        self.emitter.emit("progress", step=1, max_steps=steps, what="tokenizer")
        model = load_model(self.source, options, self.device, dtype=self.dtype)
        model.eval()
        self.model, self.options = model, options
        self.emitter.emit("progress", step=2, max_steps=steps, what="base model")

    def unload(self) -> None:
        self.model = self.tokenizer = self.options = None
        self.attached.clear()
        self._active = UNKNOWN
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    # ----- adapters ------------------------------------------------------------------------------
    def attach(self, spec: SlotSpec) -> Attached | None:
        """The adapter for this slot, loaded once; None for the base slot."""
        if spec.is_base:
            return None
        key = f"{spec.path}|{spec.stamp}"
        if key in self.attached:
            return self.attached[key]
        assert spec.path is not None
        check = check_base(spec.path, given=self.source)
        if check.status == "mismatch":
            raise ModelError(f"adapter {spec.label} does not fit the base model {self.options.name_or_path}: "
                             f"{check.problems[0]}",
                             hint=f"it was made for {spec.base_model or 'another model'}; load that base instead")
        if check.status == "different":
            self.emitter.emit("warning", kind="base_model", spec=spec.spec, message=(
                f"adapter {spec.label} was trained on a different version of this base model "
                "(content hash differs); it loads, but its answers may be poor"))
        from peft import PeftModel

        self._counter += 1
        name = f"adapter{self._counter}"
        try:
            if self.attached or hasattr(self.model, "peft_config"):
                self.model.load_adapter(str(spec.path), adapter_name=name, is_trainable=False)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(spec.path), adapter_name=name,
                                                       is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"could not attach adapter {spec.label} to {self.options.name_or_path}: {first[:300]}",
                             hint="check that the adapter was trained on this base model") from None
        self.model.eval()
        self._active = UNKNOWN
        params = sum(p.numel() for n, p in self.model.named_parameters() if f".{name}." in n)
        size = sum(p.numel() * p.element_size() for n, p in self.model.named_parameters() if f".{name}." in n)
        attached = Attached(name, spec, int(params), int(size))
        self.attached[key] = attached
        return attached

    def keep_only(self, names: set[str]) -> None:
        """Delete adapters no slot uses any more, so memory stays one base plus what is shown."""
        for key, attached in list(self.attached.items()):
            if attached.name not in names:
                self.model.delete_adapter(attached.name)
                del self.attached[key]
        if not self.attached and hasattr(self.model, "peft_config"):
            self.model = self.model.unload()   # back to the plain base model: no LoRA layers left
        self._active = UNKNOWN

    def activate(self, name: str | None) -> None:
        """Make `name` the adapter in use (None: the base alone). A no-op when it already is."""
        if name == self._active or not hasattr(self.model, "peft_config"):
            return
        if name is None:
            self.model.base_model.disable_adapter_layers()
        else:
            if self._active is None or self._active is UNKNOWN:
                self.model.base_model.enable_adapter_layers()
            self.model.set_adapter(name, inference_mode=True)
        self._active = name

    # ----- reporting -----------------------------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        import psutil

        from studio.engine.memory_watch import peak_rss_bytes

        info: dict[str, Any] = {"rss_bytes": psutil.Process(os.getpid()).memory_info().rss,
                                "peak_rss_bytes": peak_rss_bytes() or None}
        try:
            import torch

            if torch.cuda.is_available():
                info["gpu_bytes"] = torch.cuda.memory_allocated()
        except ImportError:
            pass
        return info

    def describe(self) -> dict[str, Any]:
        return {"base": self.options.name_or_path if self.options else None, "source": self.source,
                "device": self.device, "dtype": str(self.dtype).replace("torch.", ""),
                "quant": self.options.quant if self.options else None,
                "base_params": sum(p.numel() for n, p in self.model.named_parameters() if "lora_" not in n)
                if self.model is not None else 0, "time": time.time()}
