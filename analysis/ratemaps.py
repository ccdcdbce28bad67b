"""Rate maps: the mean activity of each unit at each node over a long walk.

Units come through the model contract (:class:`tem.model.Model`): the MEC cells are
``ModelOutput.mec``, the hippocampal units the columns of ``memory_activity``, each named by
``memory_units`` (the walk step that wrote it, or the neuron), so no backend is looked into.
"""
from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

import numpy as np
import torch
from tqdm import trange

from envs import Batch, WalkPolicy, WalkSampler, World


class RateMaps(NamedTuple):
    """Per-node mean activity over the second half of a walk (NaN at nodes not visited then).

    ``mec``: ``(n_mec_units, n_nodes)`` position-code units. ``hippocampus``:
    ``(n_hpc_units, n_nodes)`` memory neurons. ``occupancy``: ``(n_nodes,)`` visits counted.
    ``hpc_units``: id of each hippocampal unit (the step its memory was written, for a memory
    that grows with the walk, one per place: the first visits of the walk's first ``n_hpc_units`` places
    (of those seen before the second half); for a
    fixed population, the index of one of the neurons most active in the first half of the walk). ``nodes (K,)`` and
    ``hpc_trace (K, n_hpc_units)``: the second half of the walk step by step, for time-shift
    shuffles.
    """

    mec: np.ndarray
    hippocampus: np.ndarray
    occupancy: np.ndarray
    hpc_units: np.ndarray
    nodes: np.ndarray | None = None
    hpc_trace: np.ndarray | None = None


def mec_modules(model) -> np.ndarray:
    """``(n_mec_units,)`` the module of each MEC unit (from ``model.mec_modules()``)."""
    sizes = model.mec_modules()
    return np.repeat(np.arange(len(sizes)), sizes)


def _first_visits(node: np.ndarray, n_units: int) -> np.ndarray:
    """For a memory that grows with the walk: the steps of ``node (L,)`` (the walk so far) that first
    visited the first ``n_units`` distinct nodes (one memory unit per place)."""
    _, first = np.unique(node, return_index=True)
    return np.sort(first)[:n_units]


class UnitChooser:
    """Picks, during a walk, the hippocampal units to map, as the rate maps and the export both do:
    for a memory that grows with the walk, the first visits of the walk's first ``n_units`` places
    (once that many are seen, or when the mapped second half begins); for a fixed population, the
    ``n_units`` neurons most active in the first half (when the second half begins)."""

    def __init__(self, population: bool, n_units: int, half: int):
        self.population, self.n_units, self.half = population, n_units, half
        self.totals, self.walked = 0.0, []

    def see(self, nodes: np.ndarray, steps: np.ndarray, activity: torch.Tensor,
            column_units: torch.Tensor) -> np.ndarray | None:
        """One window: its ``nodes`` and walk ``steps`` ``(T,)``, the memory's ``activity (T,
        n_columns)`` and ``column_units (n_columns,)``. Returns the units once chosen, else None."""
        mapped = bool((steps >= self.half).any())
        if not self.population:  # memories are known as they are written
            self.walked.append(nodes)
            units = _first_visits(np.concatenate(self.walked), self.n_units)
            return units if len(units) == self.n_units or mapped else None
        self.totals += np.abs(activity.float().cpu().numpy()[steps < self.half]).sum(axis=0)
        if not mapped:
            return None
        columns = np.argsort(-self.totals, kind="stable")[:self.n_units]
        return np.sort(column_units.cpu().numpy()[columns])


@torch.inference_mode()  # no_grad's tensors keep autograd's version counters: a TEM walk's steps 10% slower
def run_windows(model, windows, batch_size: int, *, device="cpu", return_activity: bool = True,
                activity_units=None):
    """Run ``model`` along ``windows`` (an iterable of :class:`~envs.Batch`, consecutive windows of
    ``batch_size`` walks), carrying its state: yields ``(batch, out)`` per window, ``out`` the
    model's output (with the memory's activity when ``return_activity``). The one model loop of the
    analyses (rate maps, export, object-vector maps, the SDM radius).

    ``activity_units``: for analyses that need no predictions, a function of each window's batch
    that gives the only hippocampal units whose activity that window needs (``(batch_size, N)``
    ids, N may be 0; None: every unit); the model then runs :meth:`tem.model.Model.track` (faster;
    ``logits`` may be None)."""
    state = model.initial_state(batch_size, device)
    for batch in windows:
        obs, action, new_world = (torch.as_tensor(x, device=device) for x in (batch.obs, batch.action, batch.new_world))
        if activity_units is None:
            out = model(obs, action, new_world, state, return_activity=return_activity)
        else:
            units = activity_units(batch)
            if units is not None:
                units = torch.as_tensor(units, dtype=torch.long, device=device).reshape(batch_size, -1)
            out = model.track(obs, action, new_world, state, units)
        state = out.state
        yield batch, out


def sampler_windows(sampler: WalkSampler, *, progress: bool = False, desc: str = "walk"):
    """One walk's windows from ``sampler`` (``sampler.windows_per_walk`` of them, with a progress bar)."""
    for _ in trange(sampler.windows_per_walk, desc=desc, unit="window", disable=not progress, leave=False):
        yield sampler.next_window()


def split_window(batch, window: int):
    """Cut one long :class:`~envs.Batch` (a whole walk) into consecutive windows of ``window`` steps
    (the last one shorter when ``window`` does not divide it)."""
    for start in range(0, batch.obs.shape[1], window):
        cut = slice(start, start + window)
        yield batch._replace(obs=batch.obs[:, cut], action=batch.action[:, cut], node=batch.node[:, cut],
                             new_world=batch.new_world if start == 0 else np.zeros_like(batch.new_world))


def _walks(world: World, walk_length: int, seeds, *, n_objects: int, window: int, progress: bool):
    """The windows of one walk of ``world`` per seed of ``seeds`` (uniform policy; a seed fixes the
    walk and the objects), as one :class:`~envs.Batch` of ``len(seeds)`` walks per window: walk ``b``
    is the walk a sampler of batch size 1 and seed ``seeds[b]`` takes."""
    samplers = [WalkSampler([world], 1, window, walk_length, n_objects=n_objects, seed=seed, stagger=False,
                            policy=WalkPolicy()) for seed in seeds]
    desc = f"walk {world.name}" if len(seeds) == 1 else f"{len(seeds)} walks of {world.name}"
    for _ in trange(samplers[0].windows_per_walk, desc=desc, unit="window", disable=not progress, leave=False):
        parts = [sampler.next_window() for sampler in samplers]
        yield Batch(*(np.concatenate(field) for field in zip(*parts)))


def walk_windows(model, world: World, walk_length: int, *, n_objects: int = 45, window: int = 250, seed: int = 0,
                 device="cpu", progress: bool = False, activity_units=None):
    """Run ``model`` along one walk of ``world`` (uniform policy, ``seed`` fixes the walk and the
    objects): yields ``(batch, out)`` per window, the sampler's :class:`~envs.Batch` (batch size 1)
    and the model's output with the memory's activity (of ``activity_units`` only when given, as
    in :func:`run_windows`)."""
    windows = _walks(world, walk_length, (seed,), n_objects=n_objects, window=window, progress=progress)
    yield from run_windows(model, windows, 1, device=device, activity_units=activity_units)


class _MapSums:
    """One walk's running sums over its mapped second half: activity per unit and node, visits."""

    def __init__(self, n_nodes: int):
        self.mec = self.hpc = None
        self.occupancy = np.zeros(n_nodes)
        self.trace, self.nodes = [], []

    def add(self, nodes: np.ndarray, position: np.ndarray, activity: np.ndarray) -> None:
        """``nodes (k,)`` visited with MEC cells ``position (k, n_mec)`` and units ``activity (k, n_units)``."""
        if self.mec is None:
            n_nodes = len(self.occupancy)
            self.mec, self.hpc = np.zeros((position.shape[1], n_nodes)), np.zeros((activity.shape[1], n_nodes))
        np.add.at(self.mec.T, nodes, position)
        np.add.at(self.hpc.T, nodes, activity)
        np.add.at(self.occupancy, nodes, 1)
        self.trace.append(activity)
        self.nodes.append(nodes)

    def maps(self, units: np.ndarray) -> RateMaps:
        with np.errstate(invalid="ignore", divide="ignore"):
            visited = np.where(self.occupancy > 0, self.occupancy, np.nan)
            return RateMaps(self.mec / visited, self.hpc / visited, self.occupancy, units, np.concatenate(self.nodes),
                            np.concatenate(self.trace))


def record_rate_maps(model, world: World, walk_length: int, *, n_objects: int = 45, n_hpc_units: int = 64,
                     window: int = 250, seed: int = 0, device="cpu", progress: bool = False,
                     units: np.ndarray | None = None) -> RateMaps:
    """Walk ``world`` for ``walk_length`` steps (uniform policy) and average the units per node
    over the second half of the walk, as TEM did. ``seed`` fixes the walk and the objects. For a
    fixed population, ``units`` (neuron ids) maps those neurons instead of choosing them from the
    walk (so that a second walk maps the same neurons as the first)."""
    return _record(model, world, walk_length, (seed,), n_objects=n_objects, n_hpc_units=n_hpc_units, window=window,
                   device=device, progress=progress, units=units)[0]


def _record(model, world: World, walk_length: int, seeds, *, n_objects: int, n_hpc_units: int, window: int,
            device, progress: bool, units: np.ndarray | None) -> list[RateMaps]:
    """:func:`record_rate_maps` of one walk per seed of ``seeds``, run as one batch. Each walk
    chooses its own units of a memory that grows with the walk; the first walk chooses the neurons
    of a fixed population that all walks map (unless ``units`` gives them)."""
    population = model.hippocampal_units == "neuron"
    if units is not None and not population:
        raise ValueError("units can be given only for a fixed population of neurons")
    B, half = len(seeds), walk_length // 2
    choosers = [UnitChooser(population, n_hpc_units, half) for _ in seeds]
    chosen = [units] * B
    sums = [_MapSums(world.n_nodes) for _ in seeds]
    written = 0

    def activity_units(batch) -> np.ndarray | None:
        """A population's units are chosen from its activity (every unit until then). A growing
        memory's units are chosen from the walk's nodes alone, before the model runs (``written`` is
        still the window's first step): a window needs no activity before the mapped half, then
        only theirs (padded with -1 where a walk has fewer)."""
        if population:
            return None if chosen[0] is None else np.stack(chosen)
        steps = np.arange(written, written + window)
        for b in range(B):
            if chosen[b] is None:
                chosen[b] = choosers[b].see(batch.node[b], steps, None, None)
        if not (steps >= half).any():
            return np.zeros((B, 0), dtype=np.int64)
        out = np.full((B, max(len(c) for c in chosen)), -1, dtype=np.int64)
        for b, c in enumerate(chosen):
            out[b, :len(c)] = c
        return out

    windows = _walks(world, walk_length, seeds, n_objects=n_objects, window=window, progress=progress)
    for batch, out in run_windows(model, windows, B, device=device, activity_units=activity_units):
        steps = np.arange(written, written + window)
        keep = (steps >= half) & (steps < walk_length)
        if chosen[0] is None and population:
            chosen = [choosers[0].see(batch.node[0], steps, out.memory_activity[0], out.memory_units[0])] * B
        written += window
        if not keep.any():
            continue
        mec = out.mec.float().cpu().numpy()[:, keep]  # (B, k, n_mec)
        for b in range(B):
            sums[b].add(batch.node[b][keep], mec[b], unit_activity(out.memory_activity[b], out.memory_units[b],
                                                                   chosen[b])[keep])
    return [walk.maps(c) for walk, c in zip(sums, chosen)]


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` torch intra-op threads (None or 0: leave torch's setting)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def record_walks(model, world: World, walk_length: int, *, seeds=(0,), n_objects: int = 45, n_hpc_units: int = 64,
                 window: int = 250, device="cpu", progress: bool = False, units: np.ndarray | None = None,
                 threads: int | None = None) -> list[RateMaps]:
    """:func:`record_rate_maps` (the same arguments) of one walk per seed of ``seeds``; each walk
    takes the walk, and chooses the units, it takes alone (for a fixed population of neurons the later
    walks map the neurons the first chose). The walks run in step, as one batch: on two Python
    threads they would take turns at the GIL (the per-step work of the loop closure, the sampler),
    and one batch was as fast or faster (the quick run's two walks 2.0 against 2.1-2.4 s).
    ``threads``: torch threads (None: one per walk, at most one per CPU; 0: torch's setting)."""
    seeds = tuple(seeds)
    if torch.device(device).type != "cpu":
        threads = 0
    with torch_threads(min(len(seeds), os.cpu_count() or 1) if threads is None else threads):
        return _record(model, world, walk_length, seeds, n_objects=n_objects, n_hpc_units=n_hpc_units, window=window,
                       device=device, progress=progress, units=units)


def unit_activity(activity: torch.Tensor, column_units: torch.Tensor, units: np.ndarray) -> np.ndarray:
    """``(T, len(units))`` activity of the chosen ``units`` from ``activity (T, n_columns)`` whose
    columns are the units ``column_units (n_columns,)`` (0 for a unit not among them)."""
    activity, column_units = activity.float().cpu().numpy(), column_units.cpu().numpy()
    match = column_units[None, :] == np.asarray(units)[:, None]  # (n_units, n_columns)
    found = match.any(axis=1)
    out = np.zeros((activity.shape[0], len(units)))
    out[:, found] = activity[:, match.argmax(axis=1)[found]]
    return out
