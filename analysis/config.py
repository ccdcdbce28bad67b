"""Settings of the analysis of a run, shared by ``train.py``'s end-of-run analysis and by
``python -m analysis`` (same fields, same flags: ``--eval.worlds`` in train.py is ``--worlds`` here)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    """Zero-shot evaluation: link inference on fresh held-out worlds."""

    world: str = ""
    """world family to evaluate on, e.g. square:15 (empty: the training family)."""
    worlds: int = 50
    """number of fresh worlds (one walk each)."""
    walk_length: int = 1000
    """steps per evaluation walk."""
    seed: int | None = None
    """seed of the worlds and walks (none: the run's held-out stream, seed + 1,000,003)."""

    def __post_init__(self):
        if self.worlds < 1 or self.walk_length < 1:
            raise ValueError(f"worlds and walk_length must be >= 1, got {self.worlds}, {self.walk_length}")


@dataclass(frozen=True)
class RatemapConfig:
    """Rate maps of the MEC and hippocampal units, their grid and place scores, and remapping."""

    world: str = ""
    """world for the maps, e.g. hex:25 (empty: the training kind at side 20, or the training family)."""
    walk_length: int = 0
    """steps of the mapping walk (0: 50 per node)."""
    units: int = 32
    """hippocampal units to map."""
    shuffles: int = 100
    """shuffles per unit for the score thresholds."""
    seed: int = 0
    """seed of the mapping walk and its objects (the remapping walk uses seed + 1)."""

    def __post_init__(self):
        if self.walk_length < 0 or self.units < 1 or self.shuffles < 1:
            raise ValueError(f"walk_length must be >= 0, units and shuffles >= 1, got {self.walk_length}, "
                             f"{self.units}, {self.shuffles}")
