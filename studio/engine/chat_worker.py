"""The inference worker: `python -m studio.engine chat [--home DIR]`, long-lived, driven by commands.

It holds one base model with the slots' adapters attached (engine.adapter_pool) and answers
`generate` requests by streaming every slot's tokens (engine.generation). Commands arrive on
stdin (worker_io.Controls puts them on a queue); while a generation runs, the queue is polled
between turns, so `stop` and `shutdown` act within a few tokens and other commands wait their
turn. A failed command is answered with an `error` event carrying its request id; the worker and
its loaded model stay up. The protocol is described in core/chat_protocol.py.
"""

from __future__ import annotations

import os
import queue
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from studio.core.chat_protocol import Sampling
from studio.core.config import ModelOptions
from studio.core.errors import ModelError, StudioError
from studio.core.slots import SlotSpec, resolve_slot
from studio.core.workspace import Workspace
from studio.engine.adapter_pool import AdapterPool
from studio.engine.generation import new_stream, render_prompt, result, run_streams
from studio.engine.worker_io import Controls, Emitter

POLL_S = 0.2


class ChatWorker:
    def __init__(self, home: Path | None, emitter: Emitter, controls: Controls) -> None:
        self.ws = Workspace.open(home)
        self.emitter = emitter
        self.controls = controls
        self.pool = AdapterPool(emitter)
        self.slots: dict[str, tuple[SlotSpec, str | None]] = {}   # slot -> (spec, peft adapter name)
        self.pending: deque[dict[str, Any]] = deque()
        self.exiting = False

    def serve(self) -> dict[str, Any]:
        self.emitter.emit("hello", worker="chat", pid=os.getpid(), home=str(self.ws.home))
        while not self.exiting and not self.controls.cancel.is_set():
            command = self._next_command()
            if command is None:
                if self.controls.closed.is_set() and self.controls.commands.empty():
                    break  # stdin closed: the parent is gone
                continue
            self._handle(command)
        return {"status": "completed"}

    def _next_command(self) -> dict[str, Any] | None:
        if self.pending:
            return self.pending.popleft()
        try:
            return self.controls.commands.get(timeout=POLL_S)
        except queue.Empty:
            return None

    def _handle(self, command: dict[str, Any]) -> None:
        kind = command.get("type")
        try:
            if kind == "load":
                self.load(command)
            elif kind == "generate":
                self.generate(command)
            elif kind == "unload":
                self.pool.unload()
                self.slots.clear()
                self.emitter.emit("loaded", base=None, slots={}, **self.pool.memory())
            elif kind == "shutdown":
                self.exiting = True
            elif kind == "stop":
                pass  # nothing is generating; a late stop is harmless
            else:
                raise StudioError(f"the chat worker does not know the command {kind!r}",
                                  hint="send load, generate, stop, unload or shutdown")
        except StudioError as exc:
            self.emitter.emit("error", id=command.get("id"), command=kind, **exc.to_dict())
        except Exception as exc:  # noqa: BLE001 - report, keep serving: the model is still loaded
            traceback.print_exc()
            from studio.engine.outcome import out_of_memory_error

            oom = out_of_memory_error(exc)
            details = oom.to_dict() if oom else {
                "kind": "internal", "message": f"{type(exc).__name__}: {exc}", "where": "",
                "hint": "this is a bug in LoRA Studio or a library; the traceback is in the worker log"}
            self.emitter.emit("error", id=command.get("id"), command=kind, **details)

    # ----- load -----------------------------------------------------------------------------------
    def load(self, command: dict[str, Any]) -> None:
        started = time.monotonic()
        wanted = command.get("slots") or {}
        if not isinstance(wanted, dict):
            raise StudioError("load: `slots` must map slot names to specs", hint='e.g. {"a": "base", "b": "my-adapter"}')
        specs = {slot: resolve_slot(str(spec), self.ws) for slot, spec in wanted.items()}
        from studio.core.slots import base_model_for

        options = ModelOptions(
            name_or_path=base_model_for(list(specs.values()), str(command.get("base") or "")),
            revision=str(command.get("revision") or ""), quant=str(command.get("quant") or "none"),
            dtype=str(command.get("dtype") or "auto"), trust_remote_code=bool(command.get("trust_remote_code")))
        steps = 2 + sum(not s.is_base for s in specs.values())
        if not self.pool.same_base(options):
            self.slots.clear()
            self.pool.load_base(options, steps)
        self.emitter.emit("stage", name="attach", message=f"attaching {steps - 2} adapter(s)")
        slots: dict[str, tuple[SlotSpec, str | None]] = {}
        for i, (slot, spec) in enumerate(specs.items()):
            attached = self.pool.attach(spec)
            slots[slot] = (spec, attached.name if attached else None)
            self.emitter.emit("progress", step=min(steps, 3 + i), max_steps=steps, what=spec.label)
        self.pool.keep_only({name for _, name in slots.values() if name})
        self.slots = slots
        self.emitter.emit("loaded", **self.pool.describe(), seconds=round(time.monotonic() - started, 3),
                          slots={slot: self._slot_info(slot) for slot in slots}, **self.pool.memory())

    def _slot_info(self, slot: str) -> dict[str, Any]:
        spec, name = self.slots[slot]
        info = spec.to_dict()
        tokenizer_template = self.pool.tokenizer.chat_template
        differs = spec.chat_template is not None and (spec.chat_template.strip() != (tokenizer_template or "").strip())
        info.update(adapter=name, template_differs=differs)
        attached = next((a for a in self.pool.attached.values() if a.name == name), None)
        if attached:
            info.update(adapter_params=attached.params, adapter_bytes=attached.bytes)
        if differs:
            self.emitter.emit("warning", kind="chat_template", slot=slot, message=(
                f"{spec.label} was trained with a chat template that differs from the base tokenizer's; "
                "its own template is used for this slot"))
        elif spec.chat_template is None and not tokenizer_template:
            self.emitter.emit("warning", kind="chat_template", slot=slot, message=(
                "neither the adapter nor the tokenizer has a chat template: prompts are sent as plain text"))
        return info

    # ----- generate -------------------------------------------------------------------------------
    def generate(self, command: dict[str, Any]) -> None:
        request = str(command.get("id") or "")
        if self.pool.model is None:
            raise ModelError("no model is loaded", hint="send `load` first")
        sampling = Sampling.from_dict(command.get("sampling"))
        system = str(command.get("system") or "")
        streams = []
        for entry in command.get("slots") or []:
            slot = str(entry.get("slot"))
            if slot not in self.slots:
                raise StudioError(f"generate: slot {slot!r} is not loaded",
                                  hint=f"loaded slots: {', '.join(self.slots) or 'none'}; send `load` first")
            spec, adapter = self.slots[slot]
            turn = entry.get("prompt") if isinstance(entry.get("prompt"), str) else entry.get("messages")
            if not isinstance(turn, (str, list)) or not turn:
                raise StudioError(f"generate: slot {slot!r} has neither messages nor a prompt",
                                  hint='send "messages": [{"role": "user", "content": "..."}]')
            ids = render_prompt(self.pool.tokenizer, turn, spec.chat_template, system)
            streams.append(new_stream(self.pool, slot, spec.label, adapter, ids, sampling))
        if not streams:
            raise StudioError("generate: no slots given", hint='send "slots": [{"slot": "a", "messages": [...]}]')

        def on_token(stream: Any, text: str) -> None:
            self.emitter.emit("token", id=request, slot=stream.slot, text=text, index=len(stream.tokens) - 1)

        def on_done(stream: Any) -> None:   # at once: this column's figures while the other still streams
            self.emitter.emit("generated", id=request, seed=sampling.seed, **result(self.pool, stream),
                              **self.pool.memory())

        run_streams(self.pool, streams, sampling, on_token, lambda s: self._check_stop(request, s), on_done)

    def _check_stop(self, request: str, streams: list[Any]) -> None:
        """Between turns: apply stop/shutdown/cancel now, keep other commands for later."""
        while True:
            try:
                command = self.controls.commands.get_nowait()
            except queue.Empty:
                break
            kind = command.get("type")
            if kind == "stop" and command.get("id") in (None, "", request):
                for stream in streams:
                    if not stream.finished and command.get("slot") in (None, "", stream.slot):
                        stream.finish_reason = "stopped"
            elif kind == "shutdown":
                self.exiting = True
            elif kind != "stop":
                self.pending.append(command)
        if self.exiting or self.controls.cancel.is_set():
            for stream in streams:
                if not stream.finished:
                    stream.finish_reason = "stopped"


def run_chat_worker(home: Path | None, emitter: Emitter, controls: Controls) -> dict[str, Any]:
    return ChatWorker(home, emitter, controls).serve()
