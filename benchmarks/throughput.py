"""Training throughput: env-steps/s of a full training step (sampling, forward, backward, Adam).

    python benchmarks/throughput.py --model temt --batch 128 --window 50 --device cpu --threads 2
    python benchmarks/throughput.py --device cuda --batches 256,1024,4096 --amp bf16 --tf32
    torchrun --nproc_per_node 2 benchmarks/throughput.py --model tem --memory hebbian --batch 8 --threads 1 ...

env-steps/s = batch x window / wall time of one training step; under torchrun (DistributedDataParallel)
batch is per process and env-steps/s counts every process's walks (processes x batch x window / step
time). A step is timed in two parts: the sampler (the next window, on the device) and the model step
(forward, backward, Adam), the clock read after ``torch.cuda.synchronize()`` on CUDA (training reads
nothing back to the host per step, so without it the clock would stop before the GPU does). Each
configuration prints a line and then a JSON line (by rank 0); ``--batches`` measures several batch
sizes in one process (one start-up), one pair of lines each, peak memory per configuration.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _synchronize(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so the clock counts it."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak_memory(device) -> None:
    """Start the peaks (RSS, GPU memory) afresh, so each configuration of a sweep has its own."""
    import torch

    try:  # VmHWM := VmRSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (since the last reset where Linux allows it), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_step(run) -> tuple[float, float]:
    """One training step of ``run``: ``(sampler seconds, model seconds)``.

    The sampler part is ``run.next_batch()`` (the next window on the device: with prefetching, the
    time the step waits for it); the model part is ``run.train_step(batch)``. A ``Run`` without
    ``next_batch`` is timed as one piece (sampler 0).
    """
    t0 = time.perf_counter()
    if hasattr(run, "next_batch"):
        batch = run.next_batch()
        _synchronize(run.device)  # the host-to-device copy is part of the sampler's share
        t1 = time.perf_counter()
        run.train_step(batch)
    else:
        t1 = t0
        run.train_step()
    _synchronize(run.device)
    return t1 - t0, time.perf_counter() - t1


def measure(args, batch: int | None = None) -> dict:
    """Time training steps of one configuration (``batch`` instead of ``args.batch`` if given)."""
    import torch

    from tem.training import Run

    batch = args.batch if batch is None else batch
    # the quick preset's optimisation for every model, and each model's default architecture
    overrides = {"preset": "quick", "model": args.model, "memory": args.memory, "batch": batch, "window": args.window,
                 "walk_length": args.walk_length, "device": args.device, "threads": args.threads,
                 "world": args.world, "seed": 0, "steps": 10**9, "out": "/tmp/unused",
                 **_speed_overrides(args), **dict(_override(item) for item in args.set)}
    run = Run.start(overrides)
    _reset_peak_memory(run.device)
    run.step = args.start_step  # schedules that depend on the step (TEM's memory ramps) start there
    for _ in range(args.warmup):
        run.train_step()
    _synchronize(run.device)
    n_steps = torch.tensor(max(3, int(args.seconds / sum(timed_step(run)))), device=run.device)
    if run.dist.enabled:  # every rank times the same number of steps (each one meets the others in DDP)
        torch.distributed.all_reduce(n_steps, op=torch.distributed.ReduceOp.MIN)
    sampler, model = [], []
    for _ in range(int(n_steps)):
        sample_s, model_s = timed_step(run)
        sampler.append(sample_s)
        model.append(model_s)
    if hasattr(run, "sync"):  # read the losses off the device (checks they stayed finite)
        run.sync()
    step_time = _median([s + m for s, m in zip(sampler, model)])
    processes = run.dist.world_size
    cuda = run.device.type == "cuda"
    result = {"env_steps_per_s": round(processes * batch * args.window / step_time),
              "step_time_ms": round(1e3 * step_time, 2), "sampler_ms": round(1e3 * _median(sampler), 2),
              "model_ms": round(1e3 * _median(model), 2),
              "sampler_share": round(sum(sampler) / (sum(sampler) + sum(model)), 3),
              "peak_rss_mb": round(_peak_rss_mb()),
              "peak_gpu_mb": round(torch.cuda.max_memory_allocated(run.device) / 2**20) if cuda else None,
              "device": str(run.device), "threads": torch.get_num_threads(), "processes": processes,
              "model": args.model, "memory": args.memory, "batch": batch, "window": args.window,
              "walk_length": args.walk_length, "world": args.world, "compile": args.compile, "amp": args.amp,
              "tf32": args.tf32, "steps_timed": len(model), "torch": torch.__version__}
    run.close()  # leaves the process group (torchrun)
    del run
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _speed_overrides(args) -> dict:
    """``--compile``, ``--amp``, ``--tf32`` as config fields (only those asked for, so older configs
    without the fields still run the default)."""
    return {**({"compile": True} if args.compile else {}), **({"amp": args.amp} if args.amp != "off" else {}),
            **({"tf32": True} if args.tf32 else {})}


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
    parser.add_argument("--batches", "--sweep", default=None, metavar="B1,B2,...",
                        help="measure these batch sizes in one process (one line and one JSON line each)")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--walk-length", type=int, default=250, help="steps per walk (memories per walk)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (memory fills up)")
    parser.add_argument("--start-step", type=int, default=0,
                        help="gradient step the run starts at (TEM: 1000 = memory decay ramped up, walks fill it)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time spent measuring (per configuration)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (config compile=true)")
    parser.add_argument("--amp", default="off", choices=("off", "bf16"), help="autocast (config amp)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matrix products on CUDA (config tf32=true)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other config field, as train.py names it (e.g. temt.inference=true)")
    args = parser.parse_args(argv)
    if args.threads:  # before torch starts its thread pools
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [args.batch]
    for batch in batches:
        result = measure(args, batch)
        if int(os.environ.get("RANK", "0")) == 0:
            _report(result)
    return 0


def _report(r: dict) -> None:
    """A line for people, then the JSON line."""
    processes = f"{r['processes']} processes x " if r["processes"] > 1 else ""
    gpu = f", peak GPU {r['peak_gpu_mb']} MB" if r["peak_gpu_mb"] is not None else ""
    print(f"{r['model']}/{r['memory']} on {r['device']} ({processes}{r['threads']} threads), "
          f"batch {r['batch']} x window {r['window']}, walks of {r['walk_length']}: "
          f"{r['env_steps_per_s']:,} env-steps/s, {r['step_time_ms']} ms/step "
          f"(sampler {r['sampler_ms']} ms, {100 * r['sampler_share']:.0f}%; model {r['model_ms']} ms), "
          f"peak RSS {r['peak_rss_mb']} MB{gpu}", flush=True)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    sys.exit(main())
