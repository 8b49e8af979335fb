"""Every GPU measurement in one go, for the rare session that is lent a GPU (see gpu_check.sh).

    benchmarks/gpu_check.sh [--dry-run] [--out DIR] [--budget-s S] [--only STEP,...]

Steps, each a plain `studio` / worker command so what is measured is what users run:

1. environment   the GPU, the driver, the library versions
2. models        random-init models of real shapes (Qwen2.5-0.5B, Llama-3-8B: their layer sizes,
                 vocabularies and tied embeddings) with the demo's byte-level tokenizer
3. bench-*       `studio bench --sections training` at sequence length 2048: studio against the
                 Trainer and TRL baselines, 4-bit and bf16, Liger on and off; tokens/s, MFU, peak VRAM
4. memory        the Train page's estimate against the measured peak of every studio run above
5. auto-gc       a run told it has less free memory than it needs turns gradient checkpointing on
6. chat, export  `studio chat` (both slots' tokens/s) and `studio export` (verified merge) on a
                 trained adapter

Writes gpu_check.json (everything) and gpu_check.md (the tables). A step that fails is recorded
with its log's tail and the rest go on; steps left when the time budget is spent are skipped and
say so. --dry-run runs the same steps on the CPU with tiny shapes and a few steps, so CI keeps the
script working (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_check_plan import Plan, plan_for  # noqa: E402
from gpu_check_report import markdown, mfu  # noqa: E402

PY = sys.executable


def run(cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=str(ROOT))


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON object in the output")


class Check:
    def __init__(self, plan: Plan, out: Path, budget_s: float, only: set[str]) -> None:
        self.plan, self.out, self.only = plan, out, only
        self.deadline = time.monotonic() + budget_s
        self.results: dict[str, Any] = {"plan": plan.name, "dry_run": plan.dry_run, "steps": {}}
        self.home = out / "home"

    def step(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        if self.only and not any(name == o or name.startswith(o + "-") for o in self.only):
            return None
        left = self.deadline - time.monotonic()
        if left < 20:
            self.results["steps"][name] = {"status": "skipped", "why": "the time budget is spent"}
            print(f"[gpu-check] {name}: skipped (time budget spent)", flush=True)
            return None
        print(f"[gpu-check] {name} ...", flush=True)
        started = time.monotonic()
        try:
            result = {"status": "ok", **fn()}
        except Exception as exc:  # noqa: BLE001 - one failed step must not lose the others' figures
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.monotonic() - started, 1)
        self.results["steps"][name] = result
        print(f"[gpu-check] {name}: {result['status']} in {result['seconds']} s"
              + (f" ({result['error']})" if result["status"] == "failed" else ""), flush=True)
        self.save()
        return result

    def timeout(self) -> float:
        return max(10.0, self.deadline - time.monotonic())

    def save(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.results, indent=1), encoding="utf-8")
        (self.out / "gpu_check.md").write_text(markdown(self.results), encoding="utf-8")

    def checked(self, proc: subprocess.CompletedProcess, log: Path) -> None:
        if proc.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise RuntimeError(f"exit code {proc.returncode}; {log.name}: ...{tail}")

    # ---- the steps --------------------------------------------------------------------------------------
    def environment(self) -> dict[str, Any]:
        code = ("import json, importlib, torch\n"
                "v = {}\n"
                "for m in ('torch','transformers','peft','trl','bitsandbytes','accelerate','datasets','liger_kernel'):\n"
                "    try: v[m] = importlib.import_module(m).__version__\n"
                "    except Exception as e: v[m] = 'missing: ' + type(e).__name__\n"
                "gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None\n"
                "mem = torch.cuda.get_device_properties(0).total_memory if gpu else None\n"
                "print(json.dumps({'versions': v, 'gpu': gpu, 'gpu_memory_bytes': mem, 'cuda': torch.version.cuda}))")
        log = self.out / "logs" / "environment.log"
        proc = run([PY, "-c", code], log, 120)
        self.checked(proc, log)
        info = last_json(proc.stdout)
        if not self.plan.dry_run and not info["gpu"]:
            raise RuntimeError("torch sees no CUDA GPU; use --dry-run on a machine without one")
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True) if not self.plan.dry_run else None
        info["nvidia_smi"] = smi.stdout.strip() if smi is not None else None
        self.results["environment"] = info
        return info

    def model(self, name: str) -> dict[str, Any]:
        shape = self.plan.models[name]
        folder = self.out / "models" / name
        log = self.out / "logs" / f"model-{name}.log"
        proc = run([PY, "-m", "studio.engine", "demo-model", "--out", str(folder),
                    "--shape", ",".join(f"{k}={v}" for k, v in shape.items()),
                    "--dtype", self.plan.model_dtype, "--device", self.plan.device], log, self.timeout())
        self.checked(proc, log)
        return {"path": str(folder), "shape": shape, "params": last_json(proc.stdout).get("params")}

    def data(self) -> dict[str, Any]:
        from gpu_check_plan import write_long_chats

        path = write_long_chats(self.out / "data" / "long.jsonl", rows=self.plan.data_rows, max_chars=self.plan.max_len)
        return {"path": str(path), "rows": self.plan.data_rows}

    def bench(self, case: dict[str, Any]) -> dict[str, Any]:
        folder = self.out / "bench" / case["name"]
        cmd = [PY, "-m", "studio", "bench", "--home", str(self.home), "--json", "--sections", "training",
               "--model", str(self.out / "models" / case["model"]), "--data", str(self.out / "data" / "long.jsonl"),
               "--quant", case["quant"], "--baseline", ",".join(case["baselines"]), "--steps", str(case["steps"]),
               "--batch-size", str(case["batch_size"]), "--max-len", str(self.plan.max_len),
               "--repeats", str(case["repeats"]), "--out", str(folder)]
        for item in case.get("set", []):
            cmd += ["--set", item]
        log = self.out / "logs" / f"bench-{case['name']}.log"
        proc = run(cmd, log, self.timeout())
        self.checked(proc, log)
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        section = report["sections"]["training"]
        trainers = {}
        for trainer, figures in section["summary"]["trainers"].items():
            tps = (figures.get("tokens_per_s") or {}).get("median")
            trainers[trainer] = {"tokens_per_s": tps, "peak_mem_bytes": (figures.get("peak_mem_bytes") or {}).get("median"),
                                 "to_first_step_s": (figures.get("to_first_step_s") or {}).get("median"),
                                 "seconds": (figures.get("seconds") or {}).get("median")}
        studio_runs = [r for r in section["runs"] if r["trainer"] == "studio"]
        shape = self.plan.models[case["model"]]
        studio = section["summary"]["trainers"].get("studio", {})
        mean_tokens = studio["train_tokens"] / studio["train_examples"] if studio.get("train_examples") else 0
        for figures in trainers.values():
            if figures["tokens_per_s"] and not self.plan.dry_run:
                figures["mfu"] = mfu(figures["tokens_per_s"], shape, mean_tokens,
                                     self.results.get("environment", {}).get("gpu") or "")
        return {"case": case, "trainers": trainers, "mean_tokens_per_example": round(mean_tokens, 1), "ratios": section["summary"].get("ratios"),
                "loss": section["summary"].get("loss"), "studio_run_dirs": [r.get("run_dir") for r in studio_runs],
                "speedups": studio_runs[0].get("speedups") if studio_runs else None, "report": str(folder / "report.json")}

    def memory(self) -> dict[str, Any]:
        from studio.core.config_io import load_config
        from studio.core.memory import estimate, inputs_from
        from studio.core.model_info import inspect_model

        rows = []
        for name, step in self.results["steps"].items():
            if not name.startswith("bench-") or step.get("status") != "ok":
                continue
            for run_dir in filter(None, step["studio_run_dirs"]):
                config = load_config(Path(run_dir) / "run.yaml")
                info = inspect_model(Path(config.model.name_or_path))
                predicted = estimate(inputs_from(info, config, self.plan.device))
                measured = step["trainers"]["studio"]["peak_mem_bytes"]
                rows.append({"case": name, "estimate_bytes": predicted.total, "parts": dict(predicted.parts()),
                             "measured_bytes": measured,
                             "error": round(predicted.total / measured - 1, 4) if measured else None})
                break
        if not rows:
            raise RuntimeError("no studio bench run finished to compare the estimate with")
        return {"cases": rows}

    def auto_gc(self) -> dict[str, Any]:
        case = self.plan.auto_gc
        model = self.out / "models" / case["model"]
        free = case["free_bytes"]
        cmd = [PY, "-m", "studio", "train", "--home", str(self.home), "--json", "--name", "auto-gc",
               "--model", str(model), "--data", str(self.out / "data" / "long.jsonl"), "--quant", case["quant"],
               "--max-len", str(self.plan.max_len), "--batch-size", str(case["batch_size"]), "--max-steps", "2",
               "--save-every", "0", "--eval-split", "0", "--auto-grad-checkpointing"]
        log = self.out / "logs" / "auto-gc.log"
        proc = run(cmd, log, self.timeout(), env={"STUDIO_FREE_MEMORY_BYTES": str(free)})
        self.checked(proc, log)
        result = last_json(proc.stdout)
        events = Path(result["run_dir"]) / "events.jsonl"
        warnings = [e for e in map(json.loads, events.read_text(encoding="utf-8").splitlines())
                    if e.get("type") == "warning" and e.get("kind") == "memory"]
        if not warnings:
            raise RuntimeError(f"told {free:,} bytes are free, the run did not turn gradient checkpointing on")
        return {"free_bytes_given": free, "turned_on": True, "why": warnings[0].get("message"),
                "status_of_run": result.get("status"), "peak_mem_bytes": (result.get("metrics") or {}).get("peak_mem_bytes")}

    def chat(self) -> dict[str, Any]:
        adapter, home = self._adapter()
        cmd = [PY, "-m", "studio", "chat", "--home", str(home), "--a", "base", "--b", adapter, "--json",
               "--prompt", "My invoice shows a double charge for March.", "--max-new-tokens", "48"]
        log = self.out / "logs" / "chat.log"
        proc = run(cmd, log, self.timeout())
        self.checked(proc, log)
        return {"adapter": adapter, "answer": last_json(proc.stdout)}

    def export(self) -> dict[str, Any]:
        adapter, home = self._adapter()
        cmd = [PY, "-m", "studio", "export", "--home", str(home), "--adapter", adapter, "--json",
               "--out", str(self.out / "export" / adapter), "--device", "cuda" if self.plan.device == "cuda" else "cpu"]
        log = self.out / "logs" / "export.log"
        proc = run(cmd, log, self.timeout())
        self.checked(proc, log)
        return {"adapter": adapter, "result": last_json(proc.stdout)}

    def _adapter(self) -> tuple[str, Path]:
        """An adapter a bench run of the chat/export model trained (in that bench's own workspace)."""
        home = self.out / "bench" / self.plan.chat_case / "workspace"
        proc = subprocess.run([PY, "-m", "studio", "adapters", "list", "--home", str(home), "--json"],
                              capture_output=True, text=True, cwd=str(ROOT))
        adapters = last_json(proc.stdout).get("adapters") or []
        if not adapters:
            raise RuntimeError(f"no adapter in {home}: the {self.plan.chat_case} bench did not finish")
        return adapters[0]["name"], home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, tiny shapes, a few steps")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: $OUT or benchmarks/out/<time>)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="stop starting steps after this many seconds (default: 470 on a GPU, 1500 for a dry run)")
    parser.add_argument("--only", default="", help="steps to run, comma-separated (prefixes: bench, model)")
    args = parser.parse_args(argv)
    out = (args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else
                        ROOT / "benchmarks" / "out" / time.strftime("%Y%m%d-%H%M%S"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_for(args.dry_run)
    budget = args.budget_s or (1500.0 if args.dry_run else 470.0)
    check = Check(plan, out, budget, {s.strip() for s in args.only.split(",") if s.strip()})
    started = time.monotonic()
    env = check.step("environment", check.environment)
    if env is None or env["status"] != "ok":
        check.save()
        return 1
    steps: dict[str, Callable[[str], dict[str, Any]]] = {
        "model": check.model, "data": lambda _: check.data(), "bench": lambda name: check.bench(plan.cases[name]),
        "chat": lambda _: check.chat(), "export": lambda _: check.export(), "memory": lambda _: check.memory(),
        "auto-gc": lambda _: check.auto_gc()}
    for kind, name in plan.sequence:
        check.step(f"{kind}-{name}" if name else kind, lambda kind=kind, name=name: steps[kind](name))
    check.results["seconds"] = round(time.monotonic() - started, 1)
    check.save()
    failed = [n for n, s in check.results["steps"].items() if s["status"] == "failed"]
    print(f"[gpu-check] done in {check.results['seconds']} s; report: {out / 'gpu_check.md'}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
