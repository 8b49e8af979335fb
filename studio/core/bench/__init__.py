"""`studio bench`: measured answers to "is it faster, and does it learn the same?", one section each.

    training   studio's trainer vs the baselines of --baseline (a plain Transformers Trainer + peft
               script; TRL's SFTTrainer padded, padding-free, packed) on the same fine-tune
               (training_speed.py; data in data.py, statistics in summary.py)

A section is a module with `run_section(options, workspace, say) -> dict` returning `config`,
`runs` and `summary`; report.py adds the machine, versions and load average and draws the
plots (svg.py). Sections still to come (GUI event-loop stall while training, loss-plot frame
time with 100,000 points, memory-estimate error against measured peaks) plug in the same way
and appear as further keys under `sections` in report.json. Nothing here imports torch: every
measurement runs in its own fresh worker process.
"""
