"""`studio doctor`: what this machine has for the app and for training, each with its fix.

Everything here is read without importing torch or Qt (package metadata, NVML, `ldd`, the file
system), so the check is fast and works even when the thing it checks is broken: a doctor that
crashes on the missing library it should report is no help.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.core.device import detect_device
from studio.core.display_check import check_platform_libraries, chosen_platform
from studio.core.workspace import Workspace

OK, WARN, FAIL = "ok", "warn", "fail"
LOW_DISK_BYTES = 20 * 1024**3        # a 7B model in bf16 is about 15 GB; checkpoints come on top
REQUIRED = ("torch", "transformers", "peft", "datasets", "accelerate", "safetensors", "PySide6-Essentials",
            "pyqtgraph")
AREAS = ("training", "app", "workspace")


@dataclass
class Check:
    area: str              # "app", "training", "workspace"
    name: str
    status: str            # ok | warn | fail
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(ws: Workspace, env: dict[str, str] | None = None) -> list[Check]:
    env = dict(os.environ) if env is None else env
    checks = [python_check(), *package_checks(), *device_checks(), *display_checks(env),
              *disk_checks(ws, env), write_check(ws)]
    return sorted(checks, key=lambda c: AREAS.index(c.area))


def python_check() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return Check("training", "Python", FAIL, version, "use Python 3.10 or newer")
    return Check("training", "Python", OK, version)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_checks() -> list[Check]:
    checks = []
    for package in REQUIRED:
        version = _version(package)
        area = "app" if package in ("PySide6-Essentials", "pyqtgraph") else "training"
        checks.append(Check(area, package, OK, version) if version else
                      Check(area, package, FAIL, "not installed", "reinstall: `pip install -e .` (or `pip install lora-studio`)"))
    bnb = _version("bitsandbytes")
    checks.append(Check("training", "bitsandbytes", OK, f"{bnb} (4-bit and 8-bit QLoRA)") if bnb else
                  Check("training", "bitsandbytes", WARN, "not installed: --quant 4bit/8bit are unavailable",
                        "`pip install bitsandbytes`"))
    return checks


def device_checks() -> list[Check]:
    device = detect_device()
    torch_version = _version("torch") or ""
    cpu_build = "+cpu" in torch_version
    if device.kind == "cuda":
        if cpu_build:
            return [Check("training", "device", FAIL, f"{device.describe()}, but torch {torch_version} is a CPU build",
                          "install the CUDA build of PyTorch for your driver (https://pytorch.org), "
                          "then `pip install -e .` again")]
        return [Check("training", "device", OK, device.describe())]
    return [Check("training", "device", WARN, f"no NVIDIA GPU found: training runs on {device.describe()}",
                  "fine for the demo and tiny models; for real models use a machine with an NVIDIA GPU "
                  "(and its driver, so `nvidia-smi` works)")]


def display_checks(env: dict[str, str]) -> list[Check]:
    if not sys.platform.startswith("linux"):
        return [Check("app", "display", OK, sys.platform)]
    platform = chosen_platform(env)
    if not platform:
        return [Check("app", "display", WARN, "no display (DISPLAY and WAYLAND_DISPLAY are not set)",
                      "the window needs a desktop session (or ssh -X); every action is also a `studio` command")]
    checks = [Check("app", "display", OK, f"{platform} ({env.get('WAYLAND_DISPLAY') or env.get('DISPLAY') or 'set'})")]
    problem = check_platform_libraries(env)
    checks.append(Check("app", "Qt platform libraries", FAIL, problem.message, problem.hint) if problem else
                  Check("app", "Qt platform libraries", OK, f"everything Qt's {platform} plugin loads is installed"))
    if shutil.which("fc-list") is None and not Path("/etc/fonts").is_dir():
        checks.append(Check("app", "fonts", WARN, "fontconfig not found: text may not render",
                            "`sudo apt install fontconfig fonts-dejavu-core` (Debian, Ubuntu)"))
    return checks


def disk_checks(ws: Workspace, env: dict[str, str]) -> list[Check]:
    places = {"workspace": ws.home,
              "Hugging Face cache": Path(env.get("HF_HUB_CACHE") or env.get("HF_HOME")
                                         or Path.home() / ".cache" / "huggingface")}
    checks = []
    for name, path in places.items():
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError as exc:
            checks.append(Check("workspace", f"disk ({name})", WARN, f"cannot read {path}: {exc.strerror}"))
            continue
        detail = f"{free / 1024**3:.1f} GB free at {path}"
        checks.append(Check("workspace", f"disk ({name})", OK, detail) if free >= LOW_DISK_BYTES else
                      Check("workspace", f"disk ({name})", WARN, detail,
                            "free space, or move it (--home / STUDIO_HOME for the workspace, HF_HOME for the cache)"))
    return checks


def write_check(ws: Workspace) -> Check:
    try:
        ws.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=ws.home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("workspace", "write access", FAIL, f"cannot write to {ws.home}: {exc.strerror}",
                     "choose a workspace you can write to with --home or STUDIO_HOME")
    return Check("workspace", "write access", OK, str(ws.home))
