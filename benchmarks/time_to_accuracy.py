"""Training time a run took to reach a held-out link-inference accuracy, from its metrics.csv.

    python benchmarks/time_to_accuracy.py runs/quick 0.99

Prints JSON: the first evaluated step at or above the threshold and its training seconds (null
when the run never got there), with the run's batch and device.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def time_to_accuracy(run_dir: Path, threshold: float) -> dict:
    config = json.loads((run_dir / "config.json").read_text())
    with (run_dir / "metrics.csv").open() as f:
        rows = [row for row in csv.DictReader(f) if row["link_inference_acc"]]
    hit = next((row for row in rows if float(row["link_inference_acc"]) >= threshold), None)
    best = max((float(row["link_inference_acc"]) for row in rows), default=None)
    return {"what": "time to accuracy", "run": str(run_dir), "threshold": threshold,
            "batch": config["data"]["batch"], "device": config["run"]["device"],
            "step": int(hit["step"]) if hit else None, "train_seconds": float(hit["train_seconds"]) if hit else None,
            "best_link_inference_acc": best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("threshold", type=float, nargs="?", default=0.99)
    args = parser.parse_args(argv)
    if not (args.run / "metrics.csv").exists():
        parser.error(f"{args.run} has no metrics.csv")
    print(json.dumps(time_to_accuracy(args.run, args.threshold)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
