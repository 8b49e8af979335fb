"""The listing cache (core/listing_cache.py, run_index.py, adapter_index.py): a run or an adapter is
parsed once, reused while its files are unchanged, parsed again when they change, and the index
on disk gives a fresh process the same listing without parsing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import fake_adapter

from studio.core import protocol
from studio.core.adapter_index import adapter_cache
from studio.core.config import RunConfig
from studio.core.library import list_adapters, read_adapter
from studio.core.listing_cache import forget_shared_caches
from studio.core.run_index import index_path, run_cache
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS, RUN_CONFIG, list_runs, load_run
from studio.core.workspace import Workspace


@pytest.fixture(autouse=True)
def fresh_caches():
    forget_shared_caches()
    yield
    forget_shared_caches()


def finished_run(ws: Workspace, name: str, loss: float = 1.5, steps: int = 3) -> Path:
    config = RunConfig(name=name)
    config.lora.rank = 4
    config.data.system_prompt = "Be brief."
    run_dir = create_run(ws, config)
    events = [protocol.make("hello", pid=1), protocol.make("progress", step=steps, max_steps=steps, epoch=1.0)]
    events += [{"v": 1, "type": "metrics", "t": 1.0, "step": s, "loss": loss + s} for s in range(1, steps + 1)]
    events += [{"v": 1, "type": "eval", "t": 1.0, "step": steps, "eval_loss": loss},
               {"v": 1, "type": "predictions", "t": 1.0, "step": steps, "rows": [{"prompt": "p", "exact": True}],
                "exact_match": 1.0, "seconds": 0.5},
               protocol.make("done", status="completed", adapter_name=name)]
    (run_dir / EVENTS).write_text("".join(protocol.encode(e) + "\n" for e in events), encoding="utf-8")
    return run_dir


def same_run(a, b) -> None:  # noqa: ANN001
    assert (a.run_id, a.path, a.config_error) == (b.run_id, b.path, b.config_error)
    assert a.config == b.config
    assert a.history == b.history


def touch_later(path: Path) -> None:
    """Move the file's mtime on: a rewrite of the same size within one clock tick has it too."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_runs_are_parsed_once_and_again_only_when_their_files_change(home: Path) -> None:
    ws = Workspace.open(home)
    first, second = finished_run(ws, "first"), finished_run(ws, "second", loss=2.5)
    cache = run_cache(ws.runs_dir)
    listed = list_runs(ws.runs_dir)
    assert cache.parses == 2
    for info in listed:
        same_run(info, load_run(info.path))
    again = list_runs(ws.runs_dir)
    assert cache.parses == 2 and again[0].history is listed[0].history          # nothing re-read

    with open(second / EVENTS, "a", encoding="utf-8") as fh:                   # appended: the size moves
        fh.write(protocol.encode({"v": 1, "type": "metrics", "t": 2.0, "step": 4, "loss": 0.25}) + "\n")
    text = (first / RUN_CONFIG).read_text(encoding="utf-8")
    (first / RUN_CONFIG).write_text(text.replace("rank: 4", "rank: 8"), encoding="utf-8")   # same size
    touch_later(first / RUN_CONFIG)
    fresh = {info.run_id: info for info in list_runs(ws.runs_dir)}
    assert cache.parses == 4
    assert fresh[second.name].history.final_loss == 0.25
    assert fresh[first.name].config.lora.rank == 8
    for info in fresh.values():
        same_run(info, load_run(info.path))


def test_a_fresh_process_lists_from_the_index_without_parsing(home: Path) -> None:
    ws = Workspace.open(home)
    for name in ("a", "b", "c"):
        finished_run(ws, name)
    (ws.runs_dir / "broken").mkdir()
    (ws.runs_dir / "broken" / RUN_CONFIG).write_text("lora: {rank: many}\n", encoding="utf-8")
    before = list_runs(ws.runs_dir)
    assert index_path(ws.runs_dir).is_file()
    forget_shared_caches()                                  # as a new `studio runs list` process
    after = list_runs(ws.runs_dir)
    assert run_cache(ws.runs_dir).parses == 0
    assert len(after) == 4 and after[0].run_id == before[0].run_id
    for old, new in zip(before, after):
        same_run(old, new)
    assert after[-1].config is None and "rank" in after[-1].config_error      # "broken" sorts last

    index_path(ws.runs_dir).write_text("{not json", encoding="utf-8")       # a damaged index is rebuilt
    forget_shared_caches()
    for old, new in zip(before, list_runs(ws.runs_dir)):
        same_run(old, new)
    assert json.loads(index_path(ws.runs_dir).read_text(encoding="utf-8"))["format"] == 1


def test_a_run_gone_from_disk_leaves_the_index(home: Path) -> None:
    import shutil

    ws = Workspace.open(home)
    keep, gone = finished_run(ws, "keep"), finished_run(ws, "gone")
    list_runs(ws.runs_dir)
    shutil.rmtree(gone)
    assert [r.run_id for r in list_runs(ws.runs_dir)] == [keep.name]
    entries = json.loads(index_path(ws.runs_dir).read_text(encoding="utf-8"))["entries"]
    assert set(entries) == {keep.name}


def test_a_running_run_whose_worker_died_is_failed_without_changing_the_cache(home: Path) -> None:
    ws = Workspace.open(home)
    run_dir = create_run(ws, RunConfig(name="killed"))
    (run_dir / EVENTS).write_text(protocol.encode(protocol.make("hello", pid=1)) + "\n", encoding="utf-8")
    first = list_runs(ws.runs_dir)[0]
    assert first.status == "failed" and first.history.error["kind"] == "crashed"
    assert list_runs(ws.runs_dir)[0].status == "failed"                       # the cached parse still says running
    assert run_cache(ws.runs_dir).parses == 1


def test_adapters_are_read_once_and_again_when_a_file_changes(home: Path) -> None:
    ws = Workspace.open(home)
    record = {"name": "one", "created": "2026-01-02T00:00:00+00:00", "tags": ["x"],
              "base_model": {"name_or_path": "some/base"}}
    fake_adapter(ws.adapters_dir / "one", studio_json=record)
    fake_adapter(ws.adapters_dir / "two", studio_json={**record, "name": "two"})
    cache = adapter_cache(ws.adapters_dir)
    listed = list_adapters(ws.adapters_dir)
    assert cache.parses == 2
    assert [a.to_dict() for a in listed] == [read_adapter(a.path).to_dict() for a in listed]
    list_adapters(ws.adapters_dir)
    assert cache.parses == 2

    studio_json = ws.adapters_dir / "one" / "studio.json"
    studio_json.write_text(json.dumps({**record, "tags": ["y"]}), encoding="utf-8")
    touch_later(studio_json)
    (ws.adapters_dir / "two" / "notes.txt").write_text("more bytes", encoding="utf-8")      # size_bytes moves
    fresh = {a.name: a for a in list_adapters(ws.adapters_dir)}
    assert cache.parses == 4
    assert fresh["one"].tags == ["y"]
    assert fresh["two"].size_bytes == read_adapter(ws.adapters_dir / "two").size_bytes
    forget_shared_caches()                                  # a new process: from the index
    again = list_adapters(ws.adapters_dir)
    assert adapter_cache(ws.adapters_dir).parses == 0
    assert [a.to_dict() for a in again] == [a.to_dict() for a in fresh.values()]
    assert again[0].studio == fresh["one"].studio


# ---- `studio runs list` from the index's summaries ------------------------------------------------------
def test_summaries_are_the_runs_summaries_and_a_fresh_process_reads_them_without_decoding(home: Path) -> None:
    from studio.core.runs import list_run_summaries, run_summary

    ws = Workspace.open(home)
    finished_run(ws, "done-one")
    finished_run(ws, "done-two", loss=0.5, steps=5)
    killed = create_run(ws, RunConfig(name="killed"))     # running, worker gone: failed, with a crash error
    (killed / EVENTS).write_text(protocol.encode(protocol.make("hello", pid=1)) + "\n", encoding="utf-8")
    (ws.runs_dir / "broken").mkdir()
    (ws.runs_dir / "broken" / RUN_CONFIG).write_text("lora: {rank: many}\n", encoding="utf-8")
    expected = [run_summary(load_run(p)) for p in sorted(ws.runs_dir.iterdir())]
    assert [s["status"] for s in expected].count("failed") == 1
    assert list_run_summaries(ws.runs_dir) == expected                       # parsed now
    forget_shared_caches()                                                   # a new process: from the index
    assert list_run_summaries(ws.runs_dir) == expected
    cache = run_cache(ws.runs_dir)
    assert cache.parses == 0
    undecoded = [key for key, (_sig, parsed, _enc) in cache._entries.items() if parsed._full is not None]
    # The finished runs' histories were not built; the killed and the broken run ("created": its
    # time would move once it started) are summarised from their whole history.
    assert sorted(undecoded) == sorted(p.name for p in ws.runs_dir.iterdir() if p.name.endswith(("-one", "-two")))
    assert json.dumps(expected) == json.dumps(list_run_summaries(ws.runs_dir))   # same order of keys too


def test_a_damaged_history_text_in_the_index_is_parsed_again_from_the_folder(home: Path) -> None:
    ws = Workspace.open(home)
    run_dir = finished_run(ws, "only")
    before = list_runs(ws.runs_dir)[0]
    index = index_path(ws.runs_dir)
    data = json.loads(index.read_text(encoding="utf-8"))
    data["entries"][run_dir.name]["value"]["full"] = "{cut short"
    index.write_text(json.dumps(data), encoding="utf-8")
    forget_shared_caches()
    same_run(before, list_runs(ws.runs_dir)[0])


def test_closed_listings_stop_at_their_next_entry(home: Path) -> None:
    from studio.core.listing_cache import ListingClosed, close_listings, reopen_listings
    from studio.core.runs import list_run_summaries

    ws = Workspace.open(home)
    finished_run(ws, "a")
    fake_adapter(ws.adapters_dir / "x")
    close_listings()
    try:
        with pytest.raises(ListingClosed):
            list_runs(ws.runs_dir)
        with pytest.raises(ListingClosed):
            list_run_summaries(ws.runs_dir)
        with pytest.raises(ListingClosed):
            list_adapters(ws.adapters_dir)
    finally:
        reopen_listings()
    assert [r.name for r in list_runs(ws.runs_dir)] == ["a"]


def test_the_cli_imports_only_the_command_it_runs_and_knows_every_command() -> None:
    import subprocess
    import sys

    from studio.cli import COMMAND_MODULES, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMAND_MODULES)                       # the table names every command
    code = ("import sys; from studio.cli import main; main(['runs', 'list']); "
            "print(sorted(m for m in sys.modules if m.startswith('studio.cli.')), "
            "'rich' in sys.modules, 'studio.core.adapter_import' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "STUDIO_HOME": str(Path(__file__).parent / "no-such-home")})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "['studio.cli.common', 'studio.cli.runs_cmd'] False False"
