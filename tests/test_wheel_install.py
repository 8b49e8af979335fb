"""The package as a user installs it: build the sdist and the wheel (from the sdist, as
`python -m build` does), install the wheel into a fresh virtual environment, and run `studio demo`
and `studio gui --screenshot` from there, outside the source tree.

This proves the wheel carries everything the app needs at run time (the resources/ folder as
studio/resources, the presets, the worker entry point) and that its dependency list installs.
Takes a minute or two (pip unpacks torch, transformers and Qt into the new environment, from
pip's cache when it has them). Deselect it locally with `-m "not packaging"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"   # the CPU build the README installs first (a local file here)


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing that points Python at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], cwd=out, env=clean_env())
    return next(out.glob("*.tar.gz")), next(out.glob("*.whl"))


def test_sdist_and_wheel_carry_the_resources(dist: tuple[Path, Path]) -> None:
    sdist, wheel = dist
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    assert any(n.endswith("resources/style/app.qss") for n in names)
    assert any(n.endswith("packaging/studio.spec") for n in names)
    with zipfile.ZipFile(wheel) as whl:
        files = set(whl.namelist())
    for needed in ("studio/resources/style/app.qss", "studio/resources/icons/lora-studio.svg",
                   "studio/resources/icons/lora-studio.png", "studio/resources/presets/qlora-7b-24gb.yaml",
                   "studio/entry.py", "studio/engine/__main__.py", "studio/gui/app.py"):
        assert needed in files, f"{needed} is missing from {wheel.name}"
    assert not any(name.startswith(("tests/", "packaging/")) for name in files)
    metadata = next(n for n in files if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as whl:
        text = whl.read(metadata).decode()
    assert "Provides-Extra: cuda" in text and "liger-kernel" in text and "nvidia-ml-py" in text


def test_installed_wheel_runs_the_demo_and_the_app(dist: tuple[Path, Path], tmp_path: Path) -> None:
    _, wheel = dist
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "-q"]
    run(pip + [TORCH], cwd=tmp_path, env=clean_env())
    run(pip + [str(wheel)], cwd=tmp_path, env=clean_env())
    studio = str(bin_dir / "studio")
    home = tmp_path / "home"
    env = clean_env(STUDIO_HOME=str(home), QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1",
                    XDG_DATA_HOME=str(tmp_path / "xdg"))

    # The installed package, not this checkout, and the files it ships beside it.
    found = run([str(bin_dir / "python"), "-c", "import studio, studio.core.resources as r; "
                 "print(studio.__file__); print(r.resources_dir())"], cwd=tmp_path, env=env).split()
    assert Path(found[0]).is_relative_to(venv) and Path(found[1]).is_relative_to(venv), found
    assert Path(found[1]).name == "resources" and Path(found[1]).parent.name == "studio"

    out = run([studio, "demo", "--json"], cwd=tmp_path, env=env, timeout=1800)   # ~1 min on an idle machine
    demo = json.loads(out.strip().splitlines()[-1])
    assert demo["status"] == "completed", demo
    assert demo["accuracy"]["adapter"] > demo["accuracy"]["base"], demo      # the adapter learned the task
    assert Path(demo["library_adapter"]).is_relative_to(home)

    shots = tmp_path / "shots"
    run([studio, "gui", "--screenshot", str(shots)], cwd=tmp_path, env=env)
    pngs = sorted(shots.glob("*.png"))
    assert {"train-light.png", "train-dark.png", "runs-light.png"} <= {p.name for p in pngs}
    assert all(p.stat().st_size > 20_000 for p in pngs), [(p.name, p.stat().st_size) for p in pngs]

    run([studio, "install-desktop"], cwd=tmp_path, env=env)
    entry = (tmp_path / "xdg" / "applications" / "lora-studio.desktop").read_text()
    assert f"Exec={studio} gui" in entry
