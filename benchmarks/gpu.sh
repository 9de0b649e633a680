#!/usr/bin/env bash
# reparam on one CUDA GPU, in under 5 minutes: the CUDA tests, then one JSON object.
#
#   benchmarks/gpu.sh            # from anywhere; PYTHON and REPARAM_DATA_DIR are honoured
#
# 1. Every test that needs CUDA (those with "cuda" in their file or test name:
#    the trainer, resume and checkpoints in tests/training/test_cuda.py, the
#    estimators' synchronisation tests, the distributions' CUDA tests), verbose,
#    with a summary line per file on stderr.
# 2. The VAE epoch on the GPU at batch 128 and 1024, eager and compiled
#    (benchmarks/vae_speed.py --device cuda, compile time apart), the estimator
#    overhead benchmark and the distributions benchmark with CUDA as torch's
#    default device, timed by the wall clock between CUDA synchronisations
#    (benchmarks/_common.py): the kernels' time and the launches' together.
# Each part has its own time limit (together 285 s, so the script ends within
# 5 minutes); a part that fails or runs out of time is reported in the JSON
# ("error") and the others still run; "total_s" is the script's wall time.
# Exit status: that of the tests.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu.sh: torch sees no CUDA device; nothing to run" >&2
    exit 2
fi

timeout 90 "$PY" -m pytest -q -n 0 -p no:cacheprovider -rs -k "cuda or CUDA" \
    tests/training/test_cuda.py tests/estimators/test_no_sync.py tests/distributions \
    >"$OUT/tests.txt" 2>&1
tests_status=$?
tail -n 5 "$OUT/tests.txt" >&2

part() {  # part NAME SECONDS COMMAND...: the command's JSON, or an error record
    local name=$1 limit=$2
    shift 2
    local status=0
    timeout "$limit" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" || status=$?
    if [ "$status" -ne 0 ]; then
        "$PY" -c 'import json, sys; print(json.dumps({"error": sys.argv[1]}))' \
            "exit $status (124: over ${limit}s): $(tail -n 3 "$OUT/$name.err" | tr '\n' ' ')" \
            >"$OUT/$name.json"
    fi
}

VAE=(benchmarks/vae_speed.py --device cuda --epochs 2 --pipelines reparam,compiled,floor)
part vae_batch128 75 "$PY" "${VAE[@]}" --batch-size 128
part vae_batch1024 60 "$PY" "${VAE[@]}" --batch-size 1024
# As `python SCRIPT ARGS` would, with CUDA as torch's default device: the script's
# folder first on sys.path (its `_common` module lies beside it).
ON_CUDA='import os, runpy, sys, torch; torch.set_default_device("cuda"); sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0]))); runpy.run_path(sys.argv[0], run_name="__main__")'
part estimators 30 "$PY" -c "$ON_CUDA" benchmarks/estimators.py --repeats 11 --inner 10
part distributions 30 "$PY" -c "$ON_CUDA" benchmarks/distributions.py --repeats 5

"$PY" - "$OUT" "$tests_status" "$SECONDS" <<'EOF'
import json, sys
from pathlib import Path

import torch

out, status = Path(sys.argv[1]), int(sys.argv[2])
lines = (out / "tests.txt").read_text().splitlines()
report = {
    "gpu": torch.cuda.get_device_name(0),
    "torch": torch.__version__,
    "tests": {"exit_status": status, "summary": lines[-1] if lines else ""},
    "total_s": int(sys.argv[3]),
}
for name in ("vae_batch128", "vae_batch1024", "estimators", "distributions"):
    text = (out / f"{name}.json").read_text()
    try:
        report[name] = json.loads(text)
    except json.JSONDecodeError:
        report[name] = {"error": "not JSON", "output": text[-500:]}
print(json.dumps(report, indent=2))
EOF
exit "$tests_status"
