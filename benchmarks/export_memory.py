"""Peak memory of `studio export` against the size of the model: the merge must not hold two copies.

Builds a random-init Llama of a few hundred MB (no download) and a random LoRA adapter for it
(rank 16 on every linear layer, non-zero B so the merge changes every targeted weight), then
runs the real `studio export` for each dtype and prints the worker's figures: the resident
memory after importing torch & co. (baseline), the peak, and the model's weight bytes.

    .venv/bin/python benchmarks/export_memory.py [--layers 8] [--dtypes fp32,bf16] [--work DIR]

The ratio (peak - baseline) / weight bytes is the number to read: about 1 means one copy of the
weights (plus the small reference logits); 2 or more would mean the merge copied the model.
"private" is anonymous memory (what the process needs); RSS also counts mapped pages of the
checkpoint files, which are page cache the kernel can drop (see studio/engine/memory_watch.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(work: Path, layers: int) -> tuple[Path, Path]:
    """A Llama (hidden 1024, GQA, vocab 32000) stored in fp32, and a LoRA adapter with lineage."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from studio.core.library import model_fingerprint
    from studio.engine.demo_model import CHAT_TEMPLATE, build_tokenizer

    base, adapter = work / "base", work / "adapter"
    if not base.is_dir():
        tokenizer = build_tokenizer()
        config = LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=layers,
                             num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=False,
                             bos_token_id=1, eos_token_id=2, pad_token_id=0)
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(base)
        tokenizer.save_pretrained(base)
    if not adapter.is_dir():
        model = LlamaForCausalLM.from_pretrained(base)
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
        model.save_pretrained(adapter)
        lineage = {"name": "bench-adapter", "chat_template": CHAT_TEMPLATE,
                   "base_model": {"name_or_path": str(base), "resolved_path": str(base),
                                  "hash": model_fingerprint(base), "quant": "none"},
                   "config": {"lora": {"rank": 16, "alpha": 32, "targets": ["all-linear"]}}}
        (adapter / "studio.json").write_text(json.dumps(lineage), encoding="utf-8")
    return base, adapter


def export(adapter: Path, out: Path, dtype: str, verify: bool) -> dict:
    env = dict(os.environ, STUDIO_HOME=str(out.parent / "home"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = [sys.executable, "-m", "studio", "export", "--adapter", str(adapter), "--out", str(out),
            "--dtype", dtype, "--shard-size", "2GB", "--json"] + ([] if verify else ["--no-verify"])
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:] + result.stdout[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--work", type=Path, help="keep the model here (default: a temporary folder)")
    parser.add_argument("--stages", action="store_true", help="also print the peaks of each stage")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    base, adapter = build(work, args.layers)
    stored = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    print(f"base model: {base} ({stored / 1e6:.0f} MB of safetensors, fp32)")
    print(f"{'dtype':5} {'verify':6} {'weights':>8} {'private base':>12} {'private peak':>12} {'ratio':>6} "
          f"{'RSS base':>8} {'RSS peak':>8} {'ratio':>6} {'seconds':>7} {'max|diff|':>9} {'tolerance':>9}")
    for dtype in args.dtypes.split(","):
        for verify in (False, True):
            out = work / f"out-{dtype}-{'verified' if verify else 'plain'}"
            if out.exists():
                shutil.rmtree(out)
            r = export(adapter, out, dtype, verify)
            weights, v = r["model_bytes"], r.get("verification") or {}
            private = (r["peak_private_bytes"] - r["baseline_private_bytes"]) / weights
            rss = (r["peak_rss_bytes"] - r["baseline_rss_bytes"]) / weights
            print(f"{dtype:5} {str(verify):6} {weights / 1e6:6.0f}MB {r['baseline_private_bytes'] / 1e6:10.0f}MB "
                  f"{r['peak_private_bytes'] / 1e6:10.0f}MB {private:6.2f} {r['baseline_rss_bytes'] / 1e6:6.0f}MB "
                  f"{r['peak_rss_bytes'] / 1e6:6.0f}MB {rss:6.2f} {r['seconds']:7.1f} "
                  f"{v.get('max_abs_diff', float('nan')):9.3g} {v.get('tolerance', float('nan')):9.3g}")
            if args.stages:
                for stage, peak in r["by_stage"].items():
                    print(f"      {stage:13} private {peak['private'] / 1e6:6.0f}MB  RSS {peak['rss'] / 1e6:6.0f}MB")

if __name__ == "__main__":
    main()
