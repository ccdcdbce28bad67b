#!/usr/bin/env bash
# Every GPU figure of benchmarks/README.md in one go, most important first (GPU time is short).
#   OUT=results/gpu bash benchmarks/gpu_suite.sh
# Writes $OUT/gpu.jsonl (one JSON line per measurement), $OUT/log.txt, $OUT/profile.txt and
# $OUT/memory_scaling.json; the training runs go to $RUNS (default $OUT/runs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu}
RUNS=${RUNS:-$OUT/runs}
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
jsonl="$OUT/gpu.jsonl"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
last_json() { grep '^{' | tail -n "${1:-1}" >> "$jsonl"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
$PY -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$OUT/log.txt"

log "CUDA tests"
$PY -m pytest -q -p no:cacheprovider tests/test_memory_gpu_ready.py tests/test_training_pipeline.py 2>&1 | tail -n 3 | tee -a "$OUT/log.txt"

log "TEM-t throughput, batch sweep"
$PY benchmarks/throughput.py --model temt --device cuda --threads 0 --window 50 --walk-length 250 \
    --batches 256,1024,4096,16384 --seconds 3 2>&1 | tee -a "$OUT/log.txt" | last_json 4

log "TEM-t throughput, 8 sampler processes, compiled and not"
for flags in "--compile" ""; do
  $PY benchmarks/throughput.py --model temt --device cuda --threads 0 --window 50 --walk-length 250 \
      --batches 4096,16384 --seconds 3 --set sampler_workers=8 $flags 2>&1 | tee -a "$OUT/log.txt" | last_json 2
done

log "profile of one TEM-t step"
$PY benchmarks/profile_step.py --device cuda --batch 4096 2>&1 | tee "$OUT/profile.txt" | last_json

log "profile of one TEM step"
$PY benchmarks/profile_step.py --model tem --memory hebbian --window 20 --device cuda --batch 16 --warmup 3 \
    --steps 2 2>&1 | tee "$OUT/profile_tem.txt" | last_json

log "quick preset on CUDA, whole command (batch 64)"
start=$(date +%s%N)
$PY train.py --preset quick --device cuda --eval-every 25 --out "$RUNS/quick" 2>&1 | grep -v '^train' | tail -n 5 | tee -a "$OUT/log.txt"
echo "{\"what\": \"quick preset whole command\", \"ms\": $(( ($(date +%s%N) - start) / 1000000 ))}" >> "$jsonl"
$PY benchmarks/time_to_accuracy.py "$RUNS/quick" 0.99 | tee -a "$OUT/log.txt" | last_json

log "TEM throughput (batch 16 and 256)"
for b in 16 256; do
  $PY benchmarks/throughput.py --model tem --memory hebbian --window 20 --start-step 1000 --device cuda \
      --threads 0 --batch $b --seconds 3 2>&1 | tee -a "$OUT/log.txt" | last_json
done

log "quick preset at larger batches"
for b in 256 1024; do
  $PY train.py --preset quick --device cuda --batch $b --eval-every 25 --no-analysis --out "$RUNS/quick$b" \
      2>&1 | grep -v '^train' | tail -n 2 | tee -a "$OUT/log.txt"
  $PY benchmarks/time_to_accuracy.py "$RUNS/quick$b" 0.99 | tee -a "$OUT/log.txt" | last_json
done

log "TEM-t throughput with --tf32, --amp bf16, --compile"
for flags in "--tf32" "--amp bf16" "--tf32 --amp bf16" "--compile"; do
  $PY benchmarks/throughput.py --model temt --device cuda --threads 0 --window 50 --walk-length 250 \
      --batches 4096,16384 --seconds 3 $flags 2>&1 | tee -a "$OUT/log.txt" | last_json 2
done
log "memory scaling"
$PY benchmarks/memory_scaling.py --device cuda --batch 16 --memories attention,sdm \
    --walk-lengths 1000,10000,100000 --out "$OUT/memory_scaling.json" 2>&1 | tail -n 12 | tee -a "$OUT/log.txt"

log "done"
