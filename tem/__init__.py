"""Cognitive-map models: TEM-t (path integration + an attention or SDM hippocampus) and TEM.

    import tem
    model = tem.load_model("runs/quick")                 # a trained model, from its run directory
    run = tem.train(tem.training.make_config("quick", {"steps": 200, "out": "runs/nb"}))

Every model implements the contract of :mod:`tem.model`. Training lives in :mod:`tem.training`,
imported on first use (the models import neither the worlds nor the analysis).
"""
from tem.checkpoint import load_model
from tem.memory import AttentionConfig, SDMConfig
from tem.model import Model, ModelOutput, Task
from tem.tem import TEM, TEMConfig
from tem.temt import TEMt, TEMtConfig


def train(config):
    """Train a run described by ``config`` (a :class:`tem.training.Config`); returns the
    :class:`tem.training.Run` (``run.model``, ``run.dir``, ``run.step``). See :func:`tem.training.train`."""
    from tem.training import train as train_run

    return train_run(config)


def __getattr__(name):
    if name == "training":  # ``tem.training`` without importing it first
        import importlib

        return importlib.import_module("tem.training")
    raise AttributeError(f"module 'tem' has no attribute {name!r}")


__all__ = ["TEM", "AttentionConfig", "Model", "ModelOutput", "SDMConfig", "TEMConfig", "TEMt", "TEMtConfig", "Task",
           "load_model", "train"]
