"""The installed transformers + peft pair can attach and switch adapters by name (issue 18).

transformers 5.24 moved its peft integration (`model.load_adapter`, `set_adapter`, ...) to peft
0.22, so with peft 0.21 `set_adapter` raised "The version of PEFT you are using is not
compatible". pyproject's ranges exclude that pair; these tests fail on any pair that breaks either
way of attaching adapters: plain transformers (what a user of an exported adapter does) and peft's
`PeftModel` (what the chat worker, evaluation and adapter combination do), and the chat worker
itself switching adapters between its slots. .ci/run runs them
against the oldest and the newest versions the ranges allow (.ci/compat-tests.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def two_adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("adapters")
    folders = {}
    for seed, name in enumerate(["a", "b"]):
        torch.manual_seed(seed)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), config).save_pretrained(out / name)
        folders[name] = out / name
    return folders


IDS = [[1, 70, 71, 72, 73, 2]]


def test_plain_transformers_loads_and_switches_adapters(tiny_model: Path, two_adapters: dict[str, Path]) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    ids = torch.tensor(IDS)
    with torch.no_grad():
        base = model(ids).logits
        model.load_adapter(str(two_adapters["a"]), adapter_name="a")
        model.load_adapter(str(two_adapters["b"]), adapter_name="b")
        model.set_adapter("a")
        assert model.active_adapters() == ["a"]
        out_a = model(ids).logits
        model.set_adapter("b")
        out_b = model(ids).logits
        assert (out_a - base).abs().max() > 1e-4 and (out_a - out_b).abs().max() > 1e-4
        model.disable_adapters()
        assert torch.allclose(model(ids).logits, base, atol=1e-5)
        model.enable_adapters()
        assert torch.allclose(model(ids).logits, out_b, atol=1e-5)
        model.delete_adapter("a")
        assert list(model.peft_config) == ["b"]


def test_peft_model_attaches_and_switches_adapters(tiny_model: Path, two_adapters: dict[str, Path]) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor(IDS)
    with torch.no_grad():
        reference = {}
        for name, folder in two_adapters.items():
            single = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(folder))
            reference[name] = single.eval()(ids).logits
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(two_adapters["a"]),
                                          adapter_name="a", is_trainable=False)
        model.load_adapter(str(two_adapters["b"]), adapter_name="b", is_trainable=False)
        model.eval()
        for name in ["b", "a", "b"]:
            model.set_adapter(name)
            assert torch.allclose(model(ids).logits, reference[name], atol=1e-5), name


def test_chat_worker_switches_adapters_between_slots(tiny_model: Path, two_adapters: dict[str, Path],
                                                     home: Path) -> None:
    from studio.core.chat_client import ChatClient
    from studio.core.chat_protocol import Sampling

    turn = [{"role": "user", "content": "Printer on floor 3 is out of toner."}]
    a, b = str(two_adapters["a"]), str(two_adapters["b"])
    with ChatClient(home) as client:
        client.load(str(tiny_model), {"a": a, "b": b})
        first = client.generate({"a": turn, "b": turn}, Sampling(max_new_tokens=8))
        loaded = client.load(str(tiny_model), {"a": b, "b": "base"})     # b moves to slot a; a is dropped
        assert loaded["slots"]["b"]["adapter"] is None
        second = client.generate({"a": turn, "b": turn}, Sampling(max_new_tokens=8))
    assert second["a"]["text"] == first["b"]["text"] and second["a"]["tokens"] == first["b"]["tokens"]
    assert len({first["a"]["text"], first["b"]["text"], second["b"]["text"]}) >= 2, (first, second)
