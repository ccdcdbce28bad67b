"""The ideal observer's link-inference accuracy (the achievable ceiling) and its run time per family.

    python benchmarks/ideal_observer.py --walks 40 --walk-length 1000 --seed 0 --threads 1

Walks are drawn as in evaluation (``WalkSampler(..., stagger=False)``: one fresh world per walk,
objects i.i.d. uniform over ``--n-objects``). Prints one JSON line per family: the ideal observer's
accuracy on link-inference steps, the node- and edge-visited agents' accuracy on all steps (the
ideal observer's too, for comparison), the number of link-inference steps and hypotheses, and the
seconds the ideal observer took.
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
FAMILIES = ("square:8-11", "periodic-square:8-11", "hex:8-11", "family-tree:3", "line:10", "ring:12")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), help="world family specs")
    parser.add_argument("--walks", type=int, default=40, help="walks (fresh worlds), one per world")
    parser.add_argument("--walk-length", type=int, default=1000, help="steps per walk")
    parser.add_argument("--n-objects", type=int, default=45, help="objects per world")
    parser.add_argument("--seed", type=int, default=0, help="seed of the worlds' objects and the walks")
    parser.add_argument("--threads", type=int, default=1, help="numpy/BLAS threads to allow")
    return parser.parse_args(argv)


def measure(spec: str, args: argparse.Namespace) -> dict:
    """Sample the walks of ``spec``, run the ideal observer on them and score it beside the agents."""
    import numpy as np  # imported after the thread pinning

    from analysis.ideal import ideal_observer
    from analysis.metrics import masked_mean, visit_masks
    from envs import WalkSampler, make_worlds

    worlds = make_worlds(spec)
    batch = WalkSampler(worlds, args.walks, args.walk_length, args.walk_length, n_objects=args.n_objects,
                        seed=args.seed, stagger=False).next_window()  # one window holds the whole walks
    start = time.perf_counter()
    ideal = ideal_observer(worlds, batch.obs, batch.action, args.n_objects)  # sees obs and actions only
    seconds = time.perf_counter() - start
    masks = visit_masks(batch.node, batch.action, worlds[0].n_actions)
    chance = 1.0 / args.n_objects
    everything = np.ones(batch.obs.shape, dtype=bool)
    skipped = ideal.correct is None
    return {
        "family": spec, "walks": args.walks, "walk_length": args.walk_length, "n_objects": args.n_objects,
        "seed": args.seed, "hypotheses": ideal.hypotheses,
        "ideal_observer_acc": None if skipped else round(masked_mean(ideal.correct, masks["link_inference"]), 5),
        "ideal_observer_all_steps_acc": None if skipped else round(masked_mean(ideal.correct, everything), 5),
        "node_visited_agent_acc": round(masked_mean(np.where(masks["node_visited"], 1.0, chance), everything), 5),
        "edge_visited_agent_acc": round(masked_mean(np.where(masks["edge_visited"], 1.0, chance), everything), 5),
        "link_inference_steps": int(masks["link_inference"].sum()),
        "walks_per_chunk": ideal.walks_per_chunk, "seconds": round(seconds, 3),
        **({"note": ideal.note} if skipped else {}),
    }


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    for var in THREAD_VARS:  # must happen before numpy is imported to take effect
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
    results = []
    for spec in args.families:
        results.append(measure(spec, args))
        print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
