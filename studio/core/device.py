"""Which device a run will train on and how much memory it has, without importing torch.

NVIDIA GPUs are found through nvidia-ml-py (NVML) when installed, else `nvidia-smi`; without a
GPU the device is the CPU with the system's RAM (psutil). The worker makes the same choice
(CUDA when available, else CPU), so the Train page's estimate is checked against the right
number. Detection can take a few hundred milliseconds (nvidia-smi), so the GUI calls it off
the main thread.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass

from studio.core.memory import format_bytes


@dataclass(frozen=True)
class DeviceInfo:
    kind: str            # "cuda" or "cpu"
    name: str
    total_bytes: int
    free_bytes: int

    def describe(self) -> str:
        what = "RAM" if self.kind == "cpu" else "free"
        if self.kind == "cpu":
            return f"{self.name} · {format_bytes(self.free_bytes)} {what} available of {format_bytes(self.total_bytes)}"
        return f"{self.name} · {format_bytes(self.free_bytes)} free of {format_bytes(self.total_bytes)}"


def detect_device() -> DeviceInfo:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) not in ("", "-1"):
        for probe in (_nvml, _nvidia_smi):
            found = probe()
            if found is not None:
                return found
    return cpu_device()


def cpu_device() -> DeviceInfo:
    import psutil

    memory = psutil.virtual_memory()
    cores = psutil.cpu_count(logical=True) or 1
    return DeviceInfo("cpu", f"CPU ({cores} cores{', ' + _cpu_model() if _cpu_model() else ''})",
                      int(memory.total), int(memory.available))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _nvml() -> DeviceInfo | None:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            return DeviceInfo("cuda", name.decode() if isinstance(name, bytes) else str(name),
                              int(memory.total), int(memory.free))
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no device: NVML raises its own error types
        return None


def _nvidia_smi() -> DeviceInfo | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()[0] if out.strip() else ""
    parts = [p.strip() for p in first.split(",")]
    if len(parts) != 3:
        return None
    try:
        return DeviceInfo("cuda", parts[0], int(float(parts[1]) * 1024 ** 2), int(float(parts[2]) * 1024 ** 2))
    except ValueError:
        return None
