"""One source for what the library says about an adapter's base model and its run: the import
banner, the lineage card and `studio adapters show` name the same base folder, and the run line
says where the run really is (this workspace, another one, or deleted from this one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import make_adapter
from studio.core import protocol
from studio.core.adapter_details import base_model_text, lineage_card, run_text
from studio.core.adapter_import import import_adapter
from studio.core.config import RunConfig
from studio.core.config_io import dump_config
from studio.core.workspace import Workspace

RUN_ID = "20260101-100000-bot"


def write_run(ws: Workspace, run_id: str = RUN_ID) -> Path:
    """A finished run folder: run.yaml and the events of a completed 12-step run."""
    run_dir = ws.runs_dir / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.yaml").write_text(dump_config(RunConfig(name="bot")), encoding="utf-8")
    events = [protocol.make("hello", pid=1), protocol.make("progress", step=12, max_steps=12, eta_s=0.0),
              protocol.make("done", status="completed", adapter_name="bot")]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run_dir


@pytest.fixture()
def two_homes(tmp_path: Path, tiny_model: Path) -> tuple[Workspace, Workspace, Path]:
    """Home A trained `bot` on its demo base; home B holds a copy of the same base in its demo folder."""
    a, b = Workspace.open(tmp_path / "home-a"), Workspace.open(tmp_path / "home-b")
    base_a = shutil.copytree(tiny_model, a.demo_dir / "base-model")
    shutil.copytree(tiny_model, b.demo_dir / "base-model")
    make_adapter(base_a, a.adapters_dir / "bot", lineage={"run_id": RUN_ID})
    write_run(a)
    return a, b, base_a


def test_import_banner_and_card_name_the_same_base(two_homes) -> None:
    a, b, base_a = two_homes
    result = import_adapter(b, a.adapters_dir / "bot")
    card = lineage_card(b, result.name)
    # Before, the import (library empty) found B's copy by hash and the card (library holding the
    # adapter, which names A's folder) found A's: two paths for one adapter.
    assert result.base.base_path == card["base_check"]["base_path"] == str(base_a.resolve())
    assert result.base.message == card["base_check"]["message"]
    assert base_model_text(card) == str(base_a)

    shutil.rmtree(a.home)                      # A is gone: B's copy of the same weights is the base
    card = lineage_card(b, result.name)
    found = str((b.demo_dir / "base-model").resolve())
    assert card["base_check"]["base_path"] == found and card["base_check"]["status"] == "match"
    assert f"the adapter names {base_a}" in card["base_check"]["message"]
    assert base_model_text(card) == f"{base_a} (on this machine: {found})"


def test_the_run_line_says_where_the_run_is(two_homes) -> None:
    a, b, _base = two_homes
    here = lineage_card(a, "bot")["run"]
    assert here["where"] == "here" and here["exists"]
    assert run_text(here) == f"{RUN_ID} (completed, 12 steps)"

    result = import_adapter(b, a.adapters_dir / "bot")
    other = lineage_card(b, result.name)["run"]
    assert other["where"] == "other" and not other["exists"] and other["exists_there"]
    assert run_text(other) == f"{RUN_ID}, trained in another workspace: {a.home} (completed, 12 steps)"
    assert "deleted" not in run_text(other)

    shutil.rmtree(a.runs_dir / RUN_ID)         # that workspace is there, its run is not
    other = lineage_card(b, result.name)["run"]
    assert other["where"] == "other" and not other["exists_there"]
    assert run_text(other) == f"{RUN_ID}, trained in another workspace: {a.home} (its run folder is not there now)"

    # A copy of the adapter outside any workspace, A gone: nothing says where its run was
    loose = shutil.copytree(a.adapters_dir / "bot", a.home.parent / "downloads" / "bot")
    shutil.rmtree(a.home)
    result = import_adapter(b, loose)
    gone = lineage_card(b, result.name)["run"]
    assert gone["where"] == "imported"
    assert run_text(gone) == f"{RUN_ID} (trained before it was imported from {loose}; its run is not here)"


def test_deleted_only_for_a_run_of_this_workspace(two_homes) -> None:
    a, _b, _base = two_homes
    shutil.rmtree(a.runs_dir / RUN_ID)
    run = lineage_card(a, "bot")["run"]
    assert run["where"] == "deleted"
    assert run_text(run) == f"{RUN_ID} (its run folder was deleted from this workspace)"
