"""A run stopped at any point the failpoints offer resumes to exactly its last step, no further.

Each case trains the tiny model for 10 steps (checkpoints every 5), fails at one point, resumes,
and checks what a user reads afterwards: the final step, the loss steps, the adapter's own step
count and weights, and that nothing half-written is left in the library.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import studio
from studio.core.library import list_adapters, read_adapter
from studio.core.runs import COMPLETE_MARK, checkpoints, load_run
from studio.core.workspace import Workspace
from test_reliability import data, losses, new_run, run_worker  # noqa: F401  (data is a fixture)

pytestmark = pytest.mark.slow

MAX_STEPS = 10

# failpoint, exit code of the failed attempt, the checkpoint the resume starts from
KILL_POINTS = [
    ("kill_at_step:7", 137, "checkpoint-5"),
    ("oom_at_step:7", 1, "checkpoint-5"),
    ("enospc_in_checkpoint:10", 1, "checkpoint-5"),
    ("kill_before_checkpoint_mark:10", 137, "checkpoint-5"),
    ("kill_before_adapter_save", 137, "checkpoint-10"),
    ("kill_in_adapter_save", 137, "checkpoint-10"),
]


@pytest.mark.parametrize("failpoint,code,resumes_from", KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_resume_ends_at_the_last_step(home: Path, tiny_model: Path, data: Path,  # noqa: F811
                                      failpoint: str, code: int, resumes_from: str) -> None:
    run_dir = new_run(home, tiny_model, data, "point", max_steps=MAX_STEPS)
    failed_code, _ = run_worker(run_dir, failpoints=failpoint)
    assert failed_code == code
    assert load_run(run_dir).status == "failed"
    assert checkpoints(run_dir)[-1].name == resumes_from

    resumed_code, events = run_worker(run_dir, "--resume")
    done = events[-1]
    assert resumed_code == 0 and done["status"] == "completed", events[-3:]
    assert done["step"] == MAX_STEPS
    info = load_run(run_dir)
    assert (info.history.step, info.history.max_steps) == (MAX_STEPS, MAX_STEPS)
    steps, _ = losses(run_dir)
    assert sorted(set(steps)) == list(range(1, MAX_STEPS + 1)) and max(steps) == MAX_STEPS
    trained = [e["step"] for e in events if e["type"] == "metrics"]
    assert all(s <= MAX_STEPS for s in trained)

    adapters = list_adapters(Workspace.open(home).adapters_dir)
    assert [a.name for a in adapters] == ["point"]          # no .tmp- leftover of the failed attempt
    adapter = read_adapter(Path(done["adapter"]))
    assert adapter.studio["metrics"]["steps"] == MAX_STEPS
    # The adapter holds the weights of the last checkpoint, whether or not the resume trained.
    final = load_file(str(checkpoints(run_dir)[-1] / "adapter_model.safetensors"))
    saved = load_file(str(adapter.path / "adapter_model.safetensors"))
    assert final.keys() == saved.keys()
    assert all(bool((final[k] == saved[k]).all()) for k in final)
    listing = studio("runs", "list", home=home).stdout
    assert f"{MAX_STEPS}/{MAX_STEPS}" in listing and f"{MAX_STEPS + 1}/" not in listing


def test_one_kept_checkpoint_is_never_deleted_before_the_next_is_complete(
        home: Path, tiny_model: Path, data: Path) -> None:  # noqa: F811
    """With --keep-checkpoints 1 the previous checkpoint goes only once the new one is marked
    complete: a kill in between still leaves one to resume from."""
    run_dir = new_run(home, tiny_model, data, "keep-one", max_steps=MAX_STEPS, keep_checkpoints=1)
    assert run_worker(run_dir, failpoints="kill_before_checkpoint_mark:10")[0] == 137
    assert [c.name for c in checkpoints(run_dir)] == ["checkpoint-5"]
    assert (run_dir / "checkpoints" / "checkpoint-5" / COMPLETE_MARK).is_file()
    code, events = run_worker(run_dir, "--resume")
    assert code == 0 and events[-1]["step"] == MAX_STEPS
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["checkpoint-10"]
