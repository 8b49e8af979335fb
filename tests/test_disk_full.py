"""Disk full on a real filesystem (a few-MB tmpfs), during a checkpoint and during the adapter write.

The failpoint test in test_reliability.py fakes ENOSPC inside torch.save; this one lets the
libraries meet a real full disk (torch.save then raises a RuntimeError about stream positions,
safetensors its own error), which is what users hit. The tmpfs is private to a user+mount
namespace (`unshare`), so no root is needed; where the kernel forbids that, the test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, write_jsonl

pytestmark = pytest.mark.slow

UNSHARE = ["unshare", "--user", "--map-root-user", "--mount"]


def _can_mount_private_tmpfs(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*UNSHARE, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tmp_path)],
                           capture_output=True)
    return probe.returncode == 0


@pytest.fixture()
def scenario(tiny_model: Path, demo_data, tmp_path: Path) -> dict:
    if not _can_mount_private_tmpfs(tmp_path):
        pytest.skip("this kernel does not let an unprivileged process mount a private tmpfs (unshare)")
    data = write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:120])
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STUDIO_FAILPOINTS", None)
    result = subprocess.run([*UNSHARE, sys.executable, str(ROOT / "tests" / "disk_full_scenario.py"),
                             str(tiny_model), str(data), str(work)],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_real_full_disk_is_explained_and_nothing_is_lost(scenario: dict) -> None:
    # A checkpoint that does not fit: a disk error (not "a bug"), the previous checkpoint intact.
    full = scenario["checkpoint_full"]
    assert (full["code"], full["status"], full["error_kind"]) == (1, "failed", "disk"), full
    assert "the disk is full" in full["error"] and "free space" in full["hint"] and "--resume" in full["hint"]
    assert full["checkpoints"] == ["checkpoint-5"] and full["run_status"] == "failed"
    resumed = scenario["checkpoint_resumed"]
    assert (resumed["code"], resumed["status"], resumed["step"]) == (0, "completed", 10)
    assert resumed["adapters"] == [["runs-full", ""]]

    # The library's disk fills while the finished adapter is written: no half adapter is left,
    # the run keeps its final checkpoint, and the resume writes the adapter without training.
    full = scenario["adapter_full"]
    assert (full["code"], full["error_kind"]) == (1, "disk"), full
    assert "adapters" in full["error"]
    assert full["adapters"] == [] and full["library_files"] == []
    assert full["checkpoints"][-1] == "checkpoint-10"
    resumed = scenario["adapter_resumed"]
    assert (resumed["code"], resumed["status"], resumed["step"]) == (0, "completed", 10)
    assert resumed["adapters"] == [["library-full", ""]]
