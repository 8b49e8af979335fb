"""Chat: two columns side by side, each the base model alone or the base with one adapter; the
same message goes to both and both answers stream in at once, with the same sampling settings
and seed, so the adapter is the only difference.

The model runs in the `chat` worker (gui.chat_session), never in this process. The conversation
is core.conversation's (saved as JSON or Markdown); blind mode shuffles the slots with
core.votes.blind_order, shows them as A and B, records votes in the workspace and reveals who was
who after the vote. The Prompt set tab runs many prompts through the same worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QMessageBox, QPushButton, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from studio.core.chat_protocol import Sampling
from studio.core.conversation import Conversation
from studio.core.datasets.system_prompts import TrainedSystemPrompt
from studio.core.errors import StudioError
from studio.core.memory import format_bytes
from studio.core.slots import BASE, resolve_slot, spec_system_prompt, system_prefill
from studio.core.votes import blind_order, record_vote, tally_for
from studio.core.workspace import Workspace
from studio.gui.app_context import AppContext
from studio.gui.chat_session import ChatSession
from studio.gui.widgets.cards import card, page_header
from studio.gui.widgets.chat_column import ChatColumn
from studio.gui.widgets.chat_composer import ChatComposer
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.widgets.prompt_set_panel import PromptSetPanel
from studio.gui.widgets.sampling_panel import SamplingPanel
from studio.gui.widgets.slot_bar import SlotBar
from studio.gui.widgets.vote_bar import VoteBar, tally_text

SLOTS = ("a", "b")
CONVERSATION_FILTER = "Conversation (*.json);;Markdown (*.md)"
STAT_KEYS = ("tokens", "tokens_per_s", "finish_reason", "seed", "prompt_tokens", "prompt_s", "first_token_s", "wall_s")


class ChatPage(QWidget):
    title = "Chat"
    icon_name = "chat"
    menu = [("Save the conversation…", "Ctrl+Shift+S", "save_dialog"),
            ("New conversation", "Ctrl+Shift+N", "new_conversation"),
            ("Regenerate the last answers", "Ctrl+Shift+R", "regenerate")]

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("page")
        self.ctx = ctx
        self.session = ChatSession(ctx.workspace, self)
        self.conversation: Conversation | None = None
        self.labels: dict[str, str] = {s: s.upper() for s in SLOTS}      # real slot labels, from `loaded`
        self.blind = False
        self.revealed = False
        self.request: str | None = None
        self.last_prompt = ""
        self.can_vote = False
        self._loading_specs: dict[str, str] = {}
        self._warnings: list[str] = []

        self.slots = SlotBar(ctx)
        self.slots.load_clicked.connect(self.load)
        self.slots.slots_changed.connect(self._offer_system)
        self._folder_prompts: dict[str, TrainedSystemPrompt | None] = {}
        self.slots.choices_ready.connect(self._folder_prompts.clear)
        self.banner = MessageBanner()
        self.sampling = SamplingPanel()
        self.columns = {slot: ChatColumn(slot, ctx.theme) for slot in SLOTS}
        self.votes = VoteBar()
        self.votes.voted.connect(self.vote)
        self.votes.hide()
        self.composer = ChatComposer(ctx.theme.colors()["text"])
        self.composer.send.connect(self.send)
        self.composer.held.connect(self._held)
        self.pending: str | None = None       # typed while the models load: sent once they are loaded
        self.composer.stop.connect(self.stop)
        self.composer.regenerate.connect(self.regenerate)
        self.prompt_set = PromptSetPanel(self.session, ctx.theme, lambda: (self.sampling.sampling(),
                                                                           self.sampling.system_prompt()))
        self.prompt_set.busy_changed.connect(self._update)

        pair = QHBoxLayout()                          # equal widths: neither answer looks favoured
        pair.setSpacing(8)
        for column in self.columns.values():
            pair.addWidget(column, 1)
        chat_tab = QWidget()
        chat_layout = QVBoxLayout(chat_tab)
        chat_layout.setContentsMargins(8, 8, 8, 8)
        chat_layout.addLayout(pair, 1)
        chat_layout.addWidget(self.votes)
        chat_layout.addWidget(self.composer)
        self.tabs = QTabWidget()
        self.tabs.addTab(chat_tab, "Conversation")
        self.tabs.addTab(self.prompt_set, "Prompt set")
        settings = card(self.sampling, "Settings")
        settings.setFixedWidth(270)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(settings)
        side.addStretch(1)
        holder = QWidget()
        holder.setLayout(side)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.tabs)
        body.addWidget(holder)
        body.setStretchFactor(0, 1)
        body.setCollapsible(0, False)

        header = page_header("Chat", "Ask the base model and an adapter the same thing, side by side.")
        self.new_button = QPushButton("New conversation")
        self.new_button.setObjectName("chat-new")
        self.new_button.clicked.connect(self.new_conversation)
        self.save_button = QPushButton("Save…")
        self.save_button.setObjectName("chat-save")
        self.save_button.setToolTip("Save both columns to a file (.json to open again, .md to read)")
        self.save_button.clicked.connect(self.save_dialog)
        header.addWidget(self.new_button)
        header.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(card(self.slots, "Models"))
        layout.addWidget(self.banner)
        layout.addWidget(body, 1)

        s = self.session
        s.loading.connect(self.slots.show_progress)
        s.loaded.connect(self._loaded)
        s.warning.connect(self._warning)
        s.token.connect(self._token)
        s.answered.connect(self._answered)
        s.request_done.connect(self._request_done)
        s.failed.connect(self._failed)
        s.died.connect(self._died)
        ctx.theme.changed.connect(lambda: self.composer.set_icons(ctx.theme.colors()["text"]))
        self.slots.refresh()
        self._update()

    def on_shown(self) -> None:
        self.slots.refresh()

    # ---- loading --------------------------------------------------------------------------------------------
    def load(self) -> None:
        specs = self.slots.specs()
        self.blind = self.slots.blind.isChecked()
        if self.blind:
            shown_a, shown_b, _swapped = blind_order(specs["a"], specs["b"])
            specs = {"a": shown_a, "b": shown_b}
        self._loading_specs = specs
        self._warnings = []
        self.banner.hide()
        self.request = None
        self.session.load(self.slots.base_model(), specs, quant=self.slots.quant.currentText())
        self._update()

    def _loaded(self, event: dict[str, Any]) -> None:
        slots = event.get("slots") or {}
        self.labels = {slot: str((slots.get(slot) or {}).get("label") or self._loading_specs.get(slot, slot))
                       for slot in SLOTS}
        self.revealed = not self.blind
        self.start_conversation(base_model=str(event.get("base") or ""))
        gpu, rss = event.get("gpu_bytes"), event.get("rss_bytes")
        memory = f" · {format_bytes(int(gpu))} on the GPU" if gpu else f" · {format_bytes(int(rss))} in memory" if rss else ""
        self.slots.show_status(f"Loaded {Path(str(event.get('base') or '')).name or event.get('base')} on "
                               f"{event.get('device', '?')} in {float(event.get('seconds') or 0):.1f} s"
                               + memory
                               + (" · blind: the slots are shuffled" if self.blind else ""))
        self.prompt_set.set_adapters([self.labels[s] for s in SLOTS if (slots.get(s) or {}).get("kind") == "library"])
        if is_demo_base(self.ctx.workspace, str(event.get("base") or "")):
            self.banner.show_message(
                "The demo's base model has random weights", "On its own it answers gibberish (often broken "
                "characters); that is expected. The demo adapter learned the ticket task on top of it, so compare "
                "it with the base to see what training did.", level="warn")
        self._update()
        if self.pending:
            text, self.pending = self.pending, None
            self.send(text)

    def start_conversation(self, base_model: str | None = None) -> None:
        base = base_model if base_model is not None else (self.conversation.base_model if self.conversation else "")
        self.conversation = Conversation.ab(self._loading_specs.get("a", "base"), self._loading_specs.get("b", "base"),
                                            base_model=base, blind=self.blind)
        for slot in SLOTS:
            self.conversation.columns[slot].label = self.labels[slot]
            self.columns[slot].clear()
        self.can_vote = False
        self.votes.show_result("")
        self._show_headings()

    def _show_headings(self) -> None:
        titles = {slot: slot.upper() for slot in SLOTS}
        for slot in SLOTS:
            if self.revealed:
                titles[slot] = f"{slot.upper()} · {self.labels[slot]}"
            self.columns[slot].set_heading(titles[slot], "" if self.revealed else "hidden until you vote")
        self.votes.setVisible(self.blind)
        self.prompt_set.set_labels(self.labels, titles)

    # ---- the system prompt the adapters were trained with ----------------------------------------------------
    def _offer_system(self) -> None:
        """Prefill the system prompt with the one the chosen adapters were trained with."""
        offers: list[tuple[str, TrainedSystemPrompt | None]] = []
        for choice in self.slots.chosen().values():
            if choice is None or choice.kind == BASE:
                continue
            prompt = choice.system_prompt if choice.kind != "folder" else self._folder_prompt(choice.spec)
            offers.append((choice.name, prompt))
        self.sampling.offer_system(system_prefill(offers))

    def _folder_prompt(self, spec: str) -> TrainedSystemPrompt | None:
        """A folder (or a name the list does not have yet): its studio.json, read once (a small file)."""
        if spec not in self._folder_prompts:
            try:
                self._folder_prompts[spec] = spec_system_prompt(resolve_slot(spec, self.ctx.workspace),
                                                                self.ctx.workspace)
            except (StudioError, OSError):
                self._folder_prompts[spec] = None
        return self._folder_prompts[spec]

    # ---- asking ---------------------------------------------------------------------------------------------
    def _held(self, text: str) -> None:
        """Enter while nothing can answer: never drop the message silently."""
        if self.session.running and not self.session.is_loaded:
            self.pending = text
            self.composer.input.clear()
            self.slots.show_status("Loading… your message is sent as soon as the models are loaded.")
        elif not self.session.is_loaded:
            self.slots.show_status("Press Load first: the columns answer once their models are loaded "
                                   "(your message is kept in the box).")
        else:
            self.slots.show_status("Wait for the answers, or Stop them, then send again.")

    def send(self, text: str) -> None:
        if self.conversation is None or not self.session.is_loaded or self.request is not None:
            return
        self.last_prompt = text
        self._generate(self.conversation.ask(text))

    def regenerate(self) -> None:
        if self.conversation is None or self.request is not None or not self.session.is_loaded:
            return
        if not any(c.messages for c in self.conversation.columns.values()):
            return
        if self.sampling.temperature.value() > 0:
            self.sampling.next_seed()                 # the same seed would give the same answer again
        self._generate(self.conversation.undo_answers())

    def _generate(self, turns: dict[str, list[dict[str, str]]]) -> None:
        assert self.conversation is not None
        try:
            sampling: Sampling = self.sampling.sampling()
        except StudioError as exc:
            self.banner.show_message("These settings cannot be used", str(exc), exc.hint)
            return
        self.conversation.sampling, self.conversation.system = sampling, self.sampling.system_prompt()
        if self.banner.property("level") == "error":
            self.banner.hide()
        self.request = self.session.generate(turns, sampling, self.conversation.system)
        for slot, column in self.columns.items():
            conv = self.conversation.columns[slot]
            column.show_conversation(conv.messages, conv.stats)
            column.begin_answer()
        self.can_vote = False
        self._update()

    def stop(self) -> None:
        if self.request is not None:
            self.session.stop(self.request)

    def _token(self, request: str, slot: str, text: str) -> None:
        if request == self.request and slot in self.columns:
            self.columns[slot].append_token(text)

    def _answered(self, request: str, slot: str, event: dict[str, Any]) -> None:
        if request != self.request or self.conversation is None or slot not in self.columns:
            return
        stats = {k: event.get(k) for k in STAT_KEYS}
        self.conversation.answer(slot, str(event.get("text", "")), stats)
        conv = self.conversation.columns[slot]
        self.columns[slot].show_conversation(conv.messages, conv.stats)
        self.columns[slot].show_stats(stats)

    def _request_done(self, request: str) -> None:
        if request != self.request or self.conversation is None:
            return
        self.request = None
        columns = self.conversation.columns.values()
        if any(not c.messages or c.messages[-1]["role"] != "assistant" for c in columns):
            self._drop_unanswered_turn()
        else:
            self.can_vote = self.blind
        self._update()

    def _drop_unanswered_turn(self) -> None:
        """A turn that did not get both answers is taken back, and its text returned to the input."""
        assert self.conversation is not None
        for slot, column in self.conversation.columns.items():
            if column.messages and column.messages[-1]["role"] == "assistant":
                column.messages.pop()
                column.stats.pop()
            if column.messages and column.messages[-1]["role"] == "user":
                text = column.messages.pop()["content"]
                if not self.composer.input.toPlainText().strip():
                    self.composer.input.setPlainText(text)
            self.columns[slot].show_conversation(column.messages, column.stats)

    # ---- blind votes ----------------------------------------------------------------------------------------
    def vote(self, winner: str) -> None:
        if not self.can_vote or self.conversation is None:
            return
        a, b = self.labels["a"], self.labels["b"]
        try:
            recorded = record_vote(self.ctx.workspace, a, b, winner, blind=not self.revealed, prompt=self.last_prompt,
                                   base_model=self.conversation.base_model, seed=self.conversation.sampling.seed)
        except StudioError as exc:
            self.banner.show_message("The vote was not recorded", str(exc), exc.hint)
            return
        self.can_vote = False
        self.revealed = True
        self._show_headings()
        choice = f"You chose {recorded.winner_label}." if recorded.winner_label else "You called it a tie."
        self.votes.show_result(f"{choice} A was {a}, B was {b}.\n{tally_text(tally_for(self.ctx.workspace, a, b))}")
        self._update()

    # ---- conversation ---------------------------------------------------------------------------------------
    def new_conversation(self) -> None:
        """Clear both columns; in blind mode shuffle the slots again (a quick reload)."""
        if self.request is not None:
            return
        if self.blind and self.session.is_loaded:
            self.slots.blind.setChecked(True)
            self.load()
        elif self.conversation is not None:
            self.start_conversation()
            self._update()

    def save_dialog(self) -> None:
        if self.conversation is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Save the conversation", str(Path.home() / "conversation.json"),
                                                   CONVERSATION_FILTER)
        if not path:
            return
        if not Path(path).suffix:
            path += ".md" if "Markdown" in chosen else ".json"
        try:
            written = self.save_conversation(Path(path))
        except (StudioError, OSError) as exc:
            QMessageBox.warning(self, "Cannot save the conversation", str(exc))
            return
        self.ctx.status_message.emit(f"Saved the conversation to {written}")

    def save_conversation(self, path: Path) -> Path:
        assert self.conversation is not None
        return self.conversation.save(path)

    # ---- problems ---------------------------------------------------------------------------------------------
    def _warning(self, event: dict[str, Any]) -> None:
        slot = str(event.get("slot") or "")
        if self.blind and event.get("kind") == "chat_template":
            text = (f"Column {slot.upper()}: the adapter was trained with a chat template that differs from the base "
                    "tokenizer's; its own template is used.")
        else:
            text = (f"Column {slot.upper()}: " if slot else "") + str(event.get("message", ""))
        self._warnings.append(text)
        self.banner.show_message("Check the chat template" if event.get("kind") == "chat_template" else "Warning",
                                 "\n".join(self._warnings), level="warn")

    def _failed(self, event: dict[str, Any]) -> None:
        command = event.get("command")
        title = {"load": "The models could not be loaded", "generate": "The answer failed"}.get(
            str(command), "The chat worker reported a problem")
        self.banner.show_message(title, str(event.get("message", "")), str(event.get("hint", "")))
        if command == "load":
            self.slots.show_status("Not loaded. Fix the problem above, then Load again.")
        self._update()

    def _died(self, code: int, log_tail: str) -> None:
        last = "\n".join(line for line in log_tail.splitlines()[-6:] if line.strip())
        self.banner.show_message(
            f"The chat worker stopped unexpectedly (exit code {code})",
            ("Its last output:\n" + last) if last else "It printed nothing before it stopped.",
            "press Load to start it again. If it ran out of memory, load the base model with 4bit quantization "
            "or choose a smaller model.", actions=[("Load again", self.load)])
        self.slots.show_status("Not loaded: the worker stopped.")
        self.request = None
        self._update()

    def _update(self) -> None:
        loading = self.session.running and not self.session.is_loaded and self.slots.progress.isVisible()
        busy = self.request is not None or self.prompt_set.running
        self.slots.set_enabled(not loading and not busy)
        has_answers = self.conversation is not None and any(c.messages for c in self.conversation.columns.values())
        self.composer.set_busy(self.request is not None, can_send=self.session.is_loaded and not busy,
                               can_regenerate=has_answers and self.session.is_loaded and not busy)
        self.votes.allow(self.can_vote)
        self.save_button.setEnabled(has_answers)
        self.new_button.setEnabled(self.conversation is not None and not busy)


def is_demo_base(workspace: Workspace, base: str) -> bool:
    """The random-init model `studio demo` builds (its answers alone are noise, by design): this
    workspace's, or another workspace's (<home>/demo/base-model) that an adapter names."""
    if not base:
        return False
    try:
        path = Path(base).resolve()
        return path == (workspace.demo_dir / "base-model").resolve() or (
            path.name == "base-model" and path.parent.name == "demo" and (path / "config.json").is_file())
    except OSError:
        return False
