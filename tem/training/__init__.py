"""Training infrastructure: configs and presets, the command line, run directories and checkpoints,
``torchrun`` set-up and the loop. The models (:mod:`tem`) import none of it."""
from tem.training.config import PRESETS, Config, DataConfig, OptimConfig, Preset, RunConfig, make_config
from tem.training.loop import train
from tem.training.run import Run

__all__ = ["PRESETS", "Config", "DataConfig", "OptimConfig", "Preset", "Run", "RunConfig", "make_config", "train"]
