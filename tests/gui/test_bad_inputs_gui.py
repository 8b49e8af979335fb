"""The bad-input corpus (tests/corpus) in the app: each bad dataset opened on the Data page and
each bad config loaded on the Train page is explained in words a person can act on (the same
where-and-why fragments the command line prints), the app keeps running, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QMessageBox

CORPUS = Path(__file__).parent.parent / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def shown_text(page) -> str:  # noqa: ANN001
    """Everything the Data page shows about a problem: the banner and the Problems list."""
    body = QTextDocument()
    body.setHtml(page.banner.body.text())        # the text as displayed (the label holds escaped HTML)
    parts = [page.banner.title.text(), body.toPlainText()]
    tree = page.problems.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        parts += [item.text(c) for c in range(item.columnCount())]
    return "\n".join(parts)


def test_every_bad_dataset_is_explained_on_the_data_page(app, qtbot, home: Path) -> None:  # noqa: ANN001
    ctx, window = app
    window.show_page("Data")
    page = window.page("Data")
    for name, fragments in sorted(CASES["data"].items()):
        page.banner.hide()
        page.open_file(CORPUS / "data" / name)
        qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=10_000)
        text = shown_text(page)
        for fragment in fragments:
            where = fragment.rpartition(":")
            if where[0] == name and where[2].isdigit():   # "file.jsonl:3": the list shows the line as "line 3"
                assert f"line {where[2]}" in text or fragment in text, (name, fragment, text)
            else:
                assert fragment in text, (name, fragment, text)
        assert "Traceback" not in text and "Reading the dataset failed" not in page.banner.title.text(), text
    assert window.isVisible()
    for sub in ("runs", "adapters"):
        folder = home / sub
        assert not folder.exists() or not any(folder.iterdir()), f"{sub} written"


def test_every_bad_config_is_explained_on_the_train_page(app, qtbot, monkeypatch) -> None:  # noqa: ANN001
    ctx, window = app
    window.show_page("Train")
    page = window.page("Train")
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text, *a, **k: shown.append((title, text)))
    before = ctx.config.snapshot()
    for name, fragments in sorted(CASES["config"].items()):
        shown.clear()
        assert page.load_config_from(CORPUS / "config" / name) is False
        assert len(shown) == 1 and shown[0][0] == "Cannot load the config"
        for fragment in fragments:
            assert fragment in shown[0][1], (name, fragment, shown[0][1])
    assert ctx.config.snapshot() == before                 # the config being edited is untouched
