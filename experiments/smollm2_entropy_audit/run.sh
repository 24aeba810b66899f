#!/bin/sh
# The registered run of experiments/smollm2_entropy_audit (spec.md "Design"); ~30-45 min on
# the shared 2-core machine. Writes probes.json (the fixed probe set), results/table.parquet
# and results/stats.csv; then analyse.py writes stats.csv, verdicts.json and report.md.
set -e
cd "$(dirname "$0")/../.."
HF_HUB_OFFLINE=1 nice -n 5 python3 -m simrl.bridge.entropy_audit \
  experiments/smollm2_entropy_audit/config.toml \
  --task simrl/examples/bridge_arith.py:build \
  --probes experiments/smollm2_entropy_audit/probes.json \
  --out experiments/smollm2_entropy_audit/results \
  --lrs 1e-6,1e-5,1e-4 --updates 2 --seed 2026 \
  --n-train 32 --n-heldout 8 --cuts 1
PYTHONPATH=. python3 experiments/smollm2_entropy_audit/analyse.py
