"""Throughput of the batched walk sampler: env-steps per second of ``WalkSampler.next_window``.

    python benchmarks/sampler.py --batch 64 --side 11 --window 100 --seconds 5 --threads 1

Prints a human-readable line, then one JSON line (the last line) for scripts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="walks per batch (B)")
    parser.add_argument("--side", type=int, default=11, help="side of the square grid worlds")
    parser.add_argument("--window", type=int, default=100, help="steps per window (T)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to measure")
    parser.add_argument("--threads", type=int, default=1, help="numpy/BLAS threads to allow")
    parser.add_argument("--policy", choices=("uniform", "persistent", "approach"), default="uniform",
                        help="walk policy: uniform, persistence 0.7, or persistence 0.7 + approach 0.3")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """Run ``next_window`` for about ``args.seconds`` and return the throughput record."""
    from envs import WalkPolicy, WalkSampler, square_grid  # imported after the thread pinning

    policy = {"uniform": WalkPolicy(), "persistent": WalkPolicy(persistence=0.7),
              "approach": WalkPolicy(persistence=0.7, approach=0.3)}[args.policy]
    sampler = WalkSampler([square_grid(args.side)], batch_size=args.batch, window=args.window,
                          walk_length=10 * args.window, policy=policy, seed=args.seed)
    sampler.next_window()  # warm-up
    windows, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < args.seconds:
        sampler.next_window()
        windows += 1
    steps = windows * args.batch * args.window
    return {"env_steps_per_s": steps / elapsed, "batch": args.batch, "side": args.side,
            "window": args.window, "policy": args.policy, "threads": args.threads,
            "windows": windows, "seconds": elapsed}


def main(argv=None) -> dict:
    args = parse_args(argv)
    for var in THREAD_VARS:  # must happen before numpy is imported to take effect
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
    result = measure(args)
    print(f"WalkSampler: {result['env_steps_per_s']:,.0f} env-steps/s "
          f"(B={args.batch}, T={args.window}, {args.side}x{args.side} square, {args.policy} policy, "
          f"{args.threads} thread(s), {result['windows']} windows in {result['seconds']:.1f} s)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
