#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.sh needs on the GPU machine, which has torch, transformers,
# peft and accelerate but no network (its Python is 3.12, x86_64). Downloads into .whl/ (ignored
# by git; the device tool carries it when named in `carry`) and checks the 64 MiB the tool carries
# with the tree. Pass TRANSFORMERS=5.24.0 to carry transformers too when the machine's is older
# than pyproject.toml allows (13 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir .whl
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
packages=("bitsandbytes==$(version bitsandbytes)" "trl==$(version trl)" "datasets==$(version datasets)"
          "dill==$(version dill)" "multiprocess==$(version multiprocess)" "liger-kernel" "platformdirs")
[ -n "${TRANSFORMERS:-}" ] && packages+=("transformers==$TRANSFORMERS")
platforms=()
for n in 28 27 24 17; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" --platform manylinux2014_x86_64 -d .whl "${packages[@]}"
wheels=$(du -sm .whl | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cm 2>/dev/null | tail -1 | cut -f1)
echo "wheels: ${wheels} MiB, tracked tree: ${tree} MiB (the device tool carries 64 MiB in all)"
ls -1 .whl
[ $((wheels + tree)) -lt 64 ] || { echo "too large to carry: drop a wheel (TRANSFORMERS?)" >&2; exit 1; }
