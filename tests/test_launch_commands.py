"""Generated multi-GPU commands: the same config, launched by torchrun, accelerate or Slurm."""

from __future__ import annotations

import subprocess
from pathlib import Path

from studio.cli import main
from studio.core.launch_commands import LaunchPlan


def test_single_node_commands() -> None:
    plan = LaunchPlan(config="/cfg/run.yaml", gpus_per_node=4)
    assert plan.torchrun() == "torchrun --standalone --nproc_per_node 4 -m studio train --config /cfg/run.yaml"
    assert plan.accelerate().startswith("accelerate launch --num_processes 4 --multi_gpu -m studio train")


def test_fsdp_and_multi_node_slurm_script_is_valid_bash(tmp_path: Path) -> None:
    plan = LaunchPlan(config="/shared/run.yaml", gpus_per_node=8, nodes=2, strategy="fsdp", home="/shared/ws")
    assert "--use_fsdp" in plan.accelerate() and "--num_processes 16" in plan.accelerate()
    script = plan.slurm()
    assert "#SBATCH --nodes=2" in script and "#SBATCH --gpus-per-node=8" in script
    assert "NODE_RANK=$SLURM_NODEID" in script and "--home /shared/ws" in script
    path = tmp_path / "job.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)   # parses as bash
    ddp = LaunchPlan(config="/shared/run.yaml", gpus_per_node=8, nodes=2).slurm()
    assert "srun torchrun --nnodes 2 --nproc_per_node 8" in ddp


def test_launch_command_checks_the_config(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora:\n  rank: 0\n")
    assert main(["launch", "--config", str(bad)]) == 2
    assert "lora.rank = 0" in capsys.readouterr().err
