"""The adapter library: listing (with broken folders), rename, tags, notes, trash and restore, diff.

These use adapter folders with the right files but tiny fake weights: nothing here loads a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import fake_adapter, last_json, studio
from studio.cli import main
from studio.core.adapter_details import diff_adapters, lineage_card
from studio.core.errors import WorkspaceError
from studio.core.library import find_adapter, list_adapters, search_adapters
from studio.core.library_ops import delete_adapter, empty_trash, list_trash, rename_adapter, restore_adapter, \
    set_notes, set_tags
from studio.core.votes import read_votes, record_vote
from studio.core.workspace import Workspace


def lineage(name: str, rank: int = 4, lr: float = 1e-4, tags: list | None = None) -> dict:
    return {"name": name, "created": f"2026-01-0{rank % 9 + 1}T10:00:00+00:00", "run_id": "",
            "base_model": {"name_or_path": "some/base", "hash": None},
            "dataset": {"path": "/data/train.jsonl", "fingerprint": "sha256:abc"},
            "config": {"lora": {"rank": rank, "alpha": 2 * rank, "targets": ["q_proj", "v_proj"]},
                       "train": {"lr": lr, "epochs": 3}},
            "metrics": {"final_train_loss": 1.0 / rank, "best_eval_loss": None}, "tags": tags or [], "notes": ""}


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.open(tmp_path / "home")
    fake_adapter(ws.adapters_dir / "alpha", rank=8, studio_json=lineage("alpha", 8, tags=["good"]))
    fake_adapter(ws.adapters_dir / "beta", rank=4, studio_json=lineage("beta", 4, lr=3e-4))
    broken = ws.adapters_dir / "gamma"          # half-written: weights never arrived
    broken.mkdir()
    (broken / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    garbled = ws.adapters_dir / "delta"          # damaged lineage file
    fake_adapter(garbled)
    (garbled / "studio.json").write_text('{"name": "delta", ')
    (ws.adapters_dir / ".tmp-epsilon-1234").mkdir()   # left over by an interrupted save
    return ws


def test_list_shows_broken_folders_with_reasons(ws: Workspace) -> None:
    by_name = {a.name: a for a in list_adapters(ws.adapters_dir)}
    assert by_name["alpha"].broken == "" and by_name["alpha"].rank == 8 and by_name["alpha"].tags == ["good"]
    assert "weights are missing" in by_name["gamma"].broken
    assert "studio.json is not valid JSON" in by_name["delta"].broken
    assert "interrupted write" in by_name[".tmp-epsilon-1234"].broken
    result = studio("adapters", "list", "--json", "--home", str(ws.home))
    assert result.returncode == 0, result.stderr
    listed = {a["name"]: a for a in last_json(result.stdout)["adapters"]}
    assert listed["gamma"]["broken"] and listed["alpha"]["broken"] is None
    text = studio("adapters", "list", "--home", str(ws.home))
    assert text.returncode == 0 and "broken" in text.stdout and "Traceback" not in text.stderr
    card = lineage_card(ws, "gamma")      # the card of a broken adapter still opens
    assert card["broken"] and "base_check" not in card


def test_search_and_sort(ws: Workspace) -> None:
    adapters = list_adapters(ws.adapters_dir)
    assert [a.name for a in search_adapters(adapters, tags=["GOOD"])] == ["alpha"]
    assert [a.name for a in search_adapters(adapters, text="bet")] == ["beta"]
    usable = [a for a in adapters if not a.broken]
    assert [a.name for a in search_adapters(usable, sort="rank", descending=True)] == ["alpha", "beta"]
    assert [a.name for a in search_adapters(usable, sort="final_loss")] == ["alpha", "beta"]
    # the temporary leftover has no rank: missing values sort last in both directions
    assert search_adapters(adapters, sort="rank")[-1].name == ".tmp-epsilon-1234"
    assert search_adapters(adapters, sort="rank", descending=True)[-1].name == ".tmp-epsilon-1234"
    with pytest.raises(WorkspaceError, match="cannot sort"):
        search_adapters(adapters, sort="colour")


def test_rename_updates_record_and_votes(ws: Workspace) -> None:
    record_vote(ws, "alpha", "beta", "a")
    info = rename_adapter(ws, "alpha", "alpha-2")
    assert info.path == ws.adapters_dir / "alpha-2" and not (ws.adapters_dir / "alpha").exists()
    assert json.loads((info.path / "studio.json").read_text())["name"] == "alpha-2"
    assert info.tags == ["good"]
    assert read_votes(ws)[0].a == "alpha-2"
    with pytest.raises(WorkspaceError, match="already exists"):
        rename_adapter(ws, "alpha-2", "beta")
    with pytest.raises(WorkspaceError, match="not allowed"):
        rename_adapter(ws, "beta", "../outside")
    with pytest.raises(WorkspaceError, match="no adapter 'alpah'"):
        rename_adapter(ws, "alpah", "x")
    assert (ws.adapters_dir / "beta").is_dir()


def test_tags_and_notes(ws: Workspace) -> None:
    info = set_tags(ws, "beta", add=["fast", "v1", "fast"])
    assert info.tags == ["fast", "v1"]
    info = set_tags(ws, "beta", remove=["FAST"])
    assert info.tags == ["v1"]
    assert set_notes(ws, "beta", "try a higher rank").notes == "try a higher rank"
    with pytest.raises(WorkspaceError, match="tag"):
        set_tags(ws, "beta", add=["a,b"])
    before = (ws.adapters_dir / "delta" / "studio.json").read_text()
    with pytest.raises(WorkspaceError, match="left untouched"):
        set_tags(ws, "delta", add=["x"])
    assert (ws.adapters_dir / "delta" / "studio.json").read_text() == before
    # a folder without studio.json (an imported plain PEFT adapter) gets one
    fake_adapter(ws.adapters_dir / "plain")
    assert set_tags(ws, "plain", add=["imported"]).tags == ["imported"]


def test_trash_and_restore(ws: Workspace) -> None:
    files_before = sorted(p.name for p in (ws.adapters_dir / "beta").iterdir())
    entry = delete_adapter(ws, "beta")
    assert not (ws.adapters_dir / "beta").exists()
    assert [e.name for e in list_trash(ws)] == ["beta"] and entry.path.is_dir()
    fake_adapter(ws.adapters_dir / "beta")      # the name is taken meanwhile
    restored = restore_adapter(ws, "beta")
    assert restored.name == "beta-v2" and sorted(p.name for p in restored.path.iterdir()) == files_before
    assert json.loads((restored.path / "studio.json").read_text())["name"] == "beta-v2"
    assert list_trash(ws) == []
    delete_adapter(ws, "alpha")
    assert restore_adapter(ws, "alpha", as_name="alpha-back").name == "alpha-back"
    delete_adapter(ws, "gamma")                 # broken adapters can be trashed too
    gone = empty_trash(ws)
    assert [e.name for e in gone] == ["gamma"] and list_trash(ws) == []
    with pytest.raises(WorkspaceError, match="nothing called"):
        restore_adapter(ws, "gamma")


def test_cli_edit_commands(ws: Workspace, capsys) -> None:
    home = ["--home", str(ws.home)]
    assert main(["adapters", "tag", "beta", "best", "--json", *home]) == 0
    assert last_json(capsys.readouterr().out)["adapter"]["tags"] == ["best"]
    assert main(["adapters", "rm", "beta", *home]) == 0
    assert "restore beta" in capsys.readouterr().out
    assert main(["adapters", "trash", "--json", *home]) == 0
    assert [e["name"] for e in last_json(capsys.readouterr().out)["entries"]] == ["beta"]
    assert main(["adapters", "restore", "beta", "--json", *home]) == 0
    assert last_json(capsys.readouterr().out)["adapter"]["name"] == "beta"
    assert main(["adapters", "rename", "beta", "no/slash", *home]) == 2
    assert "not allowed" in capsys.readouterr().err


def test_diff_highlights_differences(ws: Workspace, capsys) -> None:
    a, b = find_adapter(ws.adapters_dir, "alpha"), find_adapter(ws.adapters_dir, "beta")
    rows = {r.key: r for r in diff_adapters(a, b)}
    assert rows["config.lora.rank"].differs and (rows["config.lora.rank"].a, rows["config.lora.rank"].b) == (8, 4)
    assert rows["config.train.lr"].differs and not rows["config.train.epochs"].differs
    assert not rows["dataset.fingerprint"].differs and rows["peft.r"].differs
    only = diff_adapters(a, b, only_differences=True)
    assert only and all(r.differs for r in only) and "config.train.epochs" not in {r.key for r in only}
    assert main(["adapters", "diff", "alpha", "beta", "--json", "--home", str(ws.home)]) == 0
    out = last_json(capsys.readouterr().out)
    assert out["differences"] == len(only)


def test_base_check_by_hub_id_and_unknown(ws: Workspace, tmp_path: Path) -> None:
    from studio.core.adapter_compat import check_base

    # alpha and beta were trained on "some/base" (a hub id, not downloaded here)
    same = fake_adapter(tmp_path / "same-base", base="some/base")
    check = check_base(same, ws)
    assert check.status == "match" and check.how == "hub id" and "not downloaded" in check.message
    other = fake_adapter(tmp_path / "other-base", base="other/model")
    check = check_base(other, ws)
    assert check.status == "unknown" and not check.ok and "some/base" in check.message
