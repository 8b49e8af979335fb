"""Padding-free packing keeps examples apart: packed and separate runs give the same losses,
gradients and logits, with the attention implementations studio trains with."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from studio.core.bench.data import make_rows  # noqa: E402
from studio.engine import packing  # noqa: E402
from studio.engine.tokenization import IGNORE, tokenize_records  # noqa: E402


def load(tiny_model: Path, attn: str, **kwargs):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attn, **kwargs)
    model.config.use_cache = False  # as the Trainer sets it
    return model


@pytest.fixture(scope="module")
def examples(tiny_model: Path) -> list[dict]:
    """Chat examples of mixed lengths (one-ticket and multi-ticket rows) with assistant-only labels."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = make_rows(12, seed=3)
    encoded, _, _ = tokenize_records(tokenizer, rows, [""] * len(rows), 1024, "assistant")
    chosen = sorted(encoded, key=lambda e: e["length"])
    chosen = [chosen[0], chosen[-1], chosen[1], chosen[-2], chosen[2]]  # short and long, interleaved
    assert max(e["length"] for e in chosen) > 3 * min(e["length"] for e in chosen)
    return [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in chosen]


def summed_losses(logits, labels) -> list:
    """Per-example summed next-token cross-entropy; `logits`/`labels` are per-example tensors."""
    out = []
    for lg, lb in zip(logits, labels):
        out.append(torch.nn.functional.cross_entropy(lg[:-1].float(), lb[1:], ignore_index=IGNORE, reduction="sum"))
    return out


def packed_and_separate(model, examples, separate_model=None) -> tuple[list, list]:
    batch = packing.flattening_collator()(examples, return_tensors="pt")
    bounds = batch["cu_seq_lens_q"].tolist()
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
    packed = summed_losses([logits[s:e] for s, e in zip(bounds[:-1], bounds[1:])],
                           [torch.tensor(ex["labels"]) for ex in examples])
    alone = separate_model or model
    separate = summed_losses([alone(input_ids=torch.tensor([ex["input_ids"]])).logits[0] for ex in examples],
                             [torch.tensor(ex["labels"]) for ex in examples])
    return packed, separate


@pytest.mark.parametrize("attn", ["studio_packed_sdpa", "sdpa", "eager"])
def test_packed_per_example_losses_equal_separate_runs(tiny_model: Path, examples, attn: str) -> None:
    if attn == packing.PACKED_SDPA:
        packing.register_packed_sdpa()
    model = load(tiny_model, attn).eval()
    assert model.config._attn_implementation == attn
    with torch.no_grad():
        packed, separate = packed_and_separate(model, examples)
    for p, s in zip(packed, separate):
        assert p > 0 and abs(p.item() - s.item()) <= 1e-4 * s.item(), (attn, packed, separate)


def test_concatenation_without_boundaries_would_mix_examples(tiny_model: Path, examples) -> None:
    """The same comparison fails when the position ids do not restart: the test can tell."""
    from transformers import DataCollatorWithFlattening

    model = load(tiny_model, "sdpa").eval()
    batch = DataCollatorWithFlattening(return_position_ids=False)(examples, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"]).logits[0]
        separate = model(input_ids=torch.tensor([examples[1]["input_ids"]])).logits[0]
    start = len(examples[0]["input_ids"])
    mixed = logits[start: start + len(examples[1]["input_ids"])]
    assert (mixed - separate).abs().max() > 0.1


def test_check_packing_accepts_exact_and_rejects_mixing(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load(tiny_model, "sdpa").train()
    assert packing.packing_attention(model) == packing.PACKED_SDPA
    exact, difference = packing.check_packing(model)
    assert exact and difference < 1e-5
    assert model.training  # the check leaves the mode as it found it

    from transformers import DataCollatorWithFlattening

    monkeypatch.setattr(packing, "flattening_collator", lambda: DataCollatorWithFlattening(return_position_ids=False))
    exact, difference = packing.check_packing(load(tiny_model, "sdpa"))
    assert not exact and difference > 0.05


def test_one_step_learns_the_same_packed_as_padded(tiny_model: Path, examples) -> None:
    """Same token-averaged loss and same LoRA gradients as the padded batch of the baseline."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    grads, losses = {}, {}
    for mode in ("padded", "packed"):
        torch.manual_seed(0)
        model = load(tiny_model, "sdpa")
        if mode == "packed":
            assert packing.enable_packing(model)[0]
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"))
        collate = packing.flattening_collator() if mode == "packed" else DataCollatorForSeq2Seq(tokenizer, padding=True)
        batch = collate(examples, return_tensors="pt") if mode == "packed" else collate(examples)
        loss = model(**batch).loss
        loss.backward()
        losses[mode] = loss.item()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and "lora_B" in n}
    assert abs(losses["packed"] - losses["padded"]) < 1e-5 * losses["padded"]
    assert grads["packed"].keys() == grads["padded"].keys() and grads["packed"]
    for name, grad in grads["packed"].items():
        assert torch.allclose(grad, grads["padded"][name], rtol=1e-3, atol=1e-6), name


def test_padded_batches_still_work_with_the_packed_attention(tiny_model: Path, examples) -> None:
    """Evaluation or a fallback may send padded batches: they get sdpa with its padding mask."""
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True)(examples)
    with torch.no_grad():
        plain = load(tiny_model, "sdpa").eval()(**batch).loss
        switched = load(tiny_model, "sdpa")
        packing.packing_attention(switched)
        assert switched.config._attn_implementation == packing.PACKED_SDPA
        assert abs(switched.eval()(**batch).loss.item() - plain.item()) < 1e-5


def test_packing_is_exact_on_a_4bit_model(tiny_model: Path) -> None:
    pytest.importorskip("bitsandbytes")
    from transformers import BitsAndBytesConfig

    model = load(tiny_model, "sdpa", quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32))
    on, note = packing.enable_packing(model)
    assert on, note


@pytest.mark.parametrize("packed_attention", [False, True])
def test_sliding_window_models_keep_their_window(packed_attention: bool) -> None:
    """Mistral-style sliding-window attention: packed per-example losses equal separate runs, and
    a plain forward longer than the window matches transformers' own sdpa."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, sliding_window=6,
                           max_position_embeddings=128, attn_implementation="sdpa", use_cache=False)
    model = MistralForCausalLM(config).eval()
    reference = MistralForCausalLM(copy.deepcopy(config)).eval()  # its own config: keeps plain sdpa
    reference.load_state_dict(model.state_dict())
    if packed_attention:
        assert packing.packing_attention(model) == packing.PACKED_SDPA
    examples = [{"input_ids": ids, "labels": ids} for ids in
                (list(range(5, 30)), list(range(40, 48)), list(range(50, 70)))]
    with torch.no_grad():
        packed, separate = packed_and_separate(model, examples, separate_model=reference)
        long_row = torch.tensor([list(range(3, 40))])
        assert reference.config._attn_implementation == "sdpa"
        assert torch.allclose(model(input_ids=long_row).logits, reference(input_ids=long_row).logits, atol=1e-5)
    for p, s in zip(packed, separate):
        assert abs(p.item() - s.item()) <= 1e-4 * s.item(), (packed, separate)


def test_4bit_layers_still_train_after_an_evaluation_forward(tiny_model: Path, examples) -> None:
    """bitsandbytes repacks 4-bit weights for inference on the first no-grad eval forward (on
    AVX512-BF16 CPUs) and then passes no gradient through them; the training worker prevents it."""
    pytest.importorskip("bitsandbytes")
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoTokenizer, BitsAndBytesConfig, DataCollatorForSeq2Seq, set_seed

    from studio.engine.model_loading import keep_4bit_layers_trainable

    batch = DataCollatorForSeq2Seq(AutoTokenizer.from_pretrained(tiny_model), padding=True)(examples)
    grads = {}
    for case in ("fresh", "after_eval"):
        model = load(tiny_model, "sdpa", quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32))
        keep_4bit_layers_trainable(model)
        if case == "after_eval":
            with torch.no_grad():
                model.eval()(**batch)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        set_seed(0)
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"))
        model.train()(**batch).loss.backward()
        grads[case] = {n: p.grad for n, p in model.named_parameters() if "lora_B" in n}
    for name, grad in grads["fresh"].items():
        assert grad.norm() > 0 and torch.allclose(grads["after_eval"][name], grad, rtol=1e-4, atol=1e-7), name
