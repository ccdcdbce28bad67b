"""Hebbian (fast-weight) memory with attractor retrieval: the TEM hippocampus (Whittington et al. 2020).

TEM writes ``M_t = lambda M_{t-1} + eta (p_t + p^_t)^T (p_t - p^_t)`` (row-vector convention: entry
``M_ij`` connects unit ``i`` to unit ``j``; a read is ``h M``) and retrieves by iterating
``h <- f(kappa h + h M)``. ``M`` is a sum of outer products, so it is never formed here: the memory
keeps the vectors ``k_tau = p_tau + p^_tau`` (keys), ``v_tau = p_tau - p^_tau`` (values) and their
weights ``w_tau = eta_tau lambda^(t - 1 - tau)``, and reads with scalar products,
``h M = sum_tau w_tau (h . k_tau) v_tau``. With ``hierarchical=True`` only connections from a
module to itself and to earlier (higher-frequency) modules exist: ``M_ij = 0`` unless
``module(i) >= module(j)``, which the read applies per module.

The public port also clamps ``M`` to [-1, 1] after every write; a sum of vectors cannot express that
clamp, so this memory does not clamp (see :meth:`HebbianMemory.dense`, which can apply it, and
the TEM docs for when it is inactive).

Layout: vectors of ``n_units`` cells live in a padded, module-major layout of ``width = F * S``
entries (``F`` modules, ``S`` = the largest module): cell ``u`` of module ``f`` is entry ``f * S + u``,
entries beyond a module's size are 0 (:meth:`HebbianMemory.pad`, :meth:`HebbianMemory.unpad`).
A read is the attractor of :mod:`tem.memory.attractor` over the stored pairs in a read layout:
the whole width at once for a fully connected memory, per module (module-major) for a
hierarchical one. During a window, TEM reads and writes a :class:`HebbianWindow`: the carried pairs
and the window's pairs in one preallocated buffer, so a step's read copies nothing.

State (carried between windows, detached): ``keys, values (B, F, M, S)`` and ``strength (B, M)``,
the weight of each stored pair in the memory at the end of the last window (0 = forgotten/reset),
and ``dense (B, width, width)`` (``(B, 0, 0)`` until used): on long walks, once more than
``dense_after`` pairs are stored they are folded into this matrix (then clamped to [-1, 1] as in
the port), so a read costs at most one ``width x width`` product per slot whatever the walk length.
"""
from __future__ import annotations

import functools

import torch

from torch import nn

from tem.memory.base import MemoryState, oldest_in_use
from tem.tem.attractor import FlatAttractor, ModularAttractor, Part, read_without_grad

FORGOTTEN = 1e-12
"""Stored weights below this are set to 0 (they would decay into denormal floats)."""


@functools.lru_cache(maxsize=64)
def update_counts(iterations: tuple[int, ...]) -> tuple[int, ...]:
    """Modules' ``iterations`` (non-increasing) -> the number of modules each attractor iteration
    updates: ``(5, 4, 3, 2, 1)`` -> ``(5, 4, 3, 2, 1)``, ``(5, 5)`` -> ``(2, 2, 2, 2, 2)``."""
    return tuple(sum(count > i for count in iterations) for i in range(max(iterations, default=0)))


class HebbianMemory(nn.Module):
    """A walk's Hebbian memory stored as weighted (key, value) vectors, read with scalar products.

    Args:
        module_sizes: hippocampal cells per frequency module (high frequency first); ``n_units``
            is their sum.
        hierarchical: keep only connections from lower- (or equal-) to higher-frequency modules,
            as TEM's generative memory does; the inference memory is fully connected.
        cap: keep at most this many most recent memories per slot (0: the whole walk).
        dense_after: fold the carried vectors into a dense matrix when more than this many are
            stored (0: never).
    """

    def __init__(self, module_sizes: tuple[int, ...], hierarchical: bool = True, cap: int = 0, dense_after: int = 256):
        super().__init__()
        if cap < 0:
            raise ValueError(f"memory cap must be >= 0 (0 = unlimited), got {cap!r}")
        self.module_sizes, self.hierarchical, self.cap, self.dense_after = tuple(module_sizes), hierarchical, cap, dense_after
        self.n_units, self.n_modules, self.module_width = sum(module_sizes), len(module_sizes), max(module_sizes)
        self.width = self.n_modules * self.module_width
        real = torch.cat([torch.arange(size) + f * self.module_width for f, size in enumerate(module_sizes)])
        self.register_buffer("real_index", real, persistent=False)  # (n_units,) entries of the padded layout
        f = torch.arange(self.n_modules)
        from_to = (f[:, None] >= f[None, :]) if hierarchical else torch.ones(self.n_modules, self.n_modules, dtype=torch.bool)
        self.register_buffer("from_to", from_to.float(), persistent=False)  # (F_from, F_to)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., n_units)`` -> padded layout ``(..., width)``."""
        out = x.new_zeros(*x.shape[:-1], self.width)
        return out.index_copy(-1, self.real_index, x)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """Padded layout ``(..., width)`` -> ``(..., n_units)``."""
        return x[..., self.real_index]

    def initial_state(self, batch_size: int, device="cpu") -> MemoryState:
        empty = torch.zeros(batch_size, self.n_modules, 0, self.module_width, device=device)
        return {"keys": empty, "values": empty.clone(), "strength": torch.zeros(batch_size, 0, device=device),
                "dense": torch.zeros(batch_size, 0, 0, device=device)}

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        """Forget the memories of ``slots (B,)`` bool (and drop pairs no slot holds any more)."""
        return self._trim({**state, "strength": state["strength"] * ~slots[:, None],
                           "dense": state["dense"] * ~slots[:, None, None]})

    def _trim(self, state: MemoryState) -> MemoryState:
        """Drop the oldest stored pairs that no slot holds (and all but the ``cap`` most recent)."""
        first = oldest_in_use(state["strength"] != 0)
        if self.cap > 0:
            first = max(first, state["strength"].shape[1] - self.cap)
        if first == 0:
            return state
        return {**state, "keys": state["keys"][:, :, first:], "values": state["values"][:, :, first:],
                "strength": state["strength"][:, first:]}

    def to_modules(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(B, T, width)`` -> ``(B, F, T, S)``, the layout of stored keys and values."""
        B, T, _ = vectors.shape
        return vectors.view(B, T, self.n_modules, self.module_width).transpose(1, 2)

    def connection_mask(self) -> torch.Tensor:
        """``(width, width)`` 0/1 mask of the connections ``i -> j`` the memory may hold."""
        module = torch.arange(self.width, device=self.from_to.device) // self.module_width
        return self.from_to[module][:, module]

    # ---- reading ----
    def layout(self, vectors: torch.Tensor) -> torch.Tensor:
        """Stored vectors ``(B, F, M, S)`` -> the read layout ``(G, M, X)`` (:class:`Part`), a copy."""
        B, Fm, M, S = vectors.shape
        if self.hierarchical:
            return vectors.transpose(0, 1).reshape(Fm * B, M, S)
        return vectors.transpose(1, 2).reshape(B, M, Fm * S)

    def part(self, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> Part:
        """A readable :class:`Part` from ``keys, values (B, M, width)`` and ``weights (B, M)``."""
        return Part(self.layout(self.to_modules(keys)), self.layout(self.to_modules(values)), weights[:, None, :])

    def carried(self, state: MemoryState, scale: float = 1.0) -> Part:
        """The stored pairs of ``state`` as a :class:`Part`, weights ``strength * scale``."""
        weights = state["strength"] * scale
        weights = torch.where(weights < FORGOTTEN, 0.0, weights)
        return Part(self.layout(state["keys"]), self.layout(state["values"]), weights[:, None, :])

    def attractor(self, query: torch.Tensor, part: Part, kappa: float, iterations: tuple[int, ...],
                  dense: torch.Tensor | None = None, dense_scale: float = 1.0, sources: tuple = (),
                  n_fixed: int = 0) -> torch.Tensor:
        """Pattern completion ``h_0 = f(query)``, then ``h <- f(kappa h + h M)``, module ``f`` updating
        in its first ``iterations[f]`` iterations (non-increasing: low frequencies stop first).
        ``query (B, Q, width)`` -> ``(B, Q, width)``; ``part``: the stored pairs; ``dense (B, width,
        width)``: a folded part, read times ``dense_scale``.

        Gradients flow to the query and to the part's keys and values, or, with ``sources`` (the key
        rows, then the value rows, that rows ``n_fixed, ...`` of the part were copied from), to those.
        None reach the weights or ``dense``."""
        if (dense is not None and dense.requires_grad) or part.weights.requires_grad:
            raise ValueError("the attractor passes no gradient to the memory weights or the dense part")
        counts = update_counts(tuple(iterations))
        if not torch.is_grad_enabled():
            connectivity = self.from_to if self.hierarchical else self.module_width
            h = read_without_grad(self.hierarchical, query, connectivity, kappa, counts, dense, dense_scale, *part)
            if h is not None:
                return h
            sources = ()  # the sources serve only gradients; unpacking some 500 arguments costs a long
                          # window's read as much as its products
        if self.hierarchical:
            return ModularAttractor.apply(query, self.from_to, kappa, counts, dense, dense_scale, *part, n_fixed, *sources)
        return FlatAttractor.apply(query, self.module_width, kappa, counts, dense, dense_scale, *part, n_fixed, *sources)

    def window(self, state: MemoryState, steps: int, eta: float, lam: float) -> "HebbianWindow":
        """The :class:`HebbianWindow` that a window of ``steps`` steps reads and writes."""
        return HebbianWindow(self, state, steps, eta, lam)

    def append(self, state: MemoryState, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
               decay: float) -> MemoryState:
        """State after a window: stored strengths times ``decay`` (``lambda^T``), then the window's
        ``keys, values (B, T, width)`` with ``weights (T,)`` or ``(B, T)``; forgotten columns dropped."""
        return self.extend(state, self.to_modules(keys), self.to_modules(values), weights, decay)

    def extend(self, state: MemoryState, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
               decay: float) -> MemoryState:
        """:meth:`append` with ``keys, values`` in the state's layout ``(B, F, T, S)``."""
        B, _, T, _ = keys.shape
        strength = torch.cat([state["strength"] * decay, weights.expand(B, T)], dim=1)
        strength = torch.where(strength.abs() < FORGOTTEN, 0.0, strength)  # no denormals (slow on CPUs)
        keys = torch.cat([state["keys"], keys], dim=2)
        values = torch.cat([state["values"], values], dim=2)
        state = self._trim({"keys": keys, "values": values, "strength": strength, "dense": state["dense"] * decay})
        if self.dense_after and state["strength"].shape[1] > self.dense_after:
            state = self.fold(state)
        return state

    def fold(self, state: MemoryState) -> MemoryState:
        """Move every stored pair into the dense matrix (clamped to [-1, 1], as the port does)."""
        with torch.no_grad():
            dense = self.dense(state)
            if state["dense"].numel():
                dense = dense + state["dense"]
            empty = state["keys"][:, :, :0]
            return {"keys": empty, "values": empty.clone(), "strength": state["strength"][:, :0],
                    "dense": dense.clamp(-1, 1)}

    def dense(self, state: MemoryState, clamp: bool = False) -> torch.Tensor:
        """The matrix ``M (B, width, width)`` the stored vectors stand for (padded layout; for tests
        and analysis); ``clamp`` applies the port's [-1, 1] clamp to the result."""
        keys, values = (x.transpose(1, 2).flatten(2) for x in (state["keys"], state["values"]))  # (B, M, width)
        M = torch.einsum("bm,bmi,bmj->bij", state["strength"], keys, values) * self.connection_mask()
        if state["dense"].numel():
            M = M + state["dense"]
        return M.clamp(-1, 1) if clamp else M


class HebbianWindow:
    """A :class:`HebbianMemory` during one window of TEM's step loop: read, then write, once per step.

    It holds the carried pairs and, as they are written, the window's pairs in one buffer in the read
    layout (``(F, B, M, S)`` module-major for a hierarchical memory, ``(B, M, width)`` otherwise), and
    the weights of every step's read: at step ``t`` the carried pairs weigh ``strength lam^t`` and the
    window's pairs ``tau < t`` weigh ``eta lam^(t - 1 - tau)`` (``M_{t-1}`` of the dense formula;
    the folded part is read times ``lam^t``). The buffer is outside the autograd graph: gradients
    reach the written keys and values as the attractor's sources.
    """

    def __init__(self, memory: HebbianMemory, state: MemoryState, steps: int, eta: float, lam: float):
        self.memory, self.state, self.eta, self.lam = memory, state, eta, lam
        B, Fm, self.n_fixed, S = state["keys"].shape
        size = (Fm, B, self.n_fixed + steps, S) if memory.hierarchical else (B, self.n_fixed + steps, Fm * S)
        self.keys, self.values = state["keys"].new_empty(size), state["values"].new_empty(size)
        self._rows(self.keys, 0, self.n_fixed).copy_(state["keys"])
        self._rows(self.values, 0, self.n_fixed).copy_(state["values"])
        t = torch.arange(steps, dtype=state["strength"].dtype, device=state["strength"].device)
        carried = state["strength"] * lam ** t[:, None, None]  # (T, B, n_fixed)
        age = t[:, None] - 1 - t[None, :]  # (T, T): step t reads the pair of step tau < t
        own = torch.where(age >= 0, eta * lam ** age.clamp(min=0), 0.0).expand(B, -1, -1).transpose(0, 1)
        weights = torch.cat([carried, own], -1)  # (T, B, n_fixed + T)
        self.weights = torch.where(weights < FORGOTTEN, 0.0, weights)[:, :, None]  # (T, B, 1, n_fixed + T)
        self.key_rows, self.value_rows = [], []  # the written (B, width) pairs in the attractor's row shape
        # the buffers in the read layout (G, M, X), as views
        self.read_keys, self.read_values = (x.flatten(0, 1) if memory.hierarchical else x for x in (self.keys, self.values))

    def _rows(self, buffer: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of ``buffer`` as a ``(B, F, stop - start, S)`` view (the state's layout)."""
        if self.memory.hierarchical:
            return buffer[:, :, start:stop].transpose(0, 1)
        return buffer[:, start:stop].unflatten(-1, (self.memory.n_modules, -1)).transpose(1, 2)

    def _row(self, vector: torch.Tensor) -> torch.Tensor:
        """``(B, width)`` -> the attractor's row shape: ``(F, B, S)`` (hierarchical) or ``(B, width)``."""
        return vector.unflatten(-1, (self.memory.n_modules, -1)).transpose(0, 1) if self.memory.hierarchical else vector

    def read(self, query: torch.Tensor, kappa: float, iterations: tuple[int, ...]) -> torch.Tensor:
        """The attractor at the current step (the number of pairs written so far): ``query (B, Q,
        width)`` -> ``(B, Q, width)``."""
        t, m = len(self.key_rows), self.n_fixed + len(self.key_rows)
        keys, values = self.read_keys[:, :m], self.read_values[:, :m]
        dense = self.state["dense"] if self.state["dense"].numel() else None
        return self.memory.attractor(query, Part(keys, values, self.weights[t, ..., :m]), kappa, iterations, dense,
                                     self.lam ** t, (*self.key_rows, *self.value_rows), self.n_fixed)

    def write(self, key: torch.Tensor, value: torch.Tensor) -> None:
        """Store the current step's pair ``key, value (B, width)`` (read from the next step on)."""
        slot = self.n_fixed + len(self.key_rows)
        for rows, buffer, vector in ((self.key_rows, self.keys, key), (self.value_rows, self.values, value)):
            self._rows(buffer, slot, slot + 1)[:, :, 0].copy_(vector.detach().unflatten(-1, (self.memory.n_modules, -1)))
            rows.append(self._row(vector) if torch.is_grad_enabled() else None)  # the rows serve only gradients

    def buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """For a kernel that runs the window's steps itself (``step_cpu.cpp``): the key and value
        buffers (``(F, B, M, S)`` or ``(B, M, width)``, the carried pairs in the first rows; written
        in place), every step's weights ``(T, B, 1, M)``, the dense part to read (empty if none) and
        the first row to read. Where a dense part is read anyway, or the carried pairs cost more to
        read than one, they are read as one matrix with it (their weights decay with the dense
        part's, ``lambda^t``): the first row is then the window's own."""
        dense, first = self.state["dense"], 0
        if self.n_fixed and (dense.numel() or 2 * self.n_fixed > self.memory.width):
            dense, first = self.memory.dense(self.state), self.n_fixed
        return self.keys, self.values, self.weights, dense, first

    def wrote(self, steps: int) -> None:
        """Count ``steps`` pairs written into the buffers by such a kernel (which passes their
        gradients itself)."""
        self.key_rows += [None] * steps
        self.value_rows += [None] * steps

    def final_state(self) -> MemoryState:
        """The memory state after the window (detached): the carried pairs decayed by ``lam^T``, then
        the window's with weights ``eta lam^(T - 1 - tau)``."""
        T = len(self.key_rows)
        weights = self.eta * self.lam ** torch.arange(T - 1, -1, -1, dtype=self.weights.dtype, device=self.weights.device)
        return self.memory.extend(self.state, self._rows(self.keys, self.n_fixed, self.n_fixed + T),
                                  self._rows(self.values, self.n_fixed, self.n_fixed + T), weights, self.lam ** T)
