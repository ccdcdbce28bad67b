"""Training throughput: env-steps/s of a full training step (sampling, forward, backward, Adam).

    python benchmarks/throughput.py --model temt --batch 128 --window 50 --device cpu --threads 2
    torchrun --nproc_per_node 2 benchmarks/throughput.py --model tem --memory hebbian --batch 8 --threads 1 ...

env-steps/s = batch x window / wall time of one training step; under torchrun (DistributedDataParallel)
batch is per process and env-steps/s counts every process's walks (processes x batch x window / step
time). The last line printed (by rank 0) is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(args) -> dict:
    import torch

    from tem.training import Run

    # the quick preset's optimisation for every model, and each model's default architecture
    overrides = {"preset": "quick", "model": args.model, "memory": args.memory, "batch": args.batch, "window": args.window,
                 "walk_length": args.walk_length, "device": args.device, "threads": args.threads,
                 "world": args.world, "seed": 0, "steps": 10**9, "out": "/tmp/unused",
                 **dict(_override(item) for item in args.set)}
    run = Run.start(overrides)
    run.step = args.start_step  # schedules that depend on the step (TEM's memory ramps) start there
    for _ in range(args.warmup):
        run.train_step()
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run.train_step()
    n_steps = torch.tensor(max(3, int(args.seconds / (time.perf_counter() - t0))))
    if run.dist.enabled:  # every rank times the same number of steps (each one meets the others in DDP)
        torch.distributed.all_reduce(n_steps, op=torch.distributed.ReduceOp.MIN)
    times = []
    for _ in range(int(n_steps)):
        t0 = time.perf_counter()
        run.train_step()  # .item() on the loss synchronises the device
        times.append(time.perf_counter() - t0)
    step_time = sorted(times)[len(times) // 2]
    processes = run.dist.world_size
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = {"peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)} if run.device.type == "cuda" else {}
    result = {**gpu, "env_steps_per_s": round(processes * args.batch * args.window / step_time),
              "step_time_ms": round(1e3 * step_time, 2), "peak_rss_mb": round(peak_rss_mb), "device": str(run.device),
              "threads": torch.get_num_threads(), "processes": processes, "model": args.model, "memory": args.memory,
              "batch": args.batch, "window": args.window, "walk_length": args.walk_length, "world": args.world,
              "steps_timed": len(times), "torch": torch.__version__}
    run.close()  # leaves the process group (torchrun)
    return result


def _override(item: str) -> tuple[str, object]:
    """``temt.inference=true`` -> ``("temt.inference", True)`` (numbers and booleans parsed)."""
    key, _, text = item.partition("=")
    value = {"true": True, "false": False}.get(text.lower(), text)
    for kind in (int, float):
        try:
            return key, kind(text)
        except ValueError:
            pass
    return key, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="temt")
    parser.add_argument("--memory", default="attention")
    parser.add_argument("--world", default="square")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--walk-length", type=int, default=250, help="steps per walk (memories per walk)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (memory fills up)")
    parser.add_argument("--start-step", type=int, default=0,
                        help="gradient step the run starts at (TEM: 1000 = memory decay ramped up, walks fill it)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time spent measuring")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other config field, as train.py names it (e.g. temt.inference=true)")
    args = parser.parse_args(argv)
    if args.threads:  # before torch starts its thread pools
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    result = measure(args)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    processes = f"{result['processes']} processes x " if result["processes"] > 1 else ""
    print(f"{result['model']}/{result['memory']} on {result['device']} ({processes}{result['threads']} threads), "
          f"batch {args.batch} x window {args.window}, walks of {args.walk_length}: "
          f"{result['env_steps_per_s']:,} env-steps/s, {result['step_time_ms']} ms/step, "
          f"peak RSS {result['peak_rss_mb']} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
