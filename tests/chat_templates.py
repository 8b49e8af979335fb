"""Chat templates shaped like the major model families, written for the tests (not copied from
any model): the control-token layout, the system-role rules, tool calling and reasoning rules
that decide which characters are the assistant's."""

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# ChatML whose assistant text is marked with {% generation %}: the end-of-turn newline is not marked.
CHATML_MARKED = ("{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>assistant\n"
                 "{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}{{ '\\n' }}"
                 "{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")

# Gemma 2: no system role (it raises), the assistant is "model".
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
         "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
         "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")

# Gemma 3: the system text is folded into the first user turn.
GEMMA_FOLDED = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\n\n' %}"
                "{% set rest = messages[1:] %}{% else %}{% set first = '' %}{% set rest = messages %}{% endif %}"
                "{% for m in rest %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
                "<start_of_turn>{{ role }}\n{% if loop.first %}{{ first }}{% endif %}{{ m['content'] | trim }}"
                "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")

# Mistral: [INST] user [/INST] answer</s>, roles must alternate, no generation prompt of its own.
MISTRAL = ("{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}"
           "{% endif %}{% endfor %}")

PHI3 = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}")

# Qwen3-like: tools in the system turn, tool calls as <tool_call> JSON, tool results as a user turn
# with <tool_response>; reasoning shown only for the turns after the last user question (and the
# last turn always gets a <think> block), so earlier turns render differently once a new question
# follows them.
QWEN3_THINKING = (
    "{%- if tools %}{{ '<|im_start|>system\n' }}{% if messages[0]['role'] == 'system' %}"
    "{{ messages[0]['content'] + '\n\n' }}{% endif %}{{ '# Tools\n<tools>' }}"
    "{% for tool in tools %}{{ '\n' + (tool | tojson) }}{% endfor %}{{ '\n</tools><|im_end|>\n' }}"
    "{%- elif messages[0]['role'] == 'system' %}{{ '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- set ns = namespace(last_query=-1) %}"
    "{%- for m in messages %}{% if m['role'] == 'user' %}{% set ns.last_query = loop.index0 %}{% endif %}{% endfor %}"
    "{%- for m in messages %}"
    "{%- if m['role'] == 'user' %}{{ '<|im_start|>user\n' + m['content'] + '<|im_end|>\n' }}"
    "{%- elif m['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{%- set reasoning = m.reasoning_content or '' %}"
    "{%- if loop.index0 > ns.last_query and (loop.last or reasoning) %}"
    "{{ '<think>\n' + reasoning + '\n</think>\n\n' }}{% endif %}{{ m['content'] }}"
    "{%- for call in m.tool_calls or [] %}{{ '\n<tool_call>\n' + ({'name': call.function.name, "
    "'arguments': call.function.arguments} | tojson) + '\n</tool_call>' }}{% endfor %}{{ '<|im_end|>\n' }}"
    "{%- elif m['role'] == 'tool' %}"
    "{{ '<|im_start|>user\n<tool_response>\n' + m['content'] + '\n</tool_response><|im_end|>\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# An assistant-only rewrite: earlier answers are replaced by "...", so they are not rendered at all.
REWRITING = ("{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}<|assistant|>...<|eos|>"
             "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endif %}{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>{% endif %}")

# Knows the developer role (as OpenAI's newer templates do).
WITH_DEVELOPER = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endfor %}"
                  "{# developer is a role of its own here #}{% if add_generation_prompt %}<|assistant|>{% endif %}")

# Mistral-like tool calling: the tool list goes before the *last* user question, calls are written
# as [TOOL_CALLS] JSON with no assistant header, results as [TOOL_RESULTS].
MISTRAL_TOOLS = (
    "{{ bos_token }}{% set ns = namespace(last_user=-1) %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}"
    "{% if tools and loop.index0 == ns.last_user %}[AVAILABLE_TOOLS] {{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}"
    "[INST] {{ m['content'] }}[/INST]"
    "{% elif m['role'] == 'assistant' %}{% if m.tool_calls %}[TOOL_CALLS] "
    "{{ m.tool_calls | map(attribute='function') | list | tojson }}{{ eos_token }}"
    "{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% elif m['role'] == 'tool' %}[TOOL_RESULTS] {{ m['content'] }}[/TOOL_RESULTS]{% endif %}{% endfor %}")

# Writes every message's name, but never the assistant's tool calls.
NAMES_NOT_CALLS = ("{% for m in messages %}<|{{ m['role'] }}|>{% if m.name %}({{ m.name }}){% endif %}"
                   "{{ m['content'] }}<|eos|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")

# DeepSeek-R1-distill-like: the part of an answer up to </think> is removed from every answer.
R1_STRIPS_THINK = ("{% for m in messages %}{% set content = m['content'] %}"
                   "{% if m['role'] == 'assistant' and '</think>' in content %}"
                   "{% set content = content.split('</think>')[-1] %}{% endif %}"
                   "<|{{ m['role'] }}|>{{ content }}<|eos|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")

# Tool calls are written only for turns that are not the last one.
CALLS_IN_HISTORY_ONLY = ("{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>"
                         "{% if m.tool_calls and not loop.last %}<call>{{ m.tool_calls[0].function | tojson }}</call>"
                         "{% else %}{{ m['content'] }}{% endif %}<|eos|>{% else %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>"
                         "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
