"""`studio chat`: ask the same prompt of two slots (base / adapter / checkpoint) and show both answers.

    studio chat --a base --b my-adapter --prompt "..." [--seed S --temperature T --top-p P
                --max-new-tokens N --system TEXT] [--json] [--save FILE] [--blind]

With --prompt it answers once and exits (for scripts and tests; --json prints one object last).
Without it, it is a multi-turn chat in the terminal: type a message; /regen asks the last turn
again (with the next seed), /save FILE writes the conversation, /quit ends. Ctrl-C stops an
answer in progress. --model may be left out when the adapters record their base model.

Without --system, both slots get the system prompt the adapter was trained with, when its
studio.json records one (the same prefill as the Chat page); --system "" sends none.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from studio.cli.chat_display import LiveColumns, print_plain
from studio.cli.common import common_options, print_json, workspace
from studio.core.chat_client import ChatClient
from studio.core.chat_protocol import Sampling
from studio.core.conversation import Conversation
from studio.core.errors import StudioError
from studio.core.slots import BASE, SystemPrefill, resolve_slot, spec_system_prompt, system_prefill
from studio.core.votes import blind_order, record_vote
from studio.core.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chat", parents=[common_options()], help="chat with two slots side by side (A/B)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_slot_options(parser)
    parser.add_argument("--prompt", default=None, help="ask this once and exit (no prompt: interactive chat)")
    parser.add_argument("--save", type=Path, metavar="FILE", help="save the conversation (.json or .md) at the end")
    parser.add_argument("--blind", action="store_true", help="hide which slot is which; vote after each answer "
                        "(recorded in the workspace, see `studio votes`)")
    parser.set_defaults(run=run, system=None)        # None: the adapter's own, see trained_system()


def add_slot_options(parser: argparse.ArgumentParser, max_new_tokens: int = 256) -> None:
    """Options shared with `studio compare`."""
    parser.add_argument("--model", default="", help="base model folder or hub id (default: the base the adapters "
                        "were trained on)")
    parser.add_argument("--a", dest="spec_a", default="base", metavar="SPEC", help="slot A: base, an adapter name, "
                        "an adapter or checkpoint folder, or run:RUN[@STEP] (default: base)")
    parser.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="slot B (same forms as --a)")
    parser.add_argument("--system", default="", help="system prompt for both slots (studio chat: by default the one "
                        "the adapter was trained with, when it is recorded; --system '' for none)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default), higher = more varied")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: keep the smallest set of tokens "
                        "whose probability adds up to P (default 1 = off)")
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                        help=f"longest answer in tokens (default {max_new_tokens})")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed, the same for both slots (default 0)")
    parser.add_argument("--quant", default="none", choices=("none", "4bit", "8bit"), help="quantize the base model")
    parser.add_argument("--dtype", default="auto", choices=("auto", "bf16", "fp16", "fp32"))
    parser.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model")


def sampling_from(args: argparse.Namespace) -> Sampling:
    return Sampling(args.temperature, args.top_p, args.max_new_tokens, args.seed).validate()


def slot_specs(args: argparse.Namespace) -> dict[str, str]:
    return {"a": args.spec_a} if args.spec_b is None else {"a": args.spec_a, "b": args.spec_b}


def open_client(args: argparse.Namespace, specs: dict[str, str], quiet: bool) -> tuple[ChatClient, dict[str, Any]]:
    """Start the worker and load the slots, with a progress line on stderr."""
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    ws = workspace(args)
    client = ChatClient(ws.home)
    try:
        with console.status("Starting the inference worker ...") as status:
            def show(event: dict[str, Any]) -> None:
                if event["type"] == "stage":
                    status.update(event.get("message") or "")
                elif event["type"] == "progress":
                    status.update(f"Loading {event.get('what')} ({event.get('step')}/{event.get('max_steps')})")
                elif event["type"] == "warning":
                    console.print(f"[yellow]warning: {event.get('message')}")

            loaded = client.load(args.model, specs, on_event=show, quant=args.quant, dtype=args.dtype,
                                 trust_remote_code=args.trust_remote_code)
    except BaseException:
        client.close()
        raise
    console.print(f"Loaded {loaded.get('base')} on {loaded.get('device')} in {loaded.get('seconds', 0):.1f} s")
    return client, loaded


def run(args: argparse.Namespace) -> int:
    sampling = sampling_from(args)
    specs = slot_specs(args)
    if args.blind:
        if len(specs) < 2:
            raise StudioError("--blind needs two slots", hint="pass --a and --b")
        shown_a, shown_b, _ = blind_order(specs["a"], specs["b"])
        specs = {"a": shown_a, "b": shown_b}
    if args.prompt is None and (args.json or not sys.stdin.isatty()):
        raise StudioError("no --prompt given and there is no terminal to chat in",
                          hint="pass --prompt TEXT (scripts), or run without --json in a terminal")
    prefill = trained_system(workspace(args), specs) if args.system is None else None
    system = prefill.text if prefill is not None else (args.system or "")
    if prefill is not None and not args.json:
        print(f"System prompt {prefill.note} (--system to change it, --system '' for none):\n  "
              + prefill.text.replace("\n", "\n  "), file=sys.stderr)
    client, loaded = open_client(args, specs, quiet=args.json)
    conversation = Conversation.ab(specs["a"], specs.get("b", ""), system=system, sampling=sampling,
                                   base_model=str(loaded.get("base") or ""), blind=args.blind)
    if len(specs) == 1:
        del conversation.columns["b"]
    for slot, info in loaded.get("slots", {}).items():
        conversation.columns[slot].label = info.get("label", specs[slot])
    try:
        if args.prompt is not None:
            live = not args.json and sys.stdout.isatty()
            answers = ask(client, conversation, args.prompt, sampling, live=live)
            if not args.json and not live:
                print_plain(titles_of(conversation), answers)
            if args.blind and not args.json and sys.stdin.isatty():
                vote(args, conversation, args.prompt)
            if args.save:
                conversation.save(args.save)
            if args.json:
                print_json(json_result(conversation, answers, loaded, client)
                           | {"system_from": prefill.explanation if prefill else ("--system" if system else None)})
            return 0
        interactive(args, client, conversation, sampling)
    finally:
        client.close()
    return 0


def trained_system(ws: Workspace, specs: dict[str, str]) -> SystemPrefill | None:
    """The system prompt the slots' adapters were trained with (file reads only; a spec that
    cannot be resolved is left to the worker, which says why when it loads)."""
    offers = []
    for spec in specs.values():
        try:
            slot = resolve_slot(spec, ws)
        except (StudioError, OSError):
            continue
        if slot.kind != BASE:
            offers.append((slot.label, spec_system_prompt(slot, ws)))
    return system_prefill(offers)


def titles_of(conversation: Conversation) -> dict[str, str]:
    if conversation.blind:
        return {slot: slot.upper() for slot in conversation.columns}
    return {slot: f"{slot.upper()}: {c.label or c.spec}" for slot, c in conversation.columns.items()}


def ask(client: ChatClient, conversation: Conversation, text: str | None, sampling: Sampling,
        live: bool) -> dict[str, dict[str, Any]]:
    """One turn in every column (text None: regenerate the last one); Ctrl-C stops the answers."""
    turns = conversation.ask(text) if text is not None else conversation.undo_answers()
    previous = signal.signal(signal.SIGINT, lambda *_: client.stop())
    try:
        if live:
            from rich.console import Console

            with LiveColumns(titles_of(conversation), Console()) as view:
                answers = client.generate(turns, sampling, conversation.system, on_event=view.on_event)
        else:
            answers = client.generate(turns, sampling, conversation.system)
    finally:
        signal.signal(signal.SIGINT, previous)
    for slot, answer in answers.items():
        conversation.answer(slot, answer.get("text", ""), {k: answer.get(k) for k in
                                                           ("tokens", "tokens_per_s", "finish_reason", "seed")})
    return answers


def json_result(conversation: Conversation, answers: dict[str, dict[str, Any]], loaded: dict[str, Any],
                client: ChatClient) -> dict[str, Any]:
    result: dict[str, Any] = {"status": "ok"}
    for slot, column in conversation.columns.items():
        answer = answers.get(slot, {})
        result[slot] = {"spec": column.spec, "label": column.label, "text": answer.get("text", ""),
                        "tokens": answer.get("tokens"), "tokens_per_s": answer.get("tokens_per_s"),
                        "finish_reason": answer.get("finish_reason")}
    result.update(base_model=loaded.get("base"), device=loaded.get("device"), sampling=conversation.sampling.to_dict(),
                  system=conversation.system, warnings=[w.get("message") for w in client.state.warnings],
                  rss_bytes=loaded.get("rss_bytes"), load_seconds=loaded.get("seconds"))
    return result


def interactive(args: argparse.Namespace, client: ChatClient, conversation: Conversation, sampling: Sampling) -> None:
    print("Type a message. /regen asks the last turn again, /save FILE saves, /quit ends. Ctrl-C stops an answer.")
    last = ""
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/save"):
            target = line[5:].strip() or str(args.save or "conversation.json")
            print(f"Saved to {conversation.save(Path(target))}")
            continue
        if line == "/regen":
            if not last:
                print("Nothing to regenerate yet.")
                continue
            sampling.seed += 1
            answers = ask(client, conversation, None, sampling, live=sys.stdout.isatty())
        else:
            last = line
            answers = ask(client, conversation, line, sampling, live=sys.stdout.isatty())
        if not sys.stdout.isatty():
            print_plain(titles_of(conversation), answers)
        if conversation.blind:
            vote(args, conversation, last)
    if args.save:
        print(f"Saved to {conversation.save(args.save)}")


def vote(args: argparse.Namespace, conversation: Conversation, prompt: str) -> None:
    choice = ""
    while choice not in ("a", "b", "tie", "t", "skip", "s"):
        try:
            choice = input("Which answer is better? [a / b / tie / skip] ").strip().casefold()
        except (EOFError, KeyboardInterrupt):
            return
    if choice in ("skip", "s"):
        return
    a, b = conversation.columns["a"], conversation.columns["b"]
    recorded = record_vote(workspace(args), a.label or a.spec, b.label or b.spec, "tie" if choice == "t" else choice,
                           blind=True, prompt=prompt, base_model=conversation.base_model,
                           seed=conversation.sampling.seed)
    print(f"Recorded. A was {a.label or a.spec}, B was {b.label or b.spec}"
          + (f"; winner: {recorded.winner_label}" if recorded.winner_label else "; a tie"))
