"""Convert a run directory written before checkpoints held only plain values (format 1: a flat
config and NumPy arrays in the sampler state) to the current format.

    python -m tem.training.upgrade runs/quick

The old files are read with ``weights_only=True`` and NumPy's array reconstruction allowed (nothing
else), rewritten in the current format, and kept beside the new ones as ``*.pt.old``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from envs import make_worlds
from tem.checkpoint import FORMAT, build_model, model_record, save_checkpoint, save_json
from tem.model import Task
from tem.training.config import Config, make_config

DATA = ("world", "n_objects", "batch", "window", "walk_length", "persistence", "approach")
OPTIM = ("lr", "warmup", "min_lr_ratio", "grad_clip")
RUN = ("steps", "checkpoint_every", "eval_every", "eval_worlds", "analysis", "device", "threads", "seed", "out")
TEMT = ("module_sizes", "action_matrices", "module_scale", "module_ratio", "fixed_wavelengths", "norm",
        "cells_per_module", "cell_activation", "cell_budget", "nonneg_weight", "sensory_dim", "key_dim")
RENAMED = {"final_eval_worlds": "eval.worlds", "eval_walk_length": "eval.walk_length",
           "ratemap_world": "ratemaps.world", "ratemap_shuffles": "ratemaps.shuffles"}
SDM = {"sdm_neurons": "neurons", "sdm_activation": "activation", "sdm_top_k": "top_k", "sdm_radius": "radius",
       "sdm_beta": "beta", "sdm_learn_addresses": "learn_addresses"}


def config_from_flat(old: dict) -> Config:
    """The current :class:`Config` of a format-1 flat config dict."""
    overrides = {key: old[key] for key in (*DATA, *OPTIM, *RUN) if key in old}
    overrides["lr_schedule"] = {"tem": "exponential"}.get(old.get("lr_schedule"), old.get("lr_schedule"))
    overrides.update({new: old[key] for key, new in RENAMED.items() if key in old})
    overrides.update(model=old.get("model", "temt"), memory=old.get("memory", "attention"))
    if overrides["model"] == "temt":
        overrides.update({f"temt.{key}": old[key] for key in TEMT if key in old})
        if overrides["memory"] == "sdm":
            overrides.update({f"sdm.{new}": old[key] for key, new in SDM.items() if key in old})
        else:
            overrides.update({"attention.beta": old.get("beta"), "attention.log_scale": old.get("log_scale"),
                              "attention.cap": old.get("memory_cap")})
    else:
        overrides.update({"tem.eta_ramp": old.get("tem_eta_ramp"), "tem.memory_cap": old.get("memory_cap"),
                          "tem.g_min": 0.0 if old.get("tem_nonneg_g") else -1.0})
    for key in ("module_sizes", "temt.module_sizes"):
        if overrides.get(key) is not None:
            overrides[key] = tuple(overrides[key])
    preset = old.get("preset") if old.get("preset") in ("quick", "paper", "grid-cells", "tem") else None
    return make_config(preset, overrides)


def _read_old(path: Path) -> dict:
    allowed = [np.ndarray, np.dtype, np._core.multiarray._reconstruct, *(type(np.dtype(t)) for t in
                                                                          (np.int64, np.bool_, np.float64))]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


def _plain_sampler(sampler: dict) -> dict:
    return {key: torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value
            for key, value in sampler.items()}


def _carried_state(state: dict) -> dict:
    """Attention states gain ``written`` (steps of the walk written so far; here: the columns held)."""
    memory = state.get("memory", {})
    if "valid" in memory and "written" not in memory:
        memory = {**memory, "written": memory["valid"].sum(1).long()}
    return {**state, "memory": memory} if memory else state


def upgrade(run_dir: str | Path) -> Path:
    """Rewrite ``run_dir``'s checkpoint (and ``rank*.pt``, ``config.json``) in the current format."""
    run_dir = Path(run_dir)
    path = run_dir / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    old = _read_old(path)
    if old.get("format") == FORMAT:
        print(f"{path} is already in the current format")
        return path
    config = config_from_flat(old["config"])
    task = Task.from_world(make_worlds(config.data.world)[0], config.data.n_objects)
    model = build_model(config.model, task)
    weights = dict(old["model"])
    steps = weights.pop("schedule_step", torch.tensor(old["step"]))
    weights["trained_steps"] = torch.as_tensor(steps, dtype=torch.long)
    model.load_state_dict(weights)
    new = {**{key: old[key] for key in ("optimizer", "step", "world_size", "torch_rng", "train_seconds", "running")
              if key in old},
           **model_record(model), "model": model.state_dict(), "config": config.to_dict(),
           "sampler": _plain_sampler(old["sampler"]), "carried_state": _carried_state(old["carried_state"])}
    for rank_file in sorted(run_dir.glob("rank*.pt")):
        state = _read_old(rank_file)
        os.replace(rank_file, rank_file.with_name(rank_file.name + ".old"))
        save_checkpoint(rank_file, {**state, "sampler": _plain_sampler(state["sampler"]),
                                    "carried_state": _carried_state(state["carried_state"])})
    os.replace(path, path.with_name(path.name + ".old"))
    save_checkpoint(path, new)
    save_json(run_dir / "config.json", config.to_dict())
    print(f"upgraded {path} (the old file is {path.name}.old)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tem.training.upgrade", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        try:
            upgrade(run_dir)
        except (ValueError, FileNotFoundError, KeyError) as error:
            print(f"error: {run_dir}: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
