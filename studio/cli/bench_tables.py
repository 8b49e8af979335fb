"""`studio bench`'s tables for the memory and GUI sections (the training table is in bench_cmd)."""

from __future__ import annotations

from typing import Any

from studio.cli.common import human_bytes

STALL_GOAL_MS = 50


def print_memory_table(section: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Memory estimate (Train page) against the measured peak "
                        f"({'CUDA max allocated' if section['device'] == 'cuda' else 'peak RSS'}), "
                        f"{section['steps']} steps each", title_justify="left")
    for column in ("run", "estimate", "measured", "error"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for case in section["cases"]:
        table.add_row(case["case"], human_bytes(case["estimate_bytes"]), human_bytes(case["measured_bytes"]),
                      f"{case['error']:+.1%}")
    console = Console()
    console.print(table)
    console.print(f"largest error {section['largest_error']:.1%}, mean {section['mean_error']:.1%} "
                  f"(positive: the estimate is above the peak)")


def print_gui_table(section: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"GUI event loop ({section['qt_platform']} Qt, {section['cpu_count']} cores): longest "
                        f"time a click would wait", title_justify="left")
    for column in ("while", "longest stall", "99th percentile", "stalls > 50 ms", "events/s", "seconds"):
        table.add_column(column, justify="left" if column == "while" else "right")
    rows = [("idle (the floor: timer and OS noise)", section.get("idle"))]
    if "event_flood" in section:
        rows.append((f"event flood, {section['event_flood']['asked_steps_per_s']:g} steps/s asked",
                     section["event_flood"]))
    if "training_run" in section:
        rows.append((f"demo training run, {section['training_run']['steps']} steps", section["training_run"]))
    for label, figures in rows:
        if not figures:
            continue
        table.add_row(label, f"{figures['longest_stall_ms']:.0f} ms", f"{figures['p99_stall_ms']:.0f} ms",
                      str(figures["stalls_over_50ms"]), str(figures.get("events_per_s", "-")),
                      str(figures.get("seconds", "-")))
    console.print(table)
    plot = section["plot"]
    table = Table(title=f"Runs page plots, {plot['points_per_series']:,} points in each of {plot['series']} series",
                  title_justify="left")
    for column in ("frame", "median", "95th percentile", "max"):
        table.add_column(column, justify="left" if column == "frame" else "right")
    for label, key in (("all five plots redrawn", "full_redraw"), ("live: one plot per frame, 10 new points",
                                                                   "live_frame_10_new_points")):
        f = plot[key]
        table.add_row(label, f"{f['median_ms']:.1f} ms", f"{f['p95_ms']:.1f} ms", f"{f['max_ms']:.1f} ms")
    console.print(table)
    console.print(f"opening the run: {plot['load_run_s']:.2f} s to read it, {plot['first_draw_s']:.2f} s to draw it")


def print_scale_table(section: dict[str, Any]) -> None:
    """The scale section: listings and the app per workspace size, then tokenization and the long history."""
    from rich.console import Console
    from rich.table import Table

    summary = section["summary"]
    console = Console()
    table = Table(title=f"Listings: fresh processes, median of {section['config']['repeats']} (time, peak RSS)",
                  title_justify="left")
    for column in ("runs / adapters", "runs list", "runs list --json", "adapters list", "first runs list"):
        table.add_column(column, justify="left" if column == "runs / adapters" else "right")
    apps = Table(title=f"The app ({summary['cpu_count']} cores)", title_justify="left")
    for column in ("runs / adapters", "idle after", "longest stall to idle", "Runs page stall", "quit", "peak RSS"):
        apps.add_column(column, justify="left" if column == "runs / adapters" else "right")
    for entry in summary["sizes"].values():
        label = f"{entry['runs']} / {entry['adapters']}"
        table.add_row(label, *[f"{entry[k]['seconds']:.2f} s, {human_bytes(entry[k]['peak_rss_bytes'])}"
                               for k in ("runs_list", "runs_list_json", "adapters_list")],
                      f"{entry['first_runs_list_s']:.2f} s")
        gui = entry.get("gui")
        if gui:
            apps.add_row(label, f"{gui['to_idle_s']:.1f} s", f"{gui['launch']['longest_stall_ms']:.0f} ms",
                         f"{gui['runs_page']['longest_stall_ms']:.0f} ms", f"{gui['quit_s']:.2f} s",
                         human_bytes(gui.get("peak_rss_bytes")))
    console.print(table)
    if apps.row_count:
        console.print(apps)
    if summary["tokenization"]:
        tokens = Table(title="Tokenizing demo rows (the worker's read + tokenize, cache off)", title_justify="left")
        for column in ("rows", "read", "tokenize", "per row", "peak RSS", "process"):
            tokens.add_column(column, justify="right")
        for rows, t in summary["tokenization"].items():
            tokens.add_row(f"{int(rows):,}", f"{t['read_s']:.2f} s", f"{t['tokenize_s']:.2f} s",
                           f"{1000 * t['tokenize_s'] / max(1, int(rows)):.3f} ms",
                           human_bytes(t["peak_rss_bytes"]), f"{t['process_s']:.1f} s")
        console.print(tokens)
    history = summary.get("history")
    if history:
        show = history["runs_show"]
        console.print(f"runs show of a {history['steps']:,}-step run ({human_bytes(history['events_bytes'])} of "
                      f"events): {show['seconds']:.2f} s, {human_bytes(show['peak_rss_bytes'])}")
