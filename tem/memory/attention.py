"""Causal softmax attention (modern Hopfield) memory: the TEM-t hippocampus."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tem.memory.base import MemoryOutput, MemoryState, WindowMemory, oldest_in_use


@dataclass(frozen=True)
class AttentionConfig:
    """Attention (modern Hopfield) memory: every step of the walk is one memory."""

    kind: ClassVar[str] = "attention"
    beta: float = 1.0
    """initial inverse temperature of the memory read (learned)."""
    log_scale: bool = True
    """scale beta by log(1 + number of memories)."""
    cap: int = 0
    """keep at most this many recent memories (0: the whole walk), in a buffer of fixed shape."""

    def __post_init__(self):
        if not self.beta > 0:
            raise ValueError(f"attention beta must be > 0, got {self.beta!r}")
        if self.cap < 0:
            raise ValueError(f"memory cap must be >= 0 (0 = unlimited), got {self.cap!r}")


class AttentionMemory(WindowMemory):
    """Every step of the walk is one memory ``(key, value)``; a read is a softmax over them.

    ``read_t = sum_{tau < t} softmax_tau(beta_t q_t . k_tau) v_tau``, over the memories of the same
    walk (at most ``cap`` most recent ones when ``cap > 0``). ``beta`` is learned; with
    ``log_scale`` it is multiplied by ``log(1 + n)``, ``n`` the number of memories visible at step
    ``t``. Memory neurons: the attention weights, one unit per stored memory.

    State: ``keys (B, M, key_dim)``, ``values (B, M, value_dim)``, ``valid (B, M)`` bool and
    ``written (B,)`` int64, the number of steps of the current walk written so far. With ``cap > 0``
    the state is a buffer of fixed shape, ``M = cap`` from the first window on (columns not yet
    written are invalid): no shape changes from window to window and nothing waits for the device,
    as CUDA graphs need. Without a cap, ``M`` grows with the walk and old columns that no slot can
    read are trimmed (one host synchronisation per window). Columns are
    aligned in time across the batch (every slot writes once per step), so a window's attention is
    one batched, causally masked product, and column ``j`` of a window's activity is the memory
    written at walk step ``written + j - M`` (``written`` as it was before the window). On the CPU a
    training window instead reads the slots in groups by span (:meth:`_grouped`): each group scores
    only the stored columns its slots hold.
    """

    units = "step"

    def __init__(self, key_dim: int, value_dim: int, beta: float = 1.0, log_scale: bool = True, cap: int = 0):
        super().__init__()
        AttentionConfig(beta, log_scale, cap)  # checks the values
        self.key_dim, self.value_dim, self.log_scale, self.cap = key_dim, value_dim, log_scale, cap
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))

    def initial_state(self, batch_size: int, device="cpu") -> MemoryState:
        M = self.cap  # a fixed buffer of cap columns, or an empty memory that grows
        return {"keys": torch.zeros(batch_size, M, self.key_dim, device=device),
                "values": torch.zeros(batch_size, M, self.value_dim, device=device),
                "valid": torch.zeros(batch_size, M, dtype=torch.bool, device=device),
                "written": torch.zeros(batch_size, dtype=torch.long, device=device)}

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        return {**state, "valid": state["valid"] & ~slots[:, None], "written": state["written"] * ~slots}

    def mask(self, state: MemoryState, T: int, *, dense: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Which memories each step of a window may read, as a boolean mask (no float bias).

        Returns ``visible``, bool, True where step ``t`` may read column ``j``, broadcastable to
        ``(B, 1, T, M + T)``: ``(1, 1, T, T)`` when nothing is stored (``M == 0``: only the causal band
        matters), else the stored columns' validity ``(B, 1, 1, M + T)`` combined with the causal (and
        ``cap``) band ``(1, 1, T, M + T)`` into ``(B, 1, T, M + T)``. Rows with nothing visible see
        column 0 (softmax needs one finite score; the caller zeroes their read). Also returns
        ``count (B, T, 1)`` float, the number of visible memories. Nothing here waits for the device.
        With ``dense=False`` only ``count`` is computed (``visible`` is None).

        ``scaled_dot_product_attention`` turns a boolean mask into an additive one of the same shape
        and of the query's dtype, so with stored memories a dense ``(B, 1, T, M + T)`` bias still
        exists inside it (what its memory-efficient kernel keeps for the backward pass).
        """
        B, M = state["valid"].shape
        device = state["valid"].device
        step = torch.arange(T, device=device)[:, None]  # (T, 1)
        low = (step - self.cap).clamp(min=-M) if self.cap > 0 else torch.full_like(step, -M)  # (T, 1) oldest readable
        band = self._band(M, T, device) if dense or M == 0 else None
        if M == 0:  # every column is a step of this window: the band alone, the same for every slot
            count = band.sum(-1, dtype=torch.float32).expand(B, T)  # (B, T)
            band[:, 0] |= ~band.any(-1)  # step 0 sees nothing yet
            return band[None, None], count[..., None]
        written = torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=device)], dim=1)  # (B, M + T)
        prefix = torch.cat([torch.zeros(B, 1, device=device), written.float().cumsum(1)], dim=1)  # (B, M + T + 1)
        count = prefix[:, M + step[:, 0]] - prefix[:, M + low[:, 0]]  # (B, T)
        if not dense:
            return None, count[..., None]
        visible = written[:, None, None, :] & band[None, None]  # (B, 1, T, M + T)
        visible[:, 0, :, 0] |= count == 0
        return visible, count[..., None]

    def _band(self, M: int, T: int, device) -> torch.Tensor:
        """``(T, M + T)`` bool, True where step ``t`` of the window may read column ``j`` by time alone
        (strictly earlier, and within ``cap``)."""
        column = torch.arange(M + T, device=device) - M  # (M + T,) time of each memory; window start = 0
        step = torch.arange(T, device=device)[:, None]  # (T, 1)
        band = column < step  # strictly earlier steps only
        if self.cap > 0:
            band &= column >= step - self.cap
        return band

    def _weights_in_place(self, scores: torch.Tensor, state: MemoryState) -> torch.Tensor:
        """The attention weights from ``scores (B, T, M + T)``, computed in ``scores``' own memory and
        masked block by block (no dense mask, no copy: ~2x faster on long walks); rows with nothing
        visible are 0. For analysis without gradients; the same values as the masked softmax."""
        scores = self._exp_in_place(scores, state)
        return scores.div_(scores.sum(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny))

    def _exp_in_place(self, scores: torch.Tensor, state: MemoryState, steps: slice = slice(None)) -> torch.Tensor:
        """The unnormalised weights ``exp(score - row max)`` of :meth:`_weights_in_place`, in ``scores``
        (the window's ``steps``: ``(B, len(steps), M + T)``); 0 where masked."""
        B, M = state["valid"].shape
        T = scores.shape[2] - M
        if not bool(state["valid"].all()):  # (one read of the device; a long walk's memories are all valid)
            scores[..., :M].masked_fill_(~state["valid"][:, None, :], float("-inf"))
        if self.cap > 0:
            scores.masked_fill_(~self._band(M, T, scores.device)[steps], float("-inf"))
        else:  # every stored column is earlier than the window: only the window's own block needs the band
            scores[..., M:].masked_fill_(~self._band(0, T, scores.device)[steps], float("-inf"))
        top = scores.amax(-1, keepdim=True)
        scores = scores.sub_(torch.where(torch.isfinite(top), top, 0.0))
        # The CPU's exp takes ~10x longer where its result is subnormal or 0 (-inf included), and a long
        # walk's scores are mostly far below the top: below a margin above that range (weights under
        # ~1e-37 of the largest) they are set to 0 without it.
        lowest = math.log(torch.finfo(scores.dtype).tiny) + 1.0
        return F.threshold_(scores.clamp_(min=lowest).exp_(), 1.01 * math.exp(lowest), 0.0)  # exp(lowest) -> 0

    def _units_only(self, query, keys, values, state, units) -> MemoryOutput:
        """No read, and the weights of only the memories written at walk steps ``units (B, N)`` (-1 or
        not stored: 0): the scores' normalisation is summed but nothing else is (no division of every
        weight, no product with the values); with ``N == 0`` nothing is computed at all. For analyses
        without gradients; the same values as the full weights' columns."""
        B, T = query.shape[:2]
        new_state = self._append(state, keys, values, T)
        if units.shape[1] == 0:
            return MemoryOutput(read=None, activity=query.new_zeros(B, T, 0), units=units, state=new_state)
        _, count = self.mask(state, T, dense=False)
        query = self.log_beta.exp() * (torch.log1p(count) if self.log_scale else 1.0) * query
        M = state["valid"].shape[1]
        column = (units - state["written"][:, None] + M).clamp(0, M + T - 1)  # (B, N): column j holds step
        # written - M + j (or none)
        found = (self.column_steps(state, T).gather(1, column) == units) & (units >= 0)  # stored, not forgotten
        activity = query.new_empty(B, T, units.shape[1])
        # a block of steps at a time, so that its scores (B, rows, M + T) stay in the cache for the passes
        # over them (exp, sums, picks): a long walk's whole window of scores is tens of MB
        rows = max(1, UNITS_BLOCK // (B * (M + T)))
        for start in range(0, T, rows):
            steps = slice(start, start + rows)
            weights = self._exp_in_place(torch.bmm(query[:, steps], keys.transpose(1, 2)), state, steps)
            total = weights.sum(-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
            picked = weights.gather(2, column[:, None, :].expand(-1, weights.shape[1], -1)) * found[:, None, :]
            torch.div(picked, total, out=activity[:, steps])
        return MemoryOutput(read=None, activity=activity, units=units, state=new_state)

    def forward(self, query, key, value, state, return_activity=False, query_is_key=None, *, read=True,
                activity_units=None) -> MemoryOutput:
        T = query.shape[1]
        keys = torch.cat([state["keys"], key], dim=1)  # (B, M + T, key_dim)
        values = torch.cat([state["values"], value], dim=1)  # (B, M + T, value_dim)
        if not read and return_activity and activity_units is not None and not torch.is_grad_enabled():
            return self._units_only(query, keys, values, state, activity_units)
        in_place = return_activity and not torch.is_grad_enabled()  # analysis: weights without a dense mask
        # on the CPU, training's read takes the slots in groups (the mask is then a band, not dense); without
        # gradients (evaluation's long walks, whose slots all start together) the fused kernel is faster, and
        # a compiled model keeps it too (the groups' shapes are read from the device: a graph break)
        grouped = (not return_activity and query.device.type == "cpu" and torch.is_grad_enabled()
                   and not _compiling())
        spans = self._spans(state) if grouped else None  # (spans, n_valid)
        visible, count = self.mask(state, T, dense=not in_place and spans is None)
        beta = self.log_beta.exp()
        if self.log_scale:
            beta = beta * torch.log1p(count)  # (B, T, 1)
        any_visible = count > 0  # a step with no memory yet reads zeros
        weights = None
        if in_place:
            weights = self._weights_in_place(torch.bmm(beta * query, keys.transpose(1, 2)), state)
            read = torch.bmm(weights, values)  # (B, T, value_dim)
        elif spans is not None:  # slots grouped by how far back they can read
            read = self._grouped(beta * query, key, value, state, *spans) * any_visible
        elif return_activity or _math_only(query, values):  # explicit weights: for analysis, or as SDPA would
            weights, read = self._explicit(beta * query, key, value, state, visible, any_visible)
        else:  # fused kernel
            read = F.scaled_dot_product_attention((beta * query)[:, None], keys[:, None], values[:, None],
                                                  attn_mask=visible, scale=1.0)[:, 0] * any_visible
        units = self.column_steps(state, T) if return_activity else None
        return MemoryOutput(read=read, activity=weights if return_activity else None, units=units,
                            state=self._append(state, keys, values, T))

    @staticmethod
    def _spans(state: MemoryState) -> tuple[list[int], list[int]]:
        """For each slot, how many of the last stored columns hold its memories (from its first valid
        column on; 0 if none) and how many of them are valid: ``(spans, n_valid)``. A slot's valid
        columns are normally the last ``span`` (its walk so far). One read of the device (on the CPU,
        where this is used, it costs nothing)."""
        valid = state["valid"]
        B, M = valid.shape
        if M == 0:  # nothing stored: every slot reads the window alone
            return [0] * B, [0] * B
        first = torch.where(valid.any(1), valid.int().argmax(1), M)  # first valid column (M if none)
        first, n_valid = torch.stack([first, valid.sum(1)]).tolist()
        return [M - f for f in first], n_valid

    @staticmethod
    def _groups(spans: list[int]) -> list[list[int]]:
        """Slots in groups to read together, by span: one group per span, or where the spans take more
        than ``MAX_GROUPS`` values, the slots with nothing stored and ``MAX_GROUPS - 1`` groups of
        about equal size of the others in order of span."""
        order = sorted(range(len(spans)), key=spans.__getitem__)  # (stable)
        if len(set(spans)) <= MAX_GROUPS:
            groups: dict[int, list[int]] = {}
            for slot in order:
                groups.setdefault(spans[slot], []).append(slot)
            return list(groups.values())
        empty = [slot for slot in order if spans[slot] == 0]
        rest = order[len(empty):]
        size = -(-len(rest) // (MAX_GROUPS - 1))
        return ([empty] if empty else []) + [rest[i:i + size] for i in range(0, len(rest), size)]

    def _grouped(self, query, key, value, state, spans: list[int], n_valid: list[int]) -> torch.Tensor:
        """The read ``(B, T, value_dim)`` of scaled ``query (B, T, key_dim)``, slots in groups of about
        the same span (:meth:`_groups`): each group scores only the last stored columns that hold its
        slots' memories, so a group of one span needs no mask but the causal band, ``(T, span + T)``
        for every slot (with several spans, the shorter ones' invalid columns are masked too). A
        training batch's walks start at different windows, so one product over all slots would spend
        most of its time on columns a slot cannot read. The stored memories' products are apart from
        the window's (as in :meth:`_explicit`: no gradient is computed for them). Rows that see
        nothing read garbage (the caller zeroes them)."""
        B, T = query.shape[:2]
        M = state["keys"].shape[1]
        groups = self._groups(spans)
        order = [slot for group in groups for slot in group]
        permuted = order != list(range(B))
        order_t = torch.tensor(order, device=query.device)
        if permuted:  # (index_select: its backward adds rows, ~4x faster than advanced indexing's index_put)
            query, key, value = (x.index_select(0, order_t) for x in (query, key, value))
        sizes = [len(group) for group in groups]
        reads, start = [], 0
        for group, q, k, v in zip(groups, *(x.split(sizes) for x in (query, key, value))):
            span = max(spans[slot] for slot in group)
            hidden = ~self._band(span, T, query.device)  # (T, span + T)
            hidden[:, 0] &= ~hidden.all(-1)  # softmax needs one finite score per row
            scores = torch.bmm(q, k.transpose(1, 2))  # (n, T, T)
            if self.cap == 0:  # every stored column is visible: only the window's own block is masked
                scores, hidden = scores.masked_fill_(hidden[:, span:], float("-inf")), None
            if span:
                slots = order_t[start:start + len(group)]
                stored_keys, stored_values = (state[name][:, M - span:].index_select(0, slots)
                                              for name in ("keys", "values"))  # (n, span, dim)
                stored_scores = torch.bmm(q, stored_keys.transpose(1, 2))  # (n, T, span)
                if any(n_valid[slot] < span for slot in group):  # columns some slots do not hold
                    invalid = ~state["valid"][:, M - span:].index_select(0, slots)  # (n, span)
                    stored_scores = stored_scores.masked_fill_(invalid[:, None, :], float("-inf"))
                scores = torch.cat([stored_scores, scores], dim=-1)
            if hidden is not None:
                scores = scores.masked_fill_(hidden, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            if span:
                stored, window = weights.split([span, T], dim=-1)
                reads.append(torch.baddbmm(torch.bmm(window, v), stored, stored_values))
            else:
                reads.append(torch.bmm(weights, v))
            start += len(group)
        read = torch.cat(reads)
        if not permuted:
            return read
        return read.index_select(0, order_t.argsort())  # back in the slots' order

    @staticmethod
    def _explicit(query, key, value, state, visible, any_visible) -> tuple[torch.Tensor, torch.Tensor]:
        """The masked softmax weights ``(B, T, M + T)`` and the read ``(B, T, value_dim)`` of scaled
        ``query (B, T, key_dim)``, the stored memories' products apart from the window's: the state is
        detached between training windows, so the backward pass then computes no gradient for the
        stored keys and values (~25% faster than one product over both)."""
        M = state["keys"].shape[1]
        scores = torch.cat([torch.bmm(query, state["keys"].transpose(1, 2)), torch.bmm(query, key.transpose(1, 2))], -1)
        weights = torch.softmax(scores.masked_fill_(~visible[:, 0], float("-inf")), dim=-1) * any_visible
        stored, window = weights.split([M, weights.shape[-1] - M], dim=-1)
        return weights, torch.baddbmm(torch.bmm(window, value), stored, state["values"])

    @staticmethod
    def column_steps(state: MemoryState, T: int) -> torch.Tensor:
        """``(B, M + T)`` int64: the walk step that wrote each column of a window (-1: none)."""
        B, M = state["valid"].shape
        steps = state["written"][:, None] + torch.arange(-M, T, device=state["written"].device)  # (B, M + T)
        valid = torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=steps.device)], dim=1)
        return torch.where(valid & (steps >= 0), steps, -1)

    def _append(self, state, keys, values, T) -> MemoryState:
        """Keep the window's memories; drop old columns no slot can read any more.

        With a cap, the last ``cap`` columns are kept (a fixed shape). Without one, the kept length
        depends on the data (which slots were reset), so this waits for the device once per window
        (:func:`oldest_in_use`); it is the memory's only host synchronisation.
        """
        B = keys.shape[0]
        valid = torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=keys.device)], dim=1)
        first = max(valid.shape[1] - self.cap, 0) if self.cap > 0 else oldest_in_use(valid)
        return {"keys": keys[:, first:], "values": values[:, first:], "valid": valid[:, first:],
                "written": state["written"] + T}


_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # (torch >= 2.3)

MAX_GROUPS = 8
"""At most this many groups of slots in :meth:`AttentionMemory._grouped` (a few products each)."""

UNITS_BLOCK = 1 << 23
"""Scores (floats) per block of steps of :meth:`AttentionMemory._units_only` (32 MB in float32: blocks of
a long walk's window, whose scores are allocated and passed over a block at a time, not all at once)."""


def _math_only(query: torch.Tensor, values: torch.Tensor) -> bool:
    """Whether ``scaled_dot_product_attention`` would take its unfused (math) kernel: on the CPU when
    keys and values differ in size (its flash kernel needs one head size). That kernel scales the
    transposed keys even when the scale is 1; the explicit product is ~15% faster (the same values)."""
    return query.device.type == "cpu" and query.shape[-1] != values.shape[-1]
