"""Which characters count toward the loss, against templates shaped like the major families:
the trained text must be exactly the assistant's turns as each template renders them."""

from __future__ import annotations

import pytest

import chat_templates as T
from studio.engine.demo_model import build_tokenizer
from studio.engine.tokenization import TemplateProblem, TemplateUnsupported, describe_example

Q1, A1, Q2, A2 = "What is 2+2?", "4", "And 3+3?", "6"
TWO_TURNS = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1},
             {"role": "user", "content": Q2}, {"role": "assistant", "content": A2}]
SYSTEM = [{"role": "system", "content": "Be brief."}]


def show(template: str, messages: list[dict], loss_on: str = "assistant", tools: list | None = None) -> dict:
    tokenizer = build_tokenizer()
    tokenizer.chat_template = template
    record = {"messages": messages, **({"tools": tools} if tools else {})}
    return describe_example(tokenizer, record, 4096, loss_on)


@pytest.mark.parametrize("template, system, trained", [
    (T.CHATML, True, "4<|im_end|>\n6<|im_end|>\n"),
    (T.CHATML_MARKED, True, "4<|im_end|>6<|im_end|>"),            # exactly what {% generation %} marks
    (T.LLAMA3, True, "4<|eot_id|>6<|eot_id|>"),
    (T.GEMMA, False, "4<end_of_turn>\n6<end_of_turn>\n"),
    (T.GEMMA_FOLDED, True, "4<end_of_turn>\n6<end_of_turn>\n"),
    (T.MISTRAL, False, " 4<|eos|> 6<|eos|>"),
    (T.PHI3, True, "4<|end|>\n6<|end|>\n<|eos|>"),                  # the last turn ends the text with eos
    (T.QWEN3_THINKING, True, "4<|im_end|>\n<think>\n\n</think>\n\n6<|im_end|>\n"),
], ids=["chatml", "chatml-marked", "llama3", "gemma", "gemma-folded", "mistral", "phi3", "qwen3"])
def test_families_train_every_answer_and_its_end_of_turn(template: str, system: bool, trained: str) -> None:
    view = show(template, (SYSTEM if system else []) + TWO_TURNS)
    assert view["trained_text"] == trained
    assert Q1 in view["text"] and "Be brief." in view["text"] or not system
    assert view["unrendered_turns"] == 0


def with_control_tokens(template: str, tokens: list[str]) -> object:
    """The demo tokenizer with a family's control tokens as special tokens, as its real tokenizer has."""
    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": tokens})
    tokenizer.chat_template = template
    return tokenizer


CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]


@pytest.mark.parametrize("template, tokens, system, trained", [
    (T.CHATML, CHATML_TOKENS, True, "4<|im_end|>6<|im_end|>"),
    (T.QWEN3_THINKING, CHATML_TOKENS, True, "4<|im_end|><think>\n\n</think>\n\n6<|im_end|>"),
    (T.GEMMA, ["<start_of_turn>", "<end_of_turn>"], False, "4<end_of_turn>6<end_of_turn>"),
    (T.LLAMA3, ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], True, "4<|eot_id|>6<|eot_id|>"),
], ids=["chatml", "qwen3", "gemma", "llama3"])
def test_the_separator_after_an_end_of_turn_token_is_not_trained(template: str, tokens: list[str], system: bool,
                                                                 trained: str) -> None:
    view = describe_example(with_control_tokens(template, tokens), {"messages": (SYSTEM if system else []) + TWO_TURNS},
                            4096, "assistant")
    assert view["trained_text"] == trained


def test_labels_match_the_assistant_mask_trl_trains_with() -> None:
    """TRL's assistant_only_loss trains the tokens a template's {% generation %} blocks mark
    (transformers' return_assistant_tokens_mask); the same template without markers gets the
    same labels on the same ids."""
    messages = SYSTEM + TWO_TURNS
    marked = with_control_tokens(T.CHATML_MARKED, CHATML_TOKENS)
    mask = marked.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    ours = describe_example(with_control_tokens(T.CHATML, CHATML_TOKENS), {"messages": messages}, 4096, "assistant")
    assert ours["input_ids"] == mask["input_ids"]
    assert [label != -100 for label in ours["labels"]] == [bool(m) for m in mask["assistant_masks"]]


def test_gemma_without_system_role_rejects_a_system_message() -> None:
    with pytest.raises(TemplateProblem, match="System role not supported"):
        show(T.GEMMA, SYSTEM + TWO_TURNS)


def test_generation_markers_are_used_even_when_prefixes_would_agree() -> None:
    # "<|im_end|>" is plain text to the demo tokenizer, so the newline after it is not cut as an
    # end-of-turn token's separator (see the test below with it as a token); the markers still cut it.
    plain, marked = show(T.CHATML, TWO_TURNS), show(T.CHATML_MARKED, TWO_TURNS)
    assert plain["text"] == marked["text"]
    assert plain["trained_text"] == "4<|im_end|>\n6<|im_end|>\n" and marked["trained_text"] == "4<|im_end|>6<|im_end|>"


def test_qwen3_drops_earlier_reasoning_and_the_mask_follows_the_render() -> None:
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1, "reasoning_content": "two and two"},
                {"role": "user", "content": Q2}, {"role": "assistant", "content": A2, "reasoning_content": "three twice"}]
    view = show(T.QWEN3_THINKING, messages)
    assert "two and two" not in view["text"]                    # the template's own history rule
    assert view["trained_text"] == "4<|im_end|>\n<think>\nthree twice\n</think>\n\n6<|im_end|>\n"


def test_a_turn_the_template_does_not_show_is_not_trained() -> None:
    view = show(T.REWRITING, TWO_TURNS)
    assert view["text"].count("...") == 1 and view["trained_text"] == "6<|eos|>"
    assert view["unrendered_turns"] == 1


def test_qwen3_tool_call_turns_train_the_call_not_the_result() -> None:
    tools = [{"type": "function", "function": {"name": "add", "description": "Add two numbers",
                                               "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}}]
    messages = [{"role": "user", "content": Q1},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
                {"role": "tool", "name": "add", "content": "4"},
                {"role": "assistant", "content": "It is 4."}]
    view = show(T.QWEN3_THINKING, messages, tools=tools)
    assert '"name": "add", "description": "Add two numbers"' in view["text"]     # the schema is in the prompt
    assert view["trained_text"] == ('\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 2}}\n</tool_call>'
                                    "<|im_end|>\n<think>\n\n</think>\n\nIt is 4.<|im_end|>\n")
    assert "<tool_response>" not in view["trained_text"]


def test_templates_that_cannot_render_tools_or_reasoning_are_refused() -> None:
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]
    with pytest.raises(TemplateUnsupported, match="tool definitions"):
        show(T.CHATML, TWO_TURNS, tools=tools)
    call = [{"role": "user", "content": Q1}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "add", "arguments": {}}}]}]
    with pytest.raises(TemplateUnsupported, match="tool calls"):
        show(T.LLAMA3, call)
    with pytest.raises(TemplateUnsupported, match="reasoning"):
        show(T.CHATML, [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1,
                                                           "reasoning_content": "think"}])


def test_developer_role_is_system_unless_the_template_knows_it() -> None:
    messages = [{"role": "developer", "content": "Be brief."}] + TWO_TURNS
    assert show(T.CHATML, messages)["text"].startswith("<|im_start|>system\nBe brief.")
    assert show(T.WITH_DEVELOPER, messages)["text"].startswith("<|developer|>Be brief.")


def test_turn_flags_and_parts_with_every_template_family() -> None:
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1, "train": False},
                {"role": "user", "content": Q2},
                {"role": "assistant", "content": "six, 6", "train_detail": [[0, 5, False], [5, 6, True]]}]
    for template, end in ((T.CHATML, "<|im_end|>\n"), (T.LLAMA3, "<|eot_id|>"), (T.QWEN3_THINKING, "<|im_end|>\n")):
        view = show(template, messages)
        assert view["trained_text"].endswith("6" + end) and "six, 6" in view["text"], template
        assert "six" not in view["trained_text"] and "4<" not in view["trained_text"]


def test_loss_on_all_still_masks_turns_marked_not_to_train() -> None:
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1, "train": False},
                {"role": "user", "content": Q2}, {"role": "assistant", "content": A2}]
    view = show(T.CHATML, messages, loss_on="all")
    assert view["trained_text"] == view["text"].replace("<|im_start|>assistant\n4<|im_end|>\n", "<|im_start|>assistant\n")


def test_characters_split_across_tokens_stay_whole() -> None:
    view = show(T.CHATML, [{"role": "user", "content": "你好 😀"}, {"role": "assistant", "content": "好的 👍"}])
    assert "\ufffd" not in view["text"] and view["trained_text"] == "好的 👍<|im_end|>\n"
    assert view["tokens"] > len(view["pieces"])          # several byte tokens make one character
    assert ["👍", True] in view["pieces"]


ADD = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
CALL_ADD = {"role": "assistant", "content": "", "tool_calls": [
    {"type": "function", "function": {"name": "add", "arguments": {"a": 2}}}]}


def test_a_template_that_moves_the_tool_list_still_trains_each_call() -> None:
    messages = [{"role": "user", "content": Q1}, CALL_ADD, {"role": "tool", "content": "4"},
                {"role": "assistant", "content": "done"}, {"role": "user", "content": "again"},
                {"role": "assistant", "content": "x"}]
    view = show(T.MISTRAL_TOOLS, messages, tools=ADD)
    assert view["trained_text"] == '[TOOL_CALLS] [{"name": "add", "arguments": {"a": 2}}]<|eos|> done<|eos|> x<|eos|>'
    assert view["unrendered_turns"] == 0


def test_a_template_that_writes_names_but_not_calls_is_refused() -> None:
    messages = [{"role": "user", "content": Q1}, CALL_ADD, {"role": "tool", "name": "add", "content": "4"},
                {"role": "assistant", "content": "done"}]
    with pytest.raises(TemplateUnsupported, match="tool calls"):
        show(T.NAMES_NOT_CALLS, messages)


def test_a_template_that_strips_think_blocks_refuses_inline_reasoning() -> None:
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": "<think>\n2 and 2\n</think>\n\n4"}]
    with pytest.raises(TemplateUnsupported, match="<think>"):
        show(T.R1_STRIPS_THINK, messages)
    assert show(T.CHATML, messages)["trained_text"] == "<think>\n2 and 2\n</think>\n\n4<|im_end|>\n"


def test_a_turn_whose_end_cannot_be_told_rejects_the_row_not_the_run() -> None:
    messages = [{"role": "user", "content": Q1}, CALL_ADD, {"role": "tool", "content": "4"},
                {"role": "assistant", "content": "done"}]
    with pytest.raises(TemplateProblem, match="cannot tell where turn 2 ends"):
        show(T.CALLS_IN_HISTORY_ONLY, messages)


def test_parts_are_placed_where_the_template_writes_the_text() -> None:
    # The untrained part's text also occurs in the reasoning before it, and Llama-3 trims the content.
    messages = [{"role": "user", "content": Q1},
                {"role": "assistant", "content": "ok then", "reasoning_content": "i say ok",
                 "train_detail": [[0, 3, False], [3, 7, True]]}]
    assert show(T.QWEN3_THINKING, messages)["trained_text"] == "<think>\ni say ok\n</think>\n\nthen<|im_end|>\n"
    trimmed = [{"role": "user", "content": Q1},
               {"role": "assistant", "content": " draft: final ", "train_detail": [[0, 8, False], [8, 14, True]]}]
    assert show(T.LLAMA3, trimmed)["trained_text"] == "final<|eot_id|>"
