"""The benchmark suite: training throughput of every model and memory, and how it scales.

    python benchmarks/suite.py                 # CPU (2 threads), and CUDA when torch sees a GPU
    python benchmarks/suite.py --quick         # shorter timings, for a smoke check

On the CPU each configuration runs ``benchmarks/throughput.py`` in its own process (so that peak RSS
is its own); on CUDA one process measures all batch sizes of a (model, memory, walk length) with
``--batches`` (start-up is expensive there; the peak GPU memory is reset per configuration). The
results are printed as a table (with the sampler's share of the step time) and written to
``benchmarks/results.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = (("temt", "attention", 50), ("temt", "sdm", 50), ("tem", "hebbian", 20))  # (model, memory, window)
BATCHES = (16, 128, 512)
WALK_LENGTHS = (250, 1000)


def available(model: str, memory: str) -> bool:
    sys.path.insert(0, str(HERE.parent))
    from tem.checkpoint import MODELS
    from tem.memory import MEMORIES

    return model in MODELS and (memory in MEMORIES if model == "temt" else memory == "hebbian")


def run_batches(model, memory, window, batches, walk_length, device, threads, seconds) -> list[dict]:
    """``throughput.py`` for ``batches`` in one process: one result per batch that ran."""
    command = [sys.executable, str(HERE / "throughput.py"), "--model", model, "--memory", memory,
               "--batches", ",".join(map(str, batches)), "--window", str(window), "--walk-length", str(walk_length),
               "--device", device, "--threads", str(threads), "--seconds", str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0:
        print(f"  failed: {' '.join(command[1:])}\n{result.stderr[-500:]}", file=sys.stderr)
    return rows


def _line(row: dict) -> str:
    """One row of the table."""
    sampler = f"{100 * row['sampler_share']:.0f}%" if row.get("sampler_share") is not None else ""
    gpu = row.get("peak_gpu_mb") or ""
    return (f"{row['model']:6} {row['memory']:9} {row['device']:6} {row['batch']:>5} {row['window']:>6} "
            f"{row['walk_length']:>5} {row['env_steps_per_s']:>12,} {row['step_time_ms']:>8} {sampler:>7} "
            f"{row['peak_rss_mb']:>8} {gpu:>7}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per configuration")
    parser.add_argument("--quick", action="store_true", help="2 s per configuration, fewer batch sizes")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    seconds = 2.0 if args.quick else args.seconds
    batches = BATCHES[:2] if args.quick else BATCHES
    results = []
    print(f"{'model':6} {'memory':9} {'device':6} {'batch':>5} {'window':>6} {'walk':>5} "
          f"{'env-steps/s':>12} {'ms/step':>8} {'sampler':>7} {'peak MB':>8} {'GPU MB':>7}")
    for model, memory, window in MODELS:
        if not available(model, memory):
            continue
        for device in devices:
            for walk_length in WALK_LENGTHS:
                groups = [[b] for b in batches] if device == "cpu" else [list(batches) + [4096]]
                for group in groups:
                    for row in run_batches(model, memory, window, group, walk_length, device, args.threads, seconds):
                        results.append(row)
                        print(_line(row), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
