"""The demo's dataset: support tickets to classify, in OpenAI `messages` format.

Generated from templates with a fixed seed, so every machine gets the same files. The label is
decided by what the ticket is about; openers, closers, names and numbers vary, and the held-out
set uses its own seed, so the adapter has to generalise from the wording, not memorise lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from studio.core.config import RunConfig

DEMO_NAME = "demo-ticket-classifier"
SYSTEM = "Classify the ticket: billing, shipping, account, bug or refund."
TEMPLATES: dict[str, list[str]] = {
    "billing": ["I was charged twice for my {plan} plan", "my invoice for {month} shows the wrong amount",
                "why did my card get billed {amount} this month", "the payment for order {order} was taken two times",
                "please explain the extra fee on my {month} bill", "the {plan} plan price went up without notice"],
    "shipping": ["my package for order {order} has not arrived", "the tracking number for order {order} does not work",
                 "delivery was supposed to be on {day} but nothing came", "the courier left my parcel at the wrong address",
                 "how long does shipping to {city} take", "order {order} is stuck in transit since {day}"],
    "account": ["I cannot log in to my account since {day}", "please reset my password, the email never arrives",
                "how do I change the email on my account", "my account got locked after too many attempts",
                "I want to delete my account and all my data", "two-factor codes stopped working on {device}"],
    "bug": ["the app crashes when I open the {screen} screen", "the {screen} page shows an error 500",
            "export to CSV produces an empty file", "the {screen} button does nothing on {device}",
            "after the update the app freezes on {device}", "the {screen} screen stays blank on {device}"],
    "refund": ["I want my money back for order {order}", "please refund the {plan} subscription I cancelled",
               "the item from order {order} was broken, I want a refund", "how do I return order {order} for a refund",
               "I was promised a refund on {day} and still have nothing", "refund the {amount} you took by mistake"],
}
FILLS: dict[str, list[str]] = {
    "plan": ["Pro", "Basic", "Team", "Family", "Premium"],
    "month": ["March", "April", "May", "June", "July"],
    "amount": ["$19.99", "$49", "$120", "$7.50"],
    "day": ["Monday", "Tuesday", "Friday", "the 3rd", "last week"],
    "city": ["Berlin", "Lyon", "Osaka", "Lima", "Austin"],
    "screen": ["settings", "reports", "profile", "checkout"],
    "device": ["Android", "iPhone", "Windows", "my tablet"],
}
OPENERS = ["", "Hi, ", "Hello, ", "Hey team, ", "Good morning. "]
CLOSERS = ["", " Thanks.", " Please help!", " Regards, Sam", " This is urgent."]
LABELS = sorted(TEMPLATES)


def ticket(rng: random.Random, label: str) -> str:
    text = rng.choice(TEMPLATES[label])
    for key, values in FILLS.items():
        text = text.replace("{" + key + "}", rng.choice(values))
    text = text.replace("{order}", str(rng.randint(10000, 99999)))
    return rng.choice(OPENERS) + text + "." + rng.choice(CLOSERS)


def make_examples(count: int, seed: int, exclude: set[str] | None = None) -> list[dict]:
    """`count` tickets, none of whose text is in `exclude` (the training tickets, for held-out data:
    a ticket in both would make the eval loss and accuracy measure memory)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    seen = set(exclude or ())
    attempts = 0
    while len(rows) < count:
        label = LABELS[len(rows) % len(LABELS)]
        text = ticket(rng, label)
        attempts += 1
        if text in seen and attempts < 100 * count:   # the templates hold far more tickets than asked for
            continue
        seen.add(text)
        rows.append({"messages": [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": text},
                                  {"role": "assistant", "content": label}]})
    rng.shuffle(rows)
    return rows


def write_demo_data(folder: Path, train_count: int = 600, eval_count: int = 100) -> tuple[Path, Path]:
    """train.jsonl and eval.jsonl (held out: drawn with another seed, no ticket of the training set)."""
    folder.mkdir(parents=True, exist_ok=True)
    from studio.core.atomic import atomic_write_text

    paths = (folder / "train.jsonl", folder / "eval.jsonl")
    train = make_examples(train_count, 1)
    held_out = make_examples(eval_count, 2, exclude={r["messages"][1]["content"] for r in train})
    for path, rows in zip(paths, (train, held_out)):
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return paths


def demo_config(out: Path) -> RunConfig:
    """The demo run: settings that reach >90% held-out accuracy in well under a minute on 2 cores."""
    config = RunConfig(name=DEMO_NAME)
    config.model.name_or_path = str(out / "base-model")
    config.data.path = str(out / "data" / "train.jsonl")
    config.data.eval_path = str(out / "data" / "eval.jsonl")
    config.data.max_len = 256
    config.lora.rank, config.lora.alpha, config.lora.dropout = 16, 32.0, 0.0
    t = config.train
    t.lr, t.epochs, t.batch_size, t.warmup, t.log_every, t.save_every = 3e-3, 8, 16, 10, 5, 100
    return config


DEMO_DPO_NAME = "demo-ticket-classifier-dpo"
PAIR_COUNT = 320


def make_pairs(rows: list[dict], seed: int) -> list[dict]:
    """Preference pairs in TRL's conversational layout: the ticket as the prompt, the right label
    as chosen and a wrong one as rejected (drawn with `seed`)."""
    rng = random.Random(seed)
    pairs = []
    for row in rows:
        prompt, answer = row["messages"][:-1], row["messages"][-1]["content"]
        wrong = rng.choice([label for label in LABELS if label != answer])
        pairs.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": answer}],
                      "rejected": [{"role": "assistant", "content": wrong}]})
    return pairs


def write_demo_pairs(folder: Path) -> tuple[Path, Path]:
    """train_pairs.jsonl and eval_pairs.jsonl, made from the demo's train and held-out tickets (so
    the held-out pairs hold no training ticket either)."""
    from studio.core.atomic import atomic_write_text

    train_rows, eval_rows = (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for path in write_demo_data(folder))
    paths = (folder / "train_pairs.jsonl", folder / "eval_pairs.jsonl")
    # 320 pairs: 20 steps of 16, a minute on 2 CPU cores, enough to move the SFT adapter.
    for path, rows, seed in zip(paths, (train_rows[:PAIR_COUNT], eval_rows), (3, 4)):
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in make_pairs(rows, seed)))
    return paths


def demo_dpo_config(out: Path, init_adapter: str) -> RunConfig:
    """DPO on the demo pairs, starting from (and compared against) the SFT demo adapter."""
    config = demo_config(out)
    config.name = DEMO_DPO_NAME
    config.data.path = str(out / "data" / "train_pairs.jsonl")
    config.data.eval_path = str(out / "data" / "eval_pairs.jsonl")
    t = config.train
    t.objective, t.init_adapter = "dpo", init_adapter
    # Gentle: at 1e-3 and beta 0.1 DPO widened the margins but cost held-out accuracy (pairs 99% -> 96%,
    # exact match 98% -> 89%); at 1e-4 and beta 0.5 it widens them and keeps the SFT adapter's accuracy.
    t.lr, t.epochs, t.batch_size, t.warmup, t.log_every, t.eval_every = 1e-4, 1, 16, 2, 2, 10
    config.pref.beta = 0.5
    t.sample_predictions = 0
    return config
