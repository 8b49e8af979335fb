"""Build the standalone app folder with PyInstaller, then check that it starts.

Run it on the system you build for (PyInstaller does not cross-compile), from a virtual
environment that has LoRA Studio and the torch build you want to ship:

    Linux / macOS:
        python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e '.[app]'
        .venv/bin/python packaging/build_app.py
    Windows (PowerShell):
        py -m venv .venv; .venv\\Scripts\\pip install torch==2.13.0; .venv\\Scripts\\pip install -e ".[app]"
        .venv\\Scripts\\python packaging\\build_app.py

The app folder is dist/lora-studio/ (on macOS also dist/LoRA Studio.app). Zip the folder (or the
.app) to ship it. The torch in the build environment is the one shipped: a CPU build gives a
CPU app of about 1 GB; a CUDA build adds the CUDA libraries (several GB).

    --smoke    after building, also run `studio demo` and `studio gui --screenshot` from the
               frozen folder (proves that workers start from the frozen app)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def executable(dist: Path) -> Path:
    return dist / "lora-studio" / ("studio.exe" if os.name == "nt" else "studio")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller's work folder")
    parser.add_argument("--clean", action="store_true", help="ignore PyInstaller's cache from an earlier build")
    parser.add_argument("--smoke", action="store_true", help="run the demo and the screenshots from the frozen app")
    args = parser.parse_args()
    if shutil.which("pyinstaller") is None and not _has_pyinstaller():
        print("error: PyInstaller is not installed\n  fix: pip install -e '.[app]' (or pip install pyinstaller)",
              file=sys.stderr)
        return 2
    icons = ROOT / "resources" / "icons"
    if not all((icons / f"lora-studio.{ext}").is_file() for ext in ("png", "ico", "icns")):
        subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py")], check=True)
    built = time.perf_counter()
    clean = ["--clean"] if args.clean else []
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", *clean, "--log-level", "WARN",
                    "--distpath", str(args.dist), "--workpath", str(args.work),
                    str(ROOT / "packaging" / "studio.spec")], check=True)
    app = executable(args.dist)
    print(f"built {app.parent} in {time.perf_counter() - built:.0f} s: "
          f"{folder_size(app.parent) / 2**20:.0f} MiB")
    print(f"start-up (`studio --version`): {timed([str(app), '--version']):.2f} s")
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="lora-studio-smoke-") as home:
            env = {**os.environ, "STUDIO_HOME": home, "QT_QPA_PLATFORM": "offscreen"}
            print(f"studio demo: {timed([str(app), 'demo'], env):.1f} s")
            shots = Path(home) / "screenshots"
            print(f"studio gui --screenshot: {timed([str(app), 'gui', '--screenshot', str(shots)], env):.1f} s")
            print(f"{len(list(shots.glob('*.png')))} screenshots in {shots}")
    return 0


def _has_pyinstaller() -> bool:
    import importlib.util

    return importlib.util.find_spec("PyInstaller") is not None


if __name__ == "__main__":
    raise SystemExit(main())
