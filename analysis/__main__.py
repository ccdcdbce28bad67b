"""``python -m analysis`` (``tem-analysis``): analyse a training run directory.

    python -m analysis evaluate RUN [--world W] [--worlds N] [--walk-length L] [--seed S]
    python -m analysis ratemaps RUN [--world W] [--walk-length L] [--units N] [--shuffles N] [--seed S] [--threads T]
    python -m analysis export RUN --to DIR --format nwb|pynapple|netcdf|csv [ratemaps flags] [--overwrite]
    python -m analysis sdm --n 64 --d 11      # the SDM ~ attention figure and fitted beta
    python -m analysis sdm-of RUN [--walks N] [--walk-length L] [--seed S] [--noise F]   # a TEM-t's SDM radius
    python -m analysis objectvector RUN [--world W] [--salient K] [--walk-length L] [--shuffles N] [--seed S]

The evaluate and ratemaps flags are the fields of :class:`analysis.config.EvalConfig` and
:class:`analysis.config.RatemapConfig`, the settings train.py's end-of-run analysis uses (there they
are spelled ``--eval.worlds``, ``--ratemaps.shuffles``, ...; those spellings work here too).
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys

from analysis.config import EvalConfig, RatemapConfig
from analysis.export import FORMATS, MissingExtra

SETTINGS = {"evaluate": ("eval", EvalConfig), "ratemaps": ("ratemaps", RatemapConfig),
            "export": ("ratemaps", RatemapConfig)}
PRINTED = {"evaluate": ("world", "link_inference_acc", "ideal_observer_acc", "ideal_observer_note",
                        "link_inference_by_action", "first_visit_acc", "node_visited_acc",
                        "node_visited_agent_acc", "edge_visited_agent_acc", "aliased_acc", "n_aliased_steps"),
           "ratemaps": ("world", "mec_fraction_grid", "mec_fraction_square_grid", "mec_fraction_grid_cells",
                        "mec_distinct_spacing_modules", "mec_modules", "hpc_fraction_place", "remapping",
                        "grid_place_relationship", "hpc_splitter_fraction", "hpc_lap_fraction", "seconds"),
           "export": ("format", "files", "world", "walk_length", "n_mec_units", "n_hpc_units", "seconds")}


def build_parser(flags: bool = True) -> argparse.ArgumentParser:
    """The command line; without ``flags`` the settings flags of evaluate and ratemaps are left out
    (they need :mod:`tem.configuration`, which imports torch: the sdm command does without)."""
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {"evaluate": "zero-shot link inference on fresh worlds",
             "ratemaps": "rate maps, grid and place scores, remapping",
             "export": "the walk, unit activity, rate maps and scores as NWB, pynapple, netCDF or CSV"}
    for command, (group, cls) in SETTINGS.items():
        description = ("Export the walk, unit activity, rate maps and unit scores of ratemaps (same flags, same "
                       "walk) as NWB, pynapple, netCDF or CSV." if command == "export" else cls.__doc__)
        sub = commands.add_parser(command, help=helps[command], description=description)
        sub.add_argument("run_dir", help="run directory written by train.py (or its checkpoint file)")
        if flags:
            from tem.configuration import add_flags

            add_flags(sub, cls, group, bare=True)
        sub.add_argument("--device", default="cpu", help="cpu | cuda (default: cpu)")
        if command == "export":
            sub.add_argument("--to", required=True,
                             help="output folder (must not exist or be empty, unless --overwrite)")
            sub.add_argument("--format", required=True, choices=list(FORMATS),
                             help="nwb, pynapple, netcdf (these need: pip install -e \".[export]\") or csv")
            sub.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty --to")
        if command == "export":
            sub.add_argument("--threads", type=int, default=1,
                             help="torch threads for the walk (default 1: its products are small, "
                                  "more threads mostly wait on each other; 0: torch's default)")
        if command == "ratemaps":
            sub.add_argument("--threads", type=int, default=None,
                             help="torch threads for the two mapping walks (default: one per walk, at most one per "
                                  "CPU; 0: torch's default)")
    sdm = commands.add_parser("sdm", help="SDM circle intersection vs softmax: fitted beta and figure")
    sdm.add_argument("--n", type=int, default=64, help="dimension of the binary space")
    sdm.add_argument("--d", type=int, default=11, help="Hamming radius of the read/write circles")
    sdm.add_argument("--out", default=".", help="folder for the figure sdm_n{N}_d{D}.png")
    sdm_of = commands.add_parser("sdm-of", help="the SDM radius of a trained TEM-t's attention memory",
                                 description="Effective beta of a trained TEM-t's attention, the binary SDM radius "
                                             "that matches it and the optimal radii; writes RUN/sdm_of.json and "
                                             "RUN/sdm_of.png.")
    sdm_of.add_argument("run_dir", help="run directory written by train.py (or its checkpoint file)")
    sdm_of.add_argument("--walks", type=int, default=16, help="walks measured, in one batch (default 16)")
    sdm_of.add_argument("--walk-length", type=int, default=None, help="steps per walk (default: the run's)")
    sdm_of.add_argument("--seed", type=int, default=0, help="seed of the walks (default 0)")
    sdm_of.add_argument("--noise", type=float, default=0.1,
                        help="query noise of the query-noise optimum: bits (>= 1) or a fraction of key_dim (default 0.1)")
    ovc = commands.add_parser("objectvector", help="object-vector cells among a run's MEC units",
                              description="Walk two environments with salient objects elsewhere and score each "
                                          "MEC unit's object-centred map against shuffled object positions; "
                                          "writes RUN/objectvector.json and RUN/objectvector.png.")
    ovc.add_argument("run_dir", help="run directory written by train.py (or its checkpoint file)")
    ovc.add_argument("--world", default="square:11", help="the world walked (default square:11)")
    ovc.add_argument("--salient", type=int, default=2, help="salient objects per environment (default 2)")
    ovc.add_argument("--walk-length", type=int, default=None, help="steps per walk (default 50 per node)")
    ovc.add_argument("--shuffles", type=int, default=100, help="shuffles of the object positions (default 100)")
    ovc.add_argument("--seed", type=int, default=0, help="seed of the environments and walks (default 0)")
    return parser


def sdm_of_main(args: argparse.Namespace) -> int:
    """``sdm-of``: print the summary (JSON, then one line of text)."""
    from analysis.sdm_of import sdm_of_run

    result = sdm_of_run(args.run_dir, n_walks=args.walks, walk_length=args.walk_length, seed=args.seed,
                        noise=args.noise)
    shown = ("beta_eff", "beta_learned", "memory_size", "query_norm", "key_norm", "n", "d", "d_continuous",
             "beta_fit", "beta_in_range", "optima", "figure")
    print(json.dumps({k: result[k] for k in shown}, indent=2))
    print(result["summary"])
    return 0


def settings_from(args: argparse.Namespace, command: str):
    """The command's settings dataclass from the parsed flags (unset flags keep the defaults)."""
    group, cls = SETTINGS[command]
    values = {f.name: getattr(args, f"{group}.{f.name}") for f in dataclasses.fields(cls)}
    return dataclasses.replace(cls(), **{k: v for k, v in values.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(flags=command not in ("sdm", "sdm-of", "objectvector")).parse_args(argv)
    try:
        if args.command == "sdm-of":
            return sdm_of_main(args)
        if args.command == "objectvector":
            from analysis.objectvector import object_vector_run

            result = object_vector_run(args.run_dir, args.world, args.salient, args.walk_length, args.seed,
                                       n_shuffles=args.shuffles)
            print(json.dumps(result, indent=2))
            return 0
        if args.command == "sdm":
            from analysis.sdm import sdm_report

            result = sdm_report(args.n, args.d, args.out)
            print(f"beta={result['beta']:.4f}")  # the paper's estimator cov/var
            print(f"beta_lstsq={result['beta_lstsq']:.4f}")
            print(f"figure={result['figure']}")
            return 0
        settings = settings_from(args, args.command)
        from analysis.pipeline import evaluate_run, ratemaps_run

        gc.freeze()  # what is loaded by now (torch, matplotlib): out of the collector's full passes (~0.4 s)
        try:
            if args.command == "evaluate":
                result = evaluate_run(args.run_dir, settings, device=args.device)
            elif args.command == "export":
                from analysis.export import export_run

                result = export_run(args.run_dir, args.to, args.format, settings, overwrite=args.overwrite,
                                    device=args.device, threads=args.threads or None)
            else:
                result = ratemaps_run(args.run_dir, settings, device=args.device, threads=args.threads)
        finally:
            gc.unfreeze()
    except (ValueError, FileNotFoundError, MissingExtra) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in PRINTED[args.command] if k in result}, indent=2))
    return 0


if __name__ == "__main__":
    code = main()
    gc.freeze()  # all is written: skip the interpreter's last collection over torch's many objects (~0.4 s)
    sys.exit(code)
