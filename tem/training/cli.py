"""``python train.py`` (``tem-train``): one flag per config field, generated from the dataclasses.

Data, optimisation and run fields are bare flags (``--batch``, ``--lr``, ``--steps``); model and
memory fields carry their model's or memory's name (``--temt.key-dim``, ``--tem.eta-ramp``,
``--sdm.radius``), evaluation and rate-map fields their group's (``--eval.worlds``,
``--ratemaps.shuffles``), the same fields ``python -m analysis`` takes.
"""
from __future__ import annotations

import argparse
import gc
import sys

from tem.configuration import add_flags
from tem.memory import MEMORIES
from tem.training.config import FLAT_GROUPS, MODEL_CONFIGS, PREFIXED_GROUPS, PRESETS, TEM_MEMORY, Config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py", usage="%(prog)s [--preset NAME] [--model temt|tem] [--memory NAME] [--resume DIR] "
                               "[--FIELD VALUE ...]", description="Train a cognitive-map model (TEM-t or TEM) on random walks in a family of "
                                     "worlds. Unset flags take the preset's values.")
    parser.add_argument("--preset", metavar="|".join(PRESETS), default=None,
                        help="named whole config (default: quick, or tem with --model tem)")
    parser.add_argument("--model", default=None, metavar="|".join(MODEL_CONFIGS),
                        help="the model (default: the preset's)")
    parser.add_argument("--memory", default=None, metavar="|".join([*MEMORIES, TEM_MEMORY]),
                        help=f"the hippocampal memory: {' or '.join(MEMORIES)} (TEM-t), {TEM_MEMORY} (TEM)")
    parser.add_argument("--resume", metavar="DIR", default=None, help="continue the run saved in DIR")
    defaults = Config()
    for group in FLAT_GROUPS:
        add_flags(parser, type(getattr(defaults, group)), group, bare=True, dotted=False)
    for group, cls in {**MODEL_CONFIGS, **MEMORIES}.items():
        add_flags(parser, cls, group, bare=False)
    for group in PREFIXED_GROUPS:
        add_flags(parser, type(getattr(defaults, group)), group, bare=False)
    return parser


def parse_overrides(argv: list[str] | None = None) -> tuple[str | None, dict]:
    """``(resume_dir, overrides)`` from the command line; overrides are named as in
    :func:`tem.training.config.make_config` and hold only the flags that were given."""
    args = vars(build_parser().parse_args(argv))
    resume = args.pop("resume")
    return resume, {key: value for key, value in args.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    """Train from the command line; returns the exit code (2: bad input, 3: the loss diverged,
    130: interrupted, with a checkpoint saved)."""
    from tem.training.loop import Run, train  # torch and the samplers: after --help has been answered

    resume, overrides = parse_overrides(argv)
    try:
        run = Run.resume(resume, overrides) if resume else Run.start(overrides)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    gc.freeze()  # torch, the model, the worlds: out of the collector's full passes while training (~0.6 s)
    try:
        train(run)
    except KeyboardInterrupt:
        print(f"\ninterrupted at step {run.step}; checkpoint saved. Continue with: "
              f"python train.py --resume {run.dir}", file=sys.stderr)
        return 130
    except FloatingPointError as error:
        print(f"error: {error}; training stopped, the last good checkpoint is kept in {run.dir}", file=sys.stderr)
        return 3
    finally:
        run.close()
        gc.unfreeze()
    return 0

