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
