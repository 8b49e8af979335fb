"""The demo's base model: a tiny random-init Llama with a byte-level tokenizer and a chat template.

Deterministic (fixed seed), a few MB, and built in a second, so the demo and the tests need no
download. The initializer range is larger than Llama's default so the random model's outputs are
not near-uniform; that lets a LoRA adapter drive the loss close to zero on the demo task, which
makes the loss curve read like a real fine-tune's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_dir

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"]
# Plain turns render as <|role|>text<|eos|>. Tool definitions go in the system turn, tool calls
# after the answer as <tool_call>{json}</tool_call>, reasoning before it as <think>...</think>:
# so every layout the importer reads can be trained on the demo model without a download.
CHAT_TEMPLATE = (
    "{%- if tools %}<|system|>{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n' }}{% endif %}"
    "Tools you can call:{% for tool in tools %}{{ '\\n' + (tool | tojson) }}{% endfor %}<|eos|>{% endif %}"
    "{%- for m in messages %}{% if not (tools and loop.first and m['role'] == 'system') %}"
    "{%- if m['role'] == 'assistant' %}<|assistant|>"
    "{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}{{ m['content'] }}"
    "{%- for call in m.tool_calls or [] %}<tool_call>"
    "{{ {'name': call.function.name, 'arguments': call.function.arguments} | tojson }}</tool_call>{% endfor %}"
    "<|eos|>{% else %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endif %}{% endif %}{% endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>{% endif %}"
)
MODEL_SHAPE = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024}


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>", chat_template=CHAT_TEMPLATE)


def build_demo_model(out: Path, emitter: Any = None, seed: int = 0, dtype: str = "float32", device: str = "cpu",
                     **shape: Any) -> dict[str, Any]:
    """`shape` overrides LlamaConfig fields: the benchmarks build random-init models of real sizes
    (a Qwen2.5-0.5B or Llama-3-8B shape, their vocabulary and tied embeddings included) with the
    demo's tokenizer, whose ids are a prefix of any larger vocabulary. `device`/`dtype` let an 8B
    model be initialised on a GPU in bf16 rather than as 32 GB of fp32 on the CPU."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    fields = {"vocab_size": len(tokenizer), "tie_word_embeddings": False, "initializer_range": 0.1,
              **MODEL_SHAPE, **shape}
    fields["tie_word_embeddings"] = bool(fields["tie_word_embeddings"])
    if fields["vocab_size"] < len(tokenizer):
        raise ValueError(f"vocab_size={fields['vocab_size']} is smaller than the tokenizer's {len(tokenizer)} tokens")
    config = LlamaConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, **fields)
    torch.manual_seed(seed)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default_dtype)
    with atomic_dir(out, replace=True) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=False).save_pretrained(str(tmp))
    params = sum(p.numel() for p in model.parameters())
    if emitter is not None:
        emitter.emit("log", message=f"built the demo base model ({params:,} parameters) in {out}")
    return {"path": str(out), "params": params}
