"""A run directory: building the model from a config, and atomic checkpoints."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from envs import World, make_worlds
from tem.config import TrainConfig, make_config
from tem.memory import MEMORIES
from tem.tem import TEM, TEMConfig
from tem.temt import TEMt, TEMtConfig

MODELS = ("temt", "tem")
CHECKPOINT = "checkpoint.pt"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def build_model(config: TrainConfig, world: World) -> torch.nn.Module:
    """The model ``config.model`` for worlds with ``world``'s action set."""
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; choose one of {', '.join(MODELS)}")
    if config.memory not in MEMORIES:
        raise ValueError(f"unknown memory {config.memory!r}; choose one of {', '.join(MEMORIES)}")
    if config.model == "tem":
        if config.memory != "hebbian":
            raise ValueError(f"model tem has its own Hebbian memory: use --memory hebbian, not {config.memory!r}")
        return TEM(TEMConfig(n_objects=config.n_objects, n_actions=world.n_actions, stay_actions=world.stay_actions,
                             memory_cap=config.memory_cap, eta_ramp=config.tem_eta_ramp,
                             g_min=0.0 if config.tem_nonneg_g else -1.0))
    if config.tem_nonneg_g:
        raise ValueError("--tem-nonneg-g is a TEM option; TEM-t's MEC cells are made non-negative with "
                         "--cell-activation relu or --nonneg-weight")
    return TEMt(TEMtConfig(
        n_objects=config.n_objects, n_actions=world.n_actions,
        inverse_actions=tuple(int(a) for a in world.inverse_actions), stay_actions=world.stay_actions,
        displacements=() if world.displacements is None else tuple(map(tuple, world.displacements.tolist())),
        module_sizes=config.module_sizes, action_matrices=config.action_matrices, norm=config.norm,
        module_scale=config.module_scale, module_ratio=config.module_ratio, fixed_wavelengths=config.fixed_wavelengths,
        sensory_dim=config.sensory_dim, key_dim=config.key_dim, memory=config.memory, beta=config.beta,
        log_scale=config.log_scale, memory_cap=config.memory_cap, sdm_neurons=config.sdm_neurons,
        sdm_activation=config.sdm_activation, sdm_top_k=config.sdm_top_k, sdm_radius=config.sdm_radius,
        sdm_beta=config.sdm_beta, sdm_learn_addresses=config.sdm_learn_addresses,
        cells_per_module=config.cells_per_module, cell_activation=config.cell_activation,
        cell_budget=config.cell_budget, nonneg_weight=config.nonneg_weight))


def save_json(path: Path, data) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_checkpoint(run_dir: Path, checkpoint: dict, name: str = CHECKPOINT) -> None:
    """Write ``run_dir/name`` atomically: a crash mid-write keeps the previous one."""
    path = Path(run_dir) / name
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def load_checkpoint(run_dir: str | Path) -> dict:
    """Read ``run_dir/checkpoint.pt`` (or a checkpoint file), with clear errors when it cannot be."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train a model first (python train.py --out DIR)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {error}") from None
    if not isinstance(checkpoint, dict) or not {"model", "config", "step", "action_names"} <= set(checkpoint):
        raise ValueError(f"checkpoint {path} is not a checkpoint written by train.py")
    return checkpoint


def load_model(run_dir: str | Path, device: str = "cpu"):
    """``(model, config, checkpoint)`` from a run directory, on ``device``, in eval mode."""
    checkpoint = load_checkpoint(run_dir)
    config = make_config({}, base=checkpoint["config"])
    world = make_worlds(config.world)[0]
    model = build_model(config, world)
    model.load_state_dict(checkpoint["model"])
    return model.to(resolve_device(device)).eval(), config, checkpoint


def config_dict(config: TrainConfig) -> dict:
    values = dataclasses.asdict(config)
    values["module_sizes"] = list(config.module_sizes)
    return values
