"""Analysis: zero-shot evaluation, rate maps, spatial scores (gridness, place-likeness) and plots.

Importing the package loads only numpy/scipy code (``analysis.scores``); the model-facing modules
(``analysis.evaluate``) import torch and are imported explicitly.
"""
from analysis.scores import (autocorrelogram, count_fields, crosscorrelogram, fraction_above,
                             grid_scores, grid_spacing_orientation, place_scores, rasterise,
                             score_units, shuffle_threshold, shuffle_thresholds, shuffled_maps,
                             smooth_map, spatial_information)

__all__ = ["autocorrelogram", "count_fields", "crosscorrelogram", "fraction_above", "grid_scores",
           "grid_spacing_orientation", "place_scores", "rasterise", "score_units",
           "shuffle_threshold", "shuffle_thresholds", "shuffled_maps", "smooth_map",
           "spatial_information"]
