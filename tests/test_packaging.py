"""Packaging without building anything: the frozen entry point, where resources are found,
the Linux menu entry, the shipped presets, and launch commands for a frozen app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from studio.cli import main as cli_main
from studio.core import desktop_entry, resources
from studio.core.config_io import load_config
from studio.core.launch_commands import LaunchPlan, frozen_program
from studio.core.worker_process import worker_command

PRESETS = sorted((Path(__file__).resolve().parents[1] / "resources" / "presets").glob("*.yaml"))


@pytest.fixture()
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Pretend to be a PyInstaller app in tmp_path/app: "LoRA Studio" (no console) beside `studio`."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "studio").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "LoRA Studio"))
    return app


def test_workers_of_a_frozen_app_start_its_console_executable(frozen: Path) -> None:
    assert worker_command("train", "--run-dir", "R") == [str(frozen / "studio"), "--worker", "train", "--run-dir", "R"]
    assert frozen_program() == str(frozen / "studio")


def test_entry_sends_worker_and_torchrun_arguments_to_their_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.engine.__main__ as engine_main
    import studio.entry as entry

    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(engine_main, "main", lambda argv: calls.append(("worker", argv)) or 7)
    monkeypatch.setattr(entry, "_torchrun", lambda argv: calls.append(("torchrun", argv)) or 0)
    monkeypatch.setattr("studio.cli.main", lambda argv: calls.append(("cli", argv)) or 3)
    assert entry.main(["--worker", "demo-model", "--out", "X"]) == 7
    assert entry.main(["--torchrun", "--standalone", "--no-python", "studio", "train"]) == 0
    assert entry.main(["runs", "list"]) == 3
    assert calls == [("worker", ["demo-model", "--out", "X"]),
                     ("torchrun", ["--standalone", "--no-python", "studio", "train"]), ("cli", ["runs", "list"])]


def test_launch_commands_of_a_frozen_app_run_its_executable() -> None:
    plan = LaunchPlan(config="/shared/run.yaml", gpus_per_node=4, program="/opt/LoRA Studio/studio")
    assert plan.torchrun() == ("'/opt/LoRA Studio/studio' --torchrun --standalone --nproc_per_node 4 "
                               "--no-python '/opt/LoRA Studio/studio' train --config /shared/run.yaml")
    assert plan.accelerate().endswith("--multi_gpu --no_python '/opt/LoRA Studio/studio' train "
                                      "--config /shared/run.yaml")
    assert "-m studio" not in plan.slurm()


def test_resources_are_found_in_the_bundle_of_a_frozen_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundled = tmp_path / "_internal" / "studio" / "resources"
    (bundled / "style").mkdir(parents=True)
    (bundled / "style" / "app.qss").write_text("/* frozen */")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    resources.resources_dir.cache_clear()
    try:
        assert resources.resources_dir() == bundled
        assert resources.read_text("style/app.qss") == "/* frozen */"
    finally:
        monkeypatch.delattr(sys, "_MEIPASS")
        resources.resources_dir.cache_clear()
    assert (resources.resources_dir() / "icons" / "lora-studio.svg").is_file()   # the checkout's again


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_are_valid_run_configs(preset: Path) -> None:
    config = load_config(preset)          # strict: an unknown key or a bad value is an error
    config.data.path = "my_chats.jsonl"   # the one thing a preset leaves to the user
    config.validate()
    assert config.model.name_or_path and config.name
    assert f"studio train --config {preset.name}" in preset.read_text()


def test_presets_are_shipped() -> None:
    names = {p.stem for p in PRESETS}
    assert {"quick-cpu-test", "qlora-7b-24gb"} <= names
    assert (resources.resources_dir() / "presets").is_dir()


def test_install_desktop_writes_the_menu_entry_and_uninstall_removes_exactly_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("a freedesktop menu entry is for Linux")
    data = tmp_path / "xdg-data"
    other = data / "applications" / "someone-else.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\n")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))

    assert cli_main(["install-desktop"]) == 0
    files = desktop_entry.desktop_files(data)
    entry = files.entry.read_text()
    assert files.entry == data / "applications" / "lora-studio.desktop"
    assert "Name=LoRA Studio" in entry and "Icon=lora-studio" in entry and "Type=Application" in entry
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" gui") and Path(exec_line[5:-4].strip('"')).exists()
    assert files.icon_svg.read_bytes() == resources.resource_path("icons/lora-studio.svg").read_bytes()
    assert files.icon_png.parent == data / "icons" / "hicolor" / "256x256" / "apps"
    assert "wrote" in capsys.readouterr().out

    before = sorted(p for p in data.rglob("*") if p.is_file())
    assert cli_main(["install-desktop", "--uninstall"]) == 0
    after = sorted(p for p in data.rglob("*") if p.is_file())
    assert sorted(set(before) - set(after)) == sorted(files.all()) and after == [other]
    assert cli_main(["install-desktop", "--uninstall"]) == 0        # nothing left: says so, no error
    assert "nothing to remove" in capsys.readouterr().out


def test_exec_line_quotes_paths_with_spaces() -> None:
    assert desktop_entry.exec_line(["/opt/LoRA Studio/studio", "gui"]) == '"/opt/LoRA Studio/studio" gui'
    assert desktop_entry.exec_line(["/a/$x"]) == '"/a/\\$x"'
