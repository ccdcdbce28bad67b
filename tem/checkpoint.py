"""Safe checkpoints: everything the package writes loads with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values (numbers, strings, lists, dicts). It
names the model (``model_kind``), its config (``model_config``, a plain dict) and the task
(``task``: object count and action structure), so :func:`load_model` rebuilds a trained model from
the file alone, without the training config or the worlds. A file that holds any other pickled
object is refused: loading it could run code.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import torch

from tem.configuration import from_dict, to_dict
from tem.model import Model, Task
from tem.tem import TEM, TEMConfig
from tem.temt import TEMt, TEMtConfig

MODELS: dict[str, type[Model]] = {"temt": TEMt, "tem": TEM}
"""The models by name (``--model``)."""
MODEL_CONFIGS = {"temt": TEMtConfig, "tem": TEMConfig}
CHECKPOINT = "checkpoint.pt"
FORMAT = 2
"""Checkpoint format; files without it were written before checkpoints held only plain types."""
UPGRADE = "python -m tem.training.upgrade"


def build_model(config: TEMtConfig | TEMConfig, task: Task) -> Model:
    """The model that ``config`` describes (its class chooses TEM-t or TEM) for ``task``."""
    for kind, config_class in MODEL_CONFIGS.items():
        if isinstance(config, config_class):
            return MODELS[kind](config, task)
    raise ValueError(f"not a model config: {config!r}; choose one of {', '.join(MODELS)}")


def model_record(model: Model) -> dict:
    """What a checkpoint needs to rebuild ``model``: kind, config and task, as plain values."""
    return {"format": FORMAT, "model_kind": model.kind, "model_config": to_dict(model.config),
            "task": to_dict(model.task)}


def model_from_record(checkpoint: dict) -> Model:
    """An untrained model as described by a checkpoint's :func:`model_record` fields."""
    kind = checkpoint["model_kind"]
    if kind not in MODELS:
        raise ValueError(f"checkpoint holds an unknown model {kind!r}; known: {', '.join(MODELS)}")
    config = from_dict(MODEL_CONFIGS[kind], checkpoint["model_config"], where=f"{kind} config")
    return build_model(config, from_dict(Task, checkpoint["task"], where="task"))


def save_json(path: str | Path, data) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a crash mid-write keeps the previous file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint file, or ``DIR/checkpoint.pt``, as plain data (``weights_only=True``).

    Raises ``FileNotFoundError`` when there is none and ``ValueError`` with the reason when it is
    damaged, holds other pickled objects, or was written before the current format.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train a model first (python train.py --out DIR)")
    checkpoint = load_plain(path)
    if not isinstance(checkpoint, dict) or not {"model", "config", "step"} <= set(checkpoint):
        raise ValueError(f"{path} is not a checkpoint written by train.py")
    if checkpoint.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} was written by an older version of the package; convert it with "
                         f"`{UPGRADE} {path.parent}`")
    return checkpoint


def load_plain(path: str | Path):
    """``torch.load(path, weights_only=True)`` onto the CPU, with clear errors for a damaged file or one
    holding other pickled objects."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:
            raise ValueError(f"checkpoint {path} is corrupt or unreadable") from None
        raise ValueError(f"checkpoint {path} holds a pickled {found.group(1)}, not only tensors and plain values, "
                         f"so it is not loaded (that could run code). If train.py wrote it before checkpoints "
                         f"held only plain values, convert it with `{UPGRADE} {path.parent}`") from None
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {error}") from None


def restore_model(checkpoint: dict) -> Model:
    """The trained model a loaded checkpoint holds (on the CPU, in train mode)."""
    model = model_from_record(checkpoint)
    model.load_state_dict(checkpoint["model"])
    return model


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> Model:
    """The trained model of a run directory (or checkpoint file), on ``device``, in eval mode."""
    return restore_model(load_checkpoint(run_dir)).to(device).eval()
