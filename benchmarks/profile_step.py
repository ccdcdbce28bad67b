"""What one training step spends its time on: kernels per step, how busy the GPU is, host syncs.

    python benchmarks/profile_step.py --device cuda --batch 4096
    python benchmarks/profile_step.py --device cpu --batch 64 --threads 2

Runs ``--warmup`` steps, then profiles ``--steps`` steps with ``torch.profiler``. Prints the
busiest operators and, as the last line, JSON: ``kernels_per_step`` and ``gpu_busy`` (the fraction
of the steps' wall time in which some kernel ran; CUDA only), and ``host_syncs_per_step`` (CUDA
only: what ``torch.cuda.set_sync_debug_mode`` reports during one step).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput import _override  # noqa: E402


def busy_fraction(intervals: list[tuple[float, float]], wall: float) -> float:
    """Fraction of ``wall`` covered by the union of ``(start, end)`` intervals (same units)."""
    covered, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        covered += stop - max(start, end)
        end = stop
    return covered / wall if wall > 0 else 0.0


def count_syncs(run) -> int:
    """Host synchronisations during one training step (CUDA: the sync debug mode's warnings)."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run.train_step()
            torch.cuda.synchronize()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def main(argv=None) -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from tem.training import Run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="temt")
    parser.add_argument("--memory", default="attention")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--walk-length", type=int, default=250)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any other config field")
    args = parser.parse_args(argv)
    overrides = {"preset": "quick", "model": args.model, "memory": args.memory, "batch": args.batch,
                 "window": args.window, "walk_length": args.walk_length, "device": args.device,
                 "threads": args.threads, "seed": 0, "steps": 10**9, "out": "/tmp/unused",
                 **dict(_override(item) for item in args.set)}
    run = Run.start(overrides)
    cuda = run.device.type == "cuda"
    for _ in range(args.warmup):
        run.train_step()
    run.sync()
    syncs = count_syncs(run) if cuda else None
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            run.train_step()
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    run.sync()
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=15))
    result = {"model": args.model, "memory": args.memory, "batch": args.batch, "window": args.window,
              "device": str(run.device), "step_ms": round(1e3 * wall / args.steps, 2),
              "env_steps_per_s": round(args.batch * args.window * args.steps / wall)}
    if cuda:
        kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
        intervals = [(e.time_range.start, e.time_range.end) for e in kernels]  # microseconds
        result.update(kernels_per_step=round(len(kernels) / args.steps),
                      gpu_busy=round(busy_fraction(intervals, wall * 1e6), 3), host_syncs_per_step=syncs,
                      peak_gpu_mb=round(torch.cuda.max_memory_allocated() / 2**20))
    run.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
