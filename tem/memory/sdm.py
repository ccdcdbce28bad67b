"""Sparse distributed memory (Kanerva 1988): a fixed population of hippocampal neurons.

The neuron perspective of Bricken & Pehlevan (2021): ``m`` neurons sit at fixed random addresses
in key space. Writing ``(k, v)`` adds ``a_n(k) v`` to the storage ``C_n`` of every neuron ``n`` that
``k`` activates; reading with ``q`` sums the activated neurons' storage and normalises by the
activation-weighted number of writes they hold::

    read_t = sum_n a_n(q_t) C_n / sum_n a_n(q_t) N_n,   C_n = sum_{tau < t} a_n(k_tau) v_tau,
                                                       N_n = sum_{tau < t} a_n(k_tau).

In the pattern perspective this is attention with the kernel ``w(q, k) = sum_n a_n(q) a_n(k)``
(the "circle intersection"); ``analysis.sdm`` shows that kernel is close to ``exp(beta q.k)``.
Unlike attention the state has a fixed size, ``(B, m, value_dim)`` + ``(B, m)``, whatever the walk
length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from scipy.special import betainc
from torch import nn

from tem.memory.base import MemoryOutput, MemoryState, WindowMemory

ACTIVATIONS = ("topk", "threshold", "binary")
EPS = 1e-6


def expected_fraction_active(activation: str, key_dim: int, radius: float) -> float:
    """Fraction of uniformly random neuron addresses a random key activates.

    ``binary``: addresses within Hamming distance ``radius`` of the sign-binarised key,
    ``sum_{j <= d} C(n, j) / 2^n``; ``threshold``: the hyperspherical cap ``cos >= 1 - 2 d / n``,
    ``1/2 I_{1-c^2}((n-1)/2, 1/2)`` for ``c >= 0`` (one minus that for ``c < 0``).
    """
    n = key_dim
    if activation == "binary":
        return sum(math.comb(n, j) for j in range(int(radius) + 1)) / 2 ** n
    c = 1 - 2 * radius / n
    if n == 1:
        return 1.0 if c <= 1 else 0.0
    cap = 0.5 * float(betainc((n - 1) / 2, 0.5, 1 - c * c))
    return cap if c >= 0 else 1 - cap


@dataclass(frozen=True)
class SDMConfig:
    """Sparse distributed memory: a fixed population of neurons at random addresses in key space."""

    kind: ClassVar[str] = "sdm"
    neurons: int = 4096
    """number of neurons."""
    activation: str = "topk"
    """which neurons a key or query activates: topk | threshold | binary."""
    top_k: int = 16
    """neurons each key or query activates with activation topk."""
    radius: float = 12.0
    """Hamming radius d (binary; threshold: cosine >= 1 - 2 d / key_dim)."""
    beta: float = 16.0
    """initial beta of the active neurons' weights exp(beta (cos - 1)) (learned)."""
    learn_addresses: bool = False
    """train the neuron addresses (Kanerva's are fixed random)."""

    def __post_init__(self):
        if self.neurons < 1:
            raise ValueError(f"the SDM needs at least one neuron, got neurons={self.neurons}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown SDM activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if not self.beta > 0:
            raise ValueError(f"SDM beta must be > 0, got {self.beta!r}")


class SDMMemory(WindowMemory):
    """Sparse distributed memory with ``n_neurons`` fixed random addresses in key space.

    Activations ``a_n(x)`` (``x`` a query or key, compared by cosine with the unit addresses):

    - ``topk``: the ``top_k`` neurons with the largest cosine (always ``top_k`` neurons);
    - ``threshold``: neurons with ``cos >= 1 - 2 radius / key_dim`` (the continuous SDM of
      Bricken & Pehlevan: Hamming radius ``radius`` mapped to cosine); a query that activates no
      neuron reads zeros, as an empty memory does;
    - ``binary``: Kanerva's SDM on sign-binarised keys and ``+-1`` addresses: neurons within Hamming
      distance ``radius`` (at most ``key_dim``).

    With ``learn_addresses`` the addresses are parameters (Kanerva's are fixed): the gradient reaches
    them through the cosines of the active neurons, as it reaches the keys.

    Weights, and how gradients reach the keys and queries: an active neuron's weight is
    ``exp(beta (cos - 1))`` (in ``(0, 1]``; ``beta`` learned, initialised to ``beta``), zero when
    inactive, so gradients flow through the cosine of every active neuron (the selection itself is
    piecewise constant). For ``binary`` the forward weight is exactly the 0/1 indicator and the
    backward pass uses the gradient of ``exp(beta (cos - 1))`` of the active neurons
    (straight-through), ``cos`` being the cosine between the real-valued key and the ``+-1``
    address.

    Causality within a window: the read at step ``t`` uses the state before the window plus the
    writes of steps ``< t`` of the window, ``a(q) @ C_prev + strict_tril(a(q) a(k)^T) @ v`` (no
    loop over steps). State: ``contents (B, m, value_dim)`` and ``counts (B, m)``; ``reset`` zeroes
    the slots of new walks. ``n_units = m``: the neurons are the hippocampal units of rate maps,
    and the activity is ``a(q_t)``, ``(B, T, m)``.

    The addresses are drawn from ``generator`` (default: torch's global generator, which a
    training run seeds with its seed before building the model).
    """

    units = "neuron"

    def __init__(self, key_dim: int, value_dim: int, n_neurons: int = 4096, activation: str = "topk",
                 top_k: int = 16, radius: float = 12.0, beta: float = 16.0,
                 learn_addresses: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        if key_dim < 1 or value_dim < 1:
            raise ValueError(f"key_dim and value_dim must be >= 1, got {key_dim}, {value_dim}")
        if n_neurons < 1:
            raise ValueError(f"the SDM needs at least one neuron, got n_neurons={n_neurons}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown SDM activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if beta <= 0:
            raise ValueError(f"SDM beta must be > 0, got {beta!r}")
        if learn_addresses and activation == "binary":
            raise ValueError("binary SDM addresses are +-1 vectors and cannot be learned; use topk or threshold")
        if activation == "topk" and not 1 <= top_k <= n_neurons:
            raise ValueError(f"SDM top_k must be in [1, n_neurons={n_neurons}], got {top_k}")
        if activation != "topk":
            if not 0 <= radius <= key_dim:
                raise ValueError(f"SDM radius must be in [0, key_dim={key_dim}] (Hamming distance), got {radius}")
            expected = n_neurons * expected_fraction_active(activation, key_dim, radius)
            if expected < 1:
                raise ValueError(f"SDM radius {radius} activates on average {expected:.3g} of {n_neurons} neurons "
                                 f"per random query in {key_dim} dimensions, so reads would be empty; "
                                 "increase the radius or the number of neurons, or use activation 'topk'")
        self.key_dim, self.value_dim, self.n_units = key_dim, value_dim, n_neurons
        self.activation, self.top_k, self.radius = activation, top_k, radius
        addresses = torch.randn(n_neurons, key_dim, generator=generator)
        if activation == "binary":
            addresses = addresses.sign()
        addresses = F.normalize(addresses, dim=-1)  # (m, key_dim), unit rows
        if learn_addresses:  # trained through the cosines of active neurons, renormalised at every use
            self.addresses = nn.Parameter(addresses)
        else:
            self.register_buffer("addresses", addresses)
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))

    def unit_addresses(self) -> torch.Tensor:
        """``(m, key_dim)`` the neurons' addresses with unit norm."""
        return F.normalize(self.addresses, dim=-1) if isinstance(self.addresses, nn.Parameter) else self.addresses

    def initial_state(self, batch_size: int, device="cpu") -> MemoryState:
        return {"contents": torch.zeros(batch_size, self.n_units, self.value_dim, device=device),
                "counts": torch.zeros(batch_size, self.n_units, device=device)}

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        keep = (~slots).to(state["counts"].dtype)  # (B,)
        return {"contents": state["contents"] * keep[:, None, None], "counts": state["counts"] * keep[:, None]}

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, m)`` neuron activations of queries or keys ``x`` ``(B, T, key_dim)`` (dense)."""
        if self.activation == "topk":
            return self._scatter(*self.select(x))
        cos = F.normalize(x, dim=-1) @ self.unit_addresses().T  # (B, T, m)
        weight = torch.exp(self.log_beta.exp() * (cos - 1))
        if self.activation == "threshold":
            return weight * (cos >= 1 - 2 * self.radius / self.key_dim)
        agree = x.sign() @ (self.addresses.T * math.sqrt(self.key_dim))  # n - 2 * Hamming distance
        active = (self.key_dim - agree) / 2 <= self.radius + 1e-4
        return active * (1 + weight - weight.detach())  # forward 0/1, backward through the weight

    def select(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k activation as ``index (B, T, k)`` of the active neurons and their ``weight (B, T, k)``.

        The selection runs without gradient; the weights are recomputed from the selected addresses
        only, so the backward pass costs O(k), not O(m), per step.
        """
        unit, addresses = F.normalize(x, dim=-1), self.unit_addresses()
        with torch.no_grad():
            index = (unit @ addresses.T).topk(self.top_k, dim=-1).indices  # (B, T, k)
        cos = (unit[..., None, :] * addresses[index]).sum(-1)  # (B, T, k)
        return index, torch.exp(self.log_beta.exp() * (cos - 1))

    def _scatter(self, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Dense ``(B, T, m)`` activations from the top-k ``index`` and ``weight`` ``(B, T, k)``."""
        dense = torch.zeros(*index.shape[:-1], self.n_units, device=weight.device, dtype=weight.dtype)
        return dense.scatter(-1, index, weight)

    def forward(self, query, key, value, state, return_activity=False, query_is_key=None, *, read=True,
                activity_units=None) -> MemoryOutput:  # always reads, and returns every neuron's column
        if self.activation == "topk":
            if query_is_key is None:  # not said: the same tensor, or equal values (a wait for the device)
                query_is_key = key is query or torch.equal(key, query)
            return self._forward_topk(query, key, value, state, return_activity, query_is_key)
        return self.dense_forward(self.activate(query), self.activate(key), value, state, return_activity)

    @staticmethod
    def dense_forward(a_query, a_key, value, state, return_activity=False) -> MemoryOutput:
        """Read and write a window from dense activations ``a_query``, ``a_key`` ``(B, T, m)``."""
        T = a_query.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=a_query.device).tril(-1)  # strictly earlier steps
        overlap = (a_query @ a_key.transpose(1, 2)) * causal  # (B, T, T): w(q_t, k_tau), tau < t
        numerator = a_query @ state["contents"] + overlap @ value  # (B, T, value_dim)
        denominator = (a_query @ state["counts"][..., None])[..., 0] + overlap.sum(-1)  # (B, T)
        new_state = {"contents": state["contents"] + a_key.transpose(1, 2) @ value,
                     "counts": state["counts"] + a_key.sum(1)}
        units = torch.arange(a_query.shape[-1], device=a_query.device).expand(a_query.shape[0], -1)
        return MemoryOutput(read=numerator / (denominator[..., None] + EPS),
                            activity=a_query if return_activity else None,
                            units=units if return_activity else None, state=new_state)

    def _forward_topk(self, query, key, value, state, return_activity, query_is_key=False) -> MemoryOutput:
        """The same computation with the ``k`` active neurons gathered instead of dense ``(B, T, m)``
        products. When queries are keys (``query_is_key``: TEM-t ties them) the selection is done once."""
        B, T, D = value.shape
        iq, wq = self.select(query)  # (B, T, k)
        ik, wk = (iq, wq) if query_is_key else self.select(key)
        k = iq.shape[-1]
        flat_q, flat_k = iq.reshape(B, T * k), ik.reshape(B, T * k)
        stored = state["contents"].gather(1, flat_q[..., None].expand(-1, -1, D)).view(B, T, k, D)
        numerator = torch.einsum("btk,btkd->btd", wq, stored)
        denominator = (wq * state["counts"].gather(1, flat_q).view(B, T, k)).sum(-1)  # (B, T)
        a_key = self._scatter(ik, wk)  # (B, T, m)
        shared = a_key.transpose(1, 2).gather(1, flat_q[..., None].expand(-1, -1, T)).view(B, T, k, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=value.device).tril(-1)  # strictly earlier steps
        overlap = torch.einsum("btk,btks->bts", wq, shared) * causal  # (B, T, T): w(q_t, k_tau), tau < t
        numerator = numerator + overlap @ value
        denominator = denominator + overlap.sum(-1)
        written = (wk[..., None] * value[:, :, None, :]).reshape(B, T * k, D)
        new_state = {"contents": state["contents"].scatter_add(1, flat_k[..., None].expand(-1, -1, D), written),
                     "counts": state["counts"].scatter_add(1, flat_k, wk.reshape(B, T * k))}
        units = torch.arange(self.n_units, device=value.device).expand(B, -1) if return_activity else None
        return MemoryOutput(read=numerator / (denominator[..., None] + EPS),
                            activity=self._scatter(iq, wq) if return_activity else None, units=units, state=new_state)
