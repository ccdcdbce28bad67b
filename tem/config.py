"""Run configuration: one frozen dataclass, presets, and a command-line parser generated from it."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field


def option(default, help: str):
    """A config field with its ``--help`` text."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; saved as ``config.json`` in the run directory."""

    preset: str = option("quick", "named set of defaults: quick | paper | grid-cells | tem")
    model: str = option("temt", "model: temt | tem")
    memory: str = option("attention", "hippocampal memory backend: attention | sdm | hebbian (tem only)")
    world: str = option("square", "training world family, KIND[+stay][:SIZES], e.g. square:8-11, hex, square+stay:5")
    n_objects: int = option(45, "number of distinct objects per world")
    batch: int = option(64, "walks per batch (independent worlds)")
    window: int = option(50, "truncated-BPTT window (steps per gradient step)")
    walk_length: int = option(250, "steps before a slot gets a fresh world (rounded up to whole windows)")
    steps: int = option(400, "gradient steps")
    lr: float = option(2e-3, "peak learning rate (Adam)")
    warmup: int = option(20, "steps of linear learning-rate warm-up")
    min_lr_ratio: float = option(0.05, "final learning rate / peak under the cosine decay")
    lr_schedule: str = option("cosine", "cosine (warm-up, cosine decay) | tem (lr_min + (lr - lr_min) 0.5^(step/4000), "
                                        "lr_min = min_lr_ratio lr)")
    grad_clip: float = option(1.0, "clip the gradient norm to this value (0: off)")
    module_sizes: tuple[int, ...] = option((32,), "position-code module sizes, comma-separated")
    action_matrices: str = option("orthogonal_tied", "free | orthogonal | orthogonal_tied | commuting (actions "
                                                     "rotate fixed planes: an actionable code)")
    module_scale: float = option(4.0, "commuting: initial wavelength, in steps, of the first module's planes")
    module_ratio: float = option(1.5, "commuting: ratio of successive modules' initial wavelengths")
    fixed_wavelengths: bool = option(False, "commuting on grid worlds: keep the initial wavelengths, learn only "
                                            "each plane's direction")
    norm: str = option("none", "position-code normalisation: none | layernorm | l2")
    cells_per_module: int = option(0, "temt: MEC cells read out linearly per position-code module (0: the code "
                                      "itself); keys come from the cells")
    cell_activation: str = option("linear", "temt: MEC cell readout: linear (actionable) | relu")
    cell_budget: bool = option(True, "temt: fixed total activity of each module's cells at every position")
    nonneg_weight: float = option(0.0, "temt: weight of the penalty on negative MEC-cell firing")
    sensory_dim: int = option(32, "sensory embedding / memory value size")
    key_dim: int = option(32, "memory key/query size")
    beta: float = option(1.0, "initial inverse temperature of the memory read")
    log_scale: bool = option(True, "scale beta by log(1 + number of memories)")
    memory_cap: int = option(0, "keep at most this many recent memories (0: whole walk)")
    sdm_neurons: int = option(4096, "SDM memory: number of neurons (fixed random addresses)")
    sdm_activation: str = option("topk", "SDM memory: topk | threshold | binary")
    sdm_top_k: int = option(16, "SDM memory: neurons each key/query activates (activation topk)")
    sdm_radius: float = option(12.0, "SDM memory: Hamming radius d (binary; threshold: cosine >= 1 - 2d/key_dim)")
    sdm_beta: float = option(16.0, "SDM memory: initial beta of active-neuron weights exp(beta (cos - 1))")
    sdm_learn_addresses: bool = option(False, "SDM memory: train the neuron addresses (Kanerva's are fixed random)")
    tem_nonneg_g: bool = option(False, "tem: clamp MEC firing g to [0, 1] instead of the port's [-1, 1]")
    tem_eta_ramp: int = option(16000, "tem: steps over which the Hebbian rate eta ramps up to 0.5 (port: 16000)")
    persistence: float = option(0.0, "walk policy: probability of repeating the previous action")
    approach: float = option(0.0, "walk policy: probability of stepping toward a target object")
    eval_every: int = option(100, "evaluate link inference every N steps (0: only at the end)")
    eval_worlds: int = option(16, "held-out worlds for the periodic evaluation")
    final_eval_worlds: int = option(50, "held-out worlds for the final evaluation")
    eval_walk_length: int = option(1000, "steps per evaluation walk")
    checkpoint_every: int = option(100, "write a checkpoint every N steps")
    analysis: bool = option(True, "run the final evaluation, rate maps and plots at the end")
    ratemap_world: str = option("", "world for the end-of-run rate maps (empty: the training kind at side 20)")
    ratemap_shuffles: int = option(100, "shuffles per unit for the rate-map score thresholds")
    device: str = option("auto", "cpu | cuda | auto")
    threads: int = option(0, "CPU threads for torch (0: torch's default)")
    seed: int = option(0, "seed for weights, worlds and walks")
    out: str = option("runs/quick", "run directory (config, checkpoint, metrics, plots)")

    def __post_init__(self):
        for name in ("n_objects", "batch", "window", "walk_length", "steps", "sensory_dim", "key_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "grad_clip", "memory_cap", "eval_every", "threads", "checkpoint_every",
                     "eval_worlds", "final_eval_worlds", "ratemap_shuffles"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr must be > 0 and min_lr_ratio in [0, 1], got {self.lr}, {self.min_lr_ratio}")
        if self.eval_walk_length < 1 or self.beta <= 0:
            raise ValueError("eval_walk_length must be >= 1 and beta > 0")
        if self.lr_schedule not in ("cosine", "tem") or self.tem_eta_ramp < 1:
            raise ValueError(f"lr_schedule must be cosine or tem and tem_eta_ramp >= 1, got {self.lr_schedule!r}, "
                             f"{self.tem_eta_ramp}")
        if not self.module_scale > 0 or not self.module_ratio > 0:
            raise ValueError(f"module_scale and module_ratio must be > 0, got {self.module_scale}, {self.module_ratio}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be cpu, cuda or auto, got {self.device!r}")
        if not self.module_sizes or min(self.module_sizes) < 1:
            raise ValueError(f"module_sizes must be positive, got {self.module_sizes}")


PRESETS: dict[str, dict] = {
    "quick": {},
    "paper": {"batch": 64, "walk_length": 1000, "steps": 20000, "lr": 1e-3, "warmup": 200,
              "eval_every": 1000, "checkpoint_every": 1000, "out": "runs/paper"},
    # TEM-t with the constraints under which grid cells are optimal (tem.cells): commuting actions on
    # the world's lattice, non-negative cells with a fixed activity budget; hexagonal worlds (README).
    # Module wavelengths start 1.42x apart (as rat grid modules), from 5 steps (README).
    "grid-cells": {"world": "hex", "action_matrices": "commuting", "module_sizes": (12, 12, 12, 12),
                   "module_scale": 5.0, "module_ratio": 1.42, "cells_per_module": 16, "cell_activation": "relu",
                   "sdm_learn_addresses": True, "steps": 600, "ratemap_world": "hex:25", "out": "runs/grid-cells"},
    # TEM (Whittington et al. 2020) with the public port's training defaults, except walk length, eta
    # ramp and world: the port walks 500-6,000 steps per world, we walk 100; its 5x5 world has a
    # stand-still action (square+stay:5), which slowed link inference here (see README, "--model tem").
    "tem": {"model": "tem", "memory": "hebbian", "world": "square:5", "batch": 16, "window": 20, "walk_length": 100,
            "steps": 20000, "lr": 9.4e-4, "min_lr_ratio": 8e-5 / 9.4e-4, "lr_schedule": "tem", "warmup": 0,
            "grad_clip": 2.0, "tem_eta_ramp": 200, "eval_every": 50, "eval_worlds": 16, "eval_walk_length": 300,
            "checkpoint_every": 50, "out": "runs/tem"},
}


def _parse_value(kind, text: str):
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    if typing.get_origin(kind) is tuple:
        return tuple(int(part) for part in text.split(",") if part)
    return kind(text)


def build_parser() -> argparse.ArgumentParser:
    """``--field value`` for every config field, plus ``--resume DIR``."""
    parser = argparse.ArgumentParser(description="Train a TEM-t cognitive-map model.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=lambda text, kind=kind, name=f.name: _checked(kind, text, name),
                                default=None, metavar=f.name.upper(), help=f.metadata["help"])
    parser.add_argument("--resume", metavar="DIR", default=None, help="continue the run saved in DIR")
    return parser


def _checked(kind, text, name):
    try:
        return _parse_value(kind, text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value for --{name.replace('_', '-')}: {text!r}") from None


def make_config(overrides: dict, base: dict | None = None) -> TrainConfig:
    """Preset defaults (or a saved ``base`` config), then ``overrides`` (None values ignored)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    values = dict(base or {})
    if base is None:
        preset = overrides.get("preset", "quick")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    values.update(overrides)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config fields: {unknown}")
    if "module_sizes" in values:
        values["module_sizes"] = tuple(values["module_sizes"])
    return TrainConfig(**values)
