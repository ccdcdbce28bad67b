"""TEM's window as one call of the fused CPU kernel (``step_cpu.cpp``), with its backward pass.

:meth:`tem.tem.model.TEM.forward` runs a window's steps in PyTorch (some hundred small operations a
step, and as many backward) or, on CPUs where the kernels built, as one call: :func:`run_window`.
Where gradients are needed, :class:`FusedWindow` keeps what the kernel's backward pass needs, and that
pass runs each slot's steps in reverse, with the gradients of the pairs a step writes collected from
the later steps' reads. Both compute what the PyTorch steps compute (tests compare them in float64).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

class WindowSpec(NamedTuple):
    """A window's arguments to the kernel besides ``g0``, ``x`` and the weights.

    ``action, first, obs (B, T)``: each step's block of ``D`` (``n_actions`` for none), walk starts and
    object ids; ``inf = [keys, values, weights, dense]`` and ``gen = [keys, values, weights, dense,
    from_to]`` as :meth:`tem.tem.hebbian.HebbianWindow.buffers` gives them; ``ints = [n_x_c, n_p0,
    inf_first, gen_first, n_fixed]``; ``reals = [w_x, offset, g_min, kappa, lam]``."""

    action: torch.Tensor
    first: torch.Tensor
    obs: torch.Tensor
    inf: list
    gen: list
    ints: list
    inf_counts: list
    gen_counts: list
    reals: list
    predict: bool

    def args(self, g0: torch.Tensor, x: torch.Tensor, weights) -> tuple:
        return (g0, self.action, self.first, self.obs, x, list(weights), self.inf, self.gen, self.ints,
                self.inf_counts, self.gen_counts, self.reals, self.predict)


def run_window(kernel, spec: WindowSpec, g0: torch.Tensor, x: torch.Tensor, weights: list) -> tuple:
    """``g_path, g_inf (B, T, G), p_inf, p_x (B, T, width), p_gen (B, T, Q, width)`` of the window,
    writing each step's pairs into the memories' buffers; differentiable where grad is enabled. The
    kernel computes in ``g0``'s dtype (the memories'): inputs that autocast made narrower are cast back."""
    dtype = g0.dtype
    x = x.to(dtype)
    weights = [w.to(dtype) if w.is_floating_point() and w.dtype != dtype else w for w in weights]
    if torch.is_grad_enabled():
        return FusedWindow.apply(kernel, spec, g0, x, *weights)
    return tuple(kernel.window_forward(*spec.args(g0, x, weights), False))


class FusedWindow(torch.autograd.Function):
    """:func:`run_window` with gradients for ``g0``, ``x`` and the weights the steps differentiate (not
    the decoder and ``b_x``, which serve only the prediction error, nor the index maps and spans)."""

    @staticmethod
    def forward(ctx, kernel, spec: WindowSpec, g0, x, *weights):
        g_path, g_inf, p_inf, p_x, p_gen, *records = kernel.window_forward(*spec.args(g0, x, weights), True)
        ctx.kernel, ctx.spec, ctx.n_weights = kernel, spec, len(weights)
        ctx.save_for_backward(g0, x, *weights, g_path, g_inf, *records)
        return g_path, g_inf, p_inf, p_x, p_gen

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        g0, x, *rest = ctx.saved_tensors
        weights, (g_path, g_inf, *records) = rest[: ctx.n_weights], rest[ctx.n_weights:]
        d_g0, d_x, *d_weights = ctx.kernel.window_backward(list(grads), *ctx.spec.args(g0, x, weights),
                                                           [g_path, g_inf], records)  # None where none passes
        return None, None, d_g0, d_x, *d_weights
