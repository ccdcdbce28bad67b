"""``python -m analysis {evaluate,ratemaps} DIR [options]``: analyse a training run directory;
``python -m analysis sdm --n 64 --d 11``: the SDM ≈ attention figure and fitted beta."""
from __future__ import annotations

import argparse
import json
import sys

from analysis.cli import evaluate_run, ratemaps_run
from analysis.sdm import sdm_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("evaluate", help="zero-shot link inference on fresh worlds")
    evaluate.add_argument("run_dir", help="run directory written by train.py (or a checkpoint file's folder)")
    evaluate.add_argument("--world", default=None, help="world family, e.g. square:15, periodic-square, hex "
                                                        "(default: the training family)")
    evaluate.add_argument("--worlds", type=int, default=50, help="number of fresh worlds (one walk each)")
    evaluate.add_argument("--walk-length", type=int, default=1000, help="steps per walk")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of the worlds (default: held-out stream)")
    evaluate.add_argument("--device", default="cpu")
    ratemaps = commands.add_parser("ratemaps", help="rate maps, grid/place scores and remapping")
    ratemaps.add_argument("run_dir")
    ratemaps.add_argument("--world", default=None, help="world for the maps (default: training kind at 20x20)")
    ratemaps.add_argument("--walk-length", type=int, default=None, help="steps (default: 50 per node)")
    ratemaps.add_argument("--units", type=int, default=32, help="hippocampal units to map")
    ratemaps.add_argument("--shuffles", type=int, default=100, help="shuffles per unit for score thresholds")
    ratemaps.add_argument("--seed", type=int, default=0)
    ratemaps.add_argument("--device", default="cpu")
    sdm = commands.add_parser("sdm", help="SDM circle intersection vs softmax: fitted beta and figure")
    sdm.add_argument("--n", type=int, default=64, help="dimension of the binary space")
    sdm.add_argument("--d", type=int, default=11, help="Hamming radius of the read/write circles")
    sdm.add_argument("--out", default=".", help="folder for the figure sdm_n{N}_d{D}.png")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("worlds", "walk_length", "units", "shuffles"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1, got {value}", file=sys.stderr)
            return 2
    try:
        if args.command == "sdm":
            result = sdm_report(args.n, args.d, args.out)
            print(f"beta={result['beta']:.4f}")  # the paper's estimator cov/var
            print(f"beta_lstsq={result['beta_lstsq']:.4f}")
            print(f"figure={result['figure']}")
            return 0
        if args.command == "evaluate":
            result = evaluate_run(args.run_dir, world=args.world, n_worlds=args.worlds, walk_length=args.walk_length,
                                  seed=args.seed, device=args.device)
            keys = ("world", "link_inference_acc", "first_visit_acc", "node_visited_acc",
                    "node_visited_agent_acc", "edge_visited_agent_acc")
        else:
            result = ratemaps_run(args.run_dir, world=args.world, walk_length=args.walk_length, n_hpc_units=args.units,
                                  n_shuffles=args.shuffles, seed=args.seed, device=args.device)
            keys = ("world", "mec_fraction_grid", "mec_fraction_square_grid", "mec_fraction_grid_cells",
                    "mec_distinct_spacing_modules", "mec_modules", "hpc_fraction_place", "remapping", "seconds")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
