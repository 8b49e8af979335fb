"""Loading the base model and tokenizer: device, dtype, quantization, and the safety rules.

Safety: only safetensors weights are loaded unless the user opted in (`allow_pickle`), and
model code from the hub runs only with `trust_remote_code`. Both are checked before transformers
is asked, so the refusal says why and what to do instead of a library traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from studio.core.config import ModelOptions
from studio.core.errors import ModelError
from studio.core.model_info import (check_model_safety, find_model_folder, inspect_model, looks_like_path,
                                    read_chat_template)


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def compute_dtype(choice: str, device: str) -> Any:
    """auto: bf16 where the GPU supports it, else fp16 on a GPU, fp32 on the CPU."""
    import torch

    if choice == "bf16":
        return torch.bfloat16
    if choice == "fp16":
        return torch.float16
    if choice == "fp32" or device == "cpu":
        return torch.float32
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def resolve_source(options: ModelOptions) -> str:
    """The folder (or hub id) to load, after the safety checks that can be made from disk."""
    name = options.name_or_path
    folder = find_model_folder(name, options.revision)
    if folder is None:
        if looks_like_path(name):
            raise ModelError(f"model folder {name} does not exist", hint="check the path given to --model")
        return name  # a hub id that is not cached yet: from_pretrained downloads it
    check_model_safety(inspect_model(folder), options)
    return str(folder)


def load_tokenizer(source: str, options: ModelOptions) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, revision=options.revision or None, trust_remote_code=options.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _load_error(source, exc, "tokenizer") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if options.chat_template:
        tokenizer.chat_template = read_chat_template(options.chat_template)
    return tokenizer


def load_model(source: str, options: ModelOptions, device: str, *, quant: str | None = None,
               dtype: Any = None) -> Any:
    """The base model, quantized as asked, on `device`."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = options.quant if quant is None else quant
    dtype = dtype or compute_dtype(options.dtype, device)
    kwargs: dict[str, Any] = {
        "revision": options.revision or None,
        "trust_remote_code": options.trust_remote_code,
        "use_safetensors": None if options.allow_pickle else True,
        "dtype": dtype,
        "attn_implementation": options.attn_implementation,
    }
    if quant == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype)
    elif quant == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    if device == "cuda" and not _sharded_launch():
        # One full replica per process (single GPU or DDP); FSDP / DeepSpeed place weights themselves.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise _load_error(source, exc, "model") from None
    if device == "mps" and quant == "none":
        model = model.to("mps")
    return model


def _sharded_launch() -> bool:
    """accelerate launch with an FSDP or DeepSpeed config sets these for every process."""
    return any(os.environ.get(name, "").lower() in ("1", "true")
               for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def keep_4bit_layers_trainable(model: Any) -> None:
    """Stop bitsandbytes from switching 4-bit layers to its CPU inference format.

    On CPUs with AVX512-BF16, the first forward in eval mode without gradients (an evaluation,
    or the packing check) repacks each Linear4bit's weights for a fast inference kernel that has
    no backward, for good: training after it silently gets no gradient through those layers
    (bitsandbytes warns "an autograd kernel was not registered"). A training worker never wants
    that format (the inference worker does, so this is called by training only).
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def _load_error(source: str, exc: Exception, what: str) -> ModelError:
    text = str(exc)
    if "trust_remote_code" in text:
        return ModelError(f"{source} needs custom code to load its {what}",
                          hint="pass --trust-remote-code if you trust this model's authors")
    if "safetensors" in text.lower() and "pytorch_model.bin" in text:
        return ModelError(f"{source} has no safetensors weights, only pickle files, which are refused by default",
                          hint="use a safetensors version of the model, or pass --allow-pickle if you trust it")
    if not Path(source).exists() and ("offline" in text.lower() or "connect" in text.lower()
                                      or "not a local folder" in text or "cache" in text.lower()):
        return ModelError(
            f"model {source!r} is not a local folder and could not be loaded from the Hugging Face hub "
            "(offline, or not in the cache)",
            hint="check the name, connect to the internet once to download it, or pass a local model folder")
    if not Path(source).exists() and ("does not appear to have" in text or "is not a valid model identifier" in text
                                      or "404" in text or "Repository Not Found" in text):
        return ModelError(f"{source!r} is neither a local folder nor a model on the Hugging Face hub",
                          hint="check the spelling of the model id or the path")
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelError(f"could not load the {what} from {source}: {first_line}",
                      hint="check that the folder is a complete Hugging Face model (config.json, "
                           "tokenizer files, *.safetensors)")
