"""Commands that run a saved config on several GPUs or machines, for people to copy.

The same run.yaml that `studio train --config` reads trains under torchrun (DDP) or accelerate
(DDP, FSDP, DeepSpeed); a Slurm script wraps torchrun for clusters. Generating them here keeps
the GUI's "run elsewhere" panel and `studio launch` identical.

A frozen app (PyInstaller) has no Python to run `-m studio`: there `program` is the app's
`studio` executable, torchrun is the copy inside the app (`studio --torchrun`, see studio.entry)
and both launchers start the program itself (`--no-python` / `--no_python`). accelerate is not
inside the app: its lines need `pip install accelerate` on the machine that runs them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from studio.core.worker_process import frozen_program  # noqa: F401 - the CLI and the dialog take it from here

STRATEGIES = ("ddp", "fsdp", "deepspeed")


@dataclass
class LaunchPlan:
    config: str
    gpus_per_node: int = 1
    nodes: int = 1
    strategy: str = "ddp"
    home: str = ""
    program: str = ""      # a frozen app's `studio` executable; empty: `python -m studio`

    def _train_args(self, no_python: str = "--no-python") -> str:
        start = f"{no_python} {shlex.quote(self.program)}" if self.program else "-m studio"
        args = f"{start} train --config {shlex.quote(self.config)}"
        return args + (f" --home {shlex.quote(self.home)}" if self.home else "")

    def _torchrun_program(self) -> str:
        return f"{shlex.quote(self.program)} --torchrun" if self.program else "torchrun"

    def torchrun(self) -> str:
        if self.nodes > 1:
            return (f"{self._torchrun_program()} --nnodes {self.nodes} --nproc_per_node {self.gpus_per_node} "
                    "--rdzv_backend c10d --rdzv_endpoint $MASTER_ADDR:29500 --rdzv_id $JOB_ID "
                    + self._train_args())
        return f"{self._torchrun_program()} --standalone --nproc_per_node {self.gpus_per_node} " + self._train_args()

    def accelerate(self) -> str:
        parts = ["accelerate launch", f"--num_processes {self.gpus_per_node * self.nodes}"]
        if self.nodes > 1:
            parts += [f"--num_machines {self.nodes}", "--machine_rank $NODE_RANK",
                      "--main_process_ip $MASTER_ADDR", "--main_process_port 29500"]
        if self.strategy == "fsdp":
            parts += ["--use_fsdp", "--fsdp_sharding_strategy FULL_SHARD",
                      "--fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP", "--fsdp_use_orig_params false",
                      "--fsdp_cpu_ram_efficient_loading true", "--fsdp_sync_module_states true"]
        elif self.strategy == "deepspeed":
            parts += ["--use_deepspeed", "--zero_stage 3", "--zero3_init_flag true"]
        else:
            parts += ["--multi_gpu"] if self.gpus_per_node * self.nodes > 1 else []
        return " ".join(parts) + " " + self._train_args("--no_python")

    def slurm(self, job_name: str = "lora-studio", hours: int = 24) -> str:
        return "\n".join([
            "#!/bin/bash",
            f"#SBATCH --job-name={job_name}",
            f"#SBATCH --nodes={self.nodes}",
            "#SBATCH --ntasks-per-node=1",
            f"#SBATCH --gpus-per-node={self.gpus_per_node}",
            f"#SBATCH --time={hours}:00:00",
            "#SBATCH --output=%x-%j.out",
            "",
            "# The workspace (STUDIO_HOME) must be on a disk every node sees; the desktop app",
            "# follows the run by reading runs/<id>/events.jsonl from there.",
            "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)",
            "export JOB_ID=$SLURM_JOB_ID",
            self._srun_line(),
            "",
        ])

    def _srun_line(self) -> str:
        if self.strategy == "ddp":
            return "srun " + self.torchrun()
        # accelerate needs each machine's rank, which Slurm sets per task: expand it inside the task.
        return "srun bash -c " + shlex.quote("NODE_RANK=$SLURM_NODEID " + self.accelerate())
