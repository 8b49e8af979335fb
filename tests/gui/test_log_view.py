"""The Log tab shows the Trainer's log dictionaries as readable lines, other lines as written."""

from __future__ import annotations

from pathlib import Path

from studio.gui.widgets.log_view import LogView, readable_line

TRAINER_LINE = ("{'loss': '0.01693', 'grad_norm': '0.2619', 'learning_rate': '7.642e-05', 'epoch': '7.237', "
                "'num_input_tokens_seen': 597344, 'train_tokens_per_second': '1252'}")


def test_trainer_dicts_become_named_figures(qtbot, tmp_path: Path) -> None:
    assert readable_line(TRAINER_LINE) == ("epoch 7.237 · loss 0.01693 · grad norm 0.2619 · lr 7.642e-05 · "
                                           "tokens/s 1,252 · tokens seen 597,344")
    for line in ("removed incomplete checkpoint checkpoint-5", "{not a dict}", "{'a': __import__('os')}"):
        assert readable_line(line) == line
    log = tmp_path / "worker.log"
    log.write_text(f"starting\n{TRAINER_LINE}\n", encoding="utf-8")
    view = LogView()
    qtbot.addWidget(view)
    view.show_file(log)
    assert view.toPlainText().splitlines() == ["starting", readable_line(TRAINER_LINE)]
    assert "{'loss'" in log.read_text()         # the file keeps what the Trainer wrote
