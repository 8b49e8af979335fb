"""`studio bench --sections scale` end to end at tiny sizes (N = 0 and 3 runs, 50 rows, a 200-step
history): every figure of the report is there and measured (figures are recorded in
docs/benchmarks.md, never asserted here), and the workspaces it builds look like real ones."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import last_json, studio

from studio.core.bench import scale_workspace as sw
from studio.core.runs import list_runs
from studio.core.listing_cache import forget_shared_caches


def test_the_scale_section_measures_listings_the_app_tokenization_and_a_long_history(home: Path,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = studio("bench", "--sections", "scale", "--scale-sizes", "0,3", "--scale-rows", "50", "--scale-steps",
                    "200", "--repeats", "1", "--out", str(out), "--json", home=home, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = last_json(result.stdout)
    section = report["sections"]["scale"]
    assert section["config"] == {"sizes": [0, 3], "rows": [50], "history_steps": 200, "repeats": 1, "gui": True}
    summary = section["summary"]
    assert list(summary["sizes"]) == ["0", "3"]
    for n, entry in summary["sizes"].items():
        assert (entry["runs"], entry["adapters"]) == (int(n), int(n) // 2)
        assert entry["first_runs_list_s"] > 0
        for key in ("runs_list", "runs_list_json", "adapters_list"):
            assert entry[key]["seconds"] > 0 and entry[key]["peak_rss_bytes"] > 0, (n, key)
        assert entry["runs_list"]["lines"] == max(1, int(n))          # "No runs yet." or one line per run
        gui = entry["gui"]
        assert gui["idle_reached"] and gui["runs_listed"] == gui["runs_on_disk"] == int(n)
        assert gui["to_idle_s"] > 0 and gui["quit_s"] > 0 and gui["peak_rss_bytes"] > 0
        for phase in ("launch", "runs_page"):
            assert gui[phase]["longest_stall_ms"] > 0 and gui[phase]["ticks"] > 0, (n, phase)
    tokens = summary["tokenization"]["50"]
    assert tokens["rows"] == tokens["examples"] == 50 and tokens["tokens"] > 50 * 10
    assert tokens["tokenize_s"] > 0 and tokens["peak_rss_bytes"] > 0 and tokens["process_peak_rss_bytes"] > 0
    history = summary["history"]
    assert history["steps"] == 200 and history["events_bytes"] > 200 * 100
    assert history["runs_show"]["seconds"] > 0 and history["runs_show"]["lines"] > 3
    kinds = [r["kind"] for r in section["runs"]]
    assert kinds == ["workspace", "workspace", "tokenization", "history"]
    assert json.loads((out / "report.json").read_text())["sections"]["scale"]["summary"] == summary
    assert (home / "bench" / "scale-seed" / "home" / "adapters" / "seed" / "studio.json").is_file()   # kept
    assert not (home / "runs").exists() or not list((home / "runs").iterdir())      # the user's runs untouched


def test_scale_workspaces_are_copies_of_the_seed_and_the_long_history_replays(home: Path, tmp_path: Path) -> None:
    """Without training: a hand-made seed run (a real run folder's files) is copied N times, and the
    long run's events replay to the asked number of steps."""
    from helpers import fake_adapter
    from test_listing_cache import finished_run

    from studio.core.runs import load_run
    from studio.core.workspace import Workspace

    seed = Workspace.open(tmp_path / "seed")
    finished_run(seed, "seed")
    fake_adapter(seed.adapters_dir / "seed", studio_json={"name": "seed"})
    target = tmp_path / "n5"
    sw.make_workspace(seed.home, target, 5, 2)
    forget_shared_caches()
    runs = list_runs(target / "runs")
    assert [r.run_id for r in runs] == [sw.run_id(i) for i in range(5)]
    assert {r.status for r in runs} == {"completed"} and sorted(p.name for p in (target / "adapters").iterdir()) \
        == ["scale-00000", "scale-00001"]
    rid = sw.make_long_run(seed.home, target, 300)
    long = load_run(target / "runs" / rid)
    assert long.history.step == 300 and len(long.history.series["loss"]) == 300 and long.status == "completed"
    rows = sw.write_rows(tmp_path / "rows.jsonl", 7).read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(set(rows)) == 7
