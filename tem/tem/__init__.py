"""TEM, the Tolman-Eichenbaum Machine (Whittington et al., Cell 2020), with its own hippocampus: two
Hebbian memories read by attractor dynamics (:mod:`tem.tem.hebbian`, :mod:`tem.tem.attractor`)."""
from tem.tem.model import LOSS_NAMES, TEM, TEMConfig

__all__ = ["LOSS_NAMES", "TEM", "TEMConfig"]
