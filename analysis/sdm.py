"""Sparse distributed memory ≈ attention (Kanerva 1988; Bricken & Pehlevan, NeurIPS 2021).

An SDM read weights each stored pattern by the number of neurons inside both the query's and the
pattern's Hamming ball of radius ``d`` (the "circle intersection"). That count decays roughly
exponentially with the distance between the two centres, so the normalised weights are close to a
softmax ``exp(beta cos) / sum exp(beta cos)`` whose ``beta`` is fitted by log-linear regression.

- :func:`circle_intersection`: exact ``|O_d(x) ∩ O_d(p)|`` in ``{0,1}^n``;
- :func:`cap_fraction`, :func:`cap_intersection_fraction`: the continuous version on the unit
  sphere (fraction of the sphere inside one or two caps ``cos >= c``);
- :func:`hamming_to_cosine`, :func:`cosine_to_hamming`: ``cos = 1 - 2 d_v / n``;
- :func:`fit_beta`: the softmax beta, with the paper's estimator and plain least squares;
- :func:`optimal_radius`: Kanerva's signal-to-noise and memory-capacity optimal radii;
- :func:`plot_intersection_vs_softmax`: the talk's figure; :func:`sdm_report`: the CLI.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import betainc
from scipy.stats import norm


def _check(n: int, d: int | None = None) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the dimension n must be an integer >= 1, got {n!r}")
    if d is not None and not 0 <= d <= n:
        raise ValueError(f"the Hamming radius d must be in [0, n={n}], got {d!r}")


def _comb(n: int, k: int) -> int:
    return math.comb(n, k) if 0 <= k <= n else 0


def hamming_to_cosine(distance, n: int):
    """Cosine similarity of two ``+-1`` vectors of ``n`` bits at Hamming ``distance``: ``1 - 2 d / n``."""
    _check(n)
    return 1 - 2 * np.asarray(distance, dtype=float) / n


def cosine_to_hamming(cosine, n: int):
    """Inverse of :func:`hamming_to_cosine`: ``n (1 - cos) / 2`` (real-valued)."""
    _check(n)
    return n * (1 - np.asarray(cosine, dtype=float)) / 2


def circle_intersection(n: int, d: int, distance: int) -> int:
    """Exact number of points of ``{0,1}^n`` within Hamming distance ``d`` of two points that are
    ``distance`` apart (an exact Python integer)::

        sum_{a = n-d-floor(d_v/2)}^{n-d_v}  sum_{b = max(0, n-d-a)}^{d_v-(n-d-a)}  C(n-d_v, a) C(d_v, b)

    ``a`` counts the coordinates where both centres agree and the point agrees too, ``b`` the
    disagreeing coordinates where the point sides with the first centre. Zero beyond ``2d``.
    """
    _check(n, d)
    if not 0 <= distance <= n:
        raise ValueError(f"the distance must be in [0, n={n}], got {distance!r}")
    total = 0
    for a in range(max(0, n - d - distance // 2), n - distance + 1):
        low = max(0, n - d - a)
        for b in range(low, distance - (n - d - a) + 1):
            total += _comb(n - distance, a) * _comb(distance, b)
    return total


def ball_size(n: int, d: int) -> int:
    """Points of ``{0,1}^n`` within Hamming distance ``d`` of a point: ``sum_{j <= d} C(n, j)``."""
    _check(n, d)
    return sum(math.comb(n, j) for j in range(d + 1))


def cap_fraction(n: int, threshold: float) -> float:
    """Fraction of the unit sphere ``S^{n-1}`` with ``u . x >= threshold`` (a hyperspherical cap).

    ``1/2 I_{1-c^2}((n-1)/2, 1/2)`` for ``c >= 0`` (regularized incomplete beta), one minus the cap
    of ``-c`` for ``c < 0``.
    """
    _check(n)
    c = float(threshold)
    if c > 1:
        return 0.0
    if c <= -1:
        return 1.0
    if n == 1:
        return 0.5 if -1 < c <= 1 else 1.0
    cap = 0.5 * float(betainc((n - 1) / 2, 0.5, 1 - c * c))
    return cap if c >= 0 else 1 - cap


def cap_intersection_fraction(n: int, threshold: float, cosine: float) -> float:
    """Fraction of ``S^{n-1}`` inside both caps ``u . x >= c`` and ``u . p >= c`` where
    ``x . p = cosine`` (the continuous circle intersection), ``n >= 3``.

    Computed as the one-dimensional integral over ``t = u . x``: ``u = t x + sqrt(1-t^2) w`` with
    ``t`` of density ``(1-t^2)^((n-3)/2) / B((n-1)/2, 1/2)`` and ``w`` uniform on the sphere ``S^{n-2}``
    orthogonal to ``x``; the second condition is a cap of ``S^{n-2}``
    (``w . y >= (c - t cos) / (sqrt(1-t^2) sin)``), whose size :func:`cap_fraction` gives. The
    integral is done by ``scipy.integrate.quad``.
    """
    _check(n)
    if n < 3:
        raise ValueError(f"cap_intersection_fraction needs n >= 3, got {n}")
    c, cos = float(threshold), float(np.clip(cosine, -1, 1))
    if c > 1:
        return 0.0
    sin = math.sqrt(max(0.0, 1 - cos * cos))
    if sin < 1e-12:
        return cap_fraction(n, c) if cos > 0 else cap_fraction(n, max(c, -c))  # same or opposite caps
    norm_t = 1 / float(np.exp(_log_beta((n - 1) / 2, 0.5)))

    def integrand(t):
        rest = math.sqrt(max(0.0, 1 - t * t))
        if rest == 0:
            return 0.0
        return norm_t * rest ** (n - 3) * cap_fraction(n - 1, (c - t * cos) / (rest * sin))

    value, _ = quad(integrand, max(c, -1.0), 1.0, limit=200)
    return value


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


class BetaFit(NamedTuple):
    """The softmax beta fitted to ``ln |intersection|`` against cosine over ``d_v = 0..d-1``.

    ``beta``: the paper's estimator ``cov(cos, ln I) / var(cos)`` with numpy's default ``ddof``
    (1 for ``np.cov``, 0 for ``np.var``), i.e. least squares x N/(N-1). ``beta_lstsq``: the plain
    least-squares slope; ``intercept``: the least-squares intercept. ``distance``, ``cosine`` and
    ``log_intersection``: the points fitted.
    """

    beta: float
    beta_lstsq: float
    intercept: float
    distance: np.ndarray
    cosine: np.ndarray
    log_intersection: np.ndarray


def fit_beta(n: int, d: int) -> BetaFit:
    """Fit ``ln |O_d(x) ∩ O_d(p)| ≈ beta cos + c`` over Hamming distances ``d_v = 0..d-1``."""
    _check(n, d)
    if d < 2:
        raise ValueError(f"fitting beta needs d >= 2 (at least two distances 0..d-1), got d={d}")
    distance = np.arange(d)
    cosine = hamming_to_cosine(distance, n)
    log_intersection = np.array([math.log(circle_intersection(n, d, int(v))) for v in distance])
    beta = float(np.cov(cosine, log_intersection)[0, 1] / np.var(cosine))
    slope, intercept = np.polyfit(cosine, log_intersection, 1)
    return BetaFit(beta, float(slope), float(intercept), distance, cosine, log_intersection)


def space_fraction(n: int, d: int) -> float:
    """Fraction ``p`` of ``{0,1}^n`` within Hamming distance ``d`` of a point (of neurons activated)."""
    return ball_size(n, d) / 2 ** n


def snr_optimal_fraction(n_patterns: float, n_neurons: float) -> float:
    """Kanerva's signal-to-noise-optimal activation probability ``p* = (2 m r)^(-1/3)``
    (``m`` stored patterns, ``r`` neurons; maximises the SNR of a noise-free read)."""
    return (2 * n_patterns * n_neurons) ** (-1 / 3)


def capacity_optimal_fraction(n: int, n_neurons: float, retrieval: float = 0.5) -> float:
    """Activation probability ``p`` that maximises the number of patterns that can be stored,
    ``M(p) = ((p r)^2 / z^2 - p r) / (p^2 r + (p^2 r)^2)`` (Bricken & Pehlevan, after Kanerva),
    where ``z = Phi^{-1}(retrieval^(1/n))`` is the per-bit z-score for retrieving a whole
    ``n``-bit pattern with probability ``retrieval`` from a noise-free query.

    ``dM/dp = 0`` reduces to ``2 r^2 p^3 - 3 r z^2 p^2 - z^2 = 0``, which has one positive root;
    it is found by bracketing (``brentq`` on ``log p``).
    """
    _check(n)
    if not 0 < retrieval < 1:
        raise ValueError(f"retrieval probability must be in (0, 1), got {retrieval}")
    z = float(norm.ppf(retrieval ** (1 / n)))
    r = float(n_neurons)

    def derivative_sign(log_p):
        p = math.exp(log_p)
        return 2 * (r * p) ** 2 * p - 3 * r * z * z * p * p - z * z

    return math.exp(brentq(derivative_sign, math.log(1e-300), 0.0, xtol=1e-12))


def fraction_to_radius(n: int, fraction: float) -> int:
    """The Hamming radius ``d`` whose ball holds the fraction of space closest to ``fraction``
    (nearest on a log scale)."""
    _check(n)
    logs = np.array([math.log(ball_size(n, d)) - n * math.log(2) for d in range(n + 1)])
    return int(np.argmin(np.abs(logs - math.log(fraction))))


def optimal_radius(n: int, criterion: str = "snr", n_patterns: float = 1024, n_neurons: float | None = None,
                   retrieval: float = 0.5) -> dict:
    """Optimal SDM Hamming radius for ``criterion``:

    - ``"snr"``: maximal signal-to-noise ratio of a noise-free read, ``p* = (2 m r)^(-1/3)``;
    - ``"capacity"``: maximal number of storable patterns (:func:`capacity_optimal_fraction`).

    ``n_neurons`` defaults to ``2^n`` (a neuron at every address, the setting where SDM reads are
    exactly circle intersections). The radius is the ``d`` whose activated fraction of space is
    nearest ``p*`` on a log scale. For ``n = 64, m = 1024`` this gives d = 11 (SNR) and d = 5
    (capacity), the paper's values. Returns ``{"criterion", "fraction", "d", "beta", "beta_lstsq"}``.
    """
    _check(n)
    r = float(2 ** n if n_neurons is None else n_neurons)
    if criterion == "snr":
        fraction = snr_optimal_fraction(n_patterns, r)
    elif criterion == "capacity":
        fraction = capacity_optimal_fraction(n, r, retrieval)
    else:
        raise ValueError(f"unknown criterion {criterion!r}; choose snr or capacity")
    d = fraction_to_radius(n, fraction)
    fit = fit_beta(n, d) if d >= 2 else None
    return {"criterion": criterion, "fraction": fraction, "d": d,
            "beta": fit.beta if fit else None, "beta_lstsq": fit.beta_lstsq if fit else None}


def intersection_weights(n: int, d: int, max_distance: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(distance, weight)``: the circle intersection at ``d_v = 0..max_distance`` (default ``2d + 2``)
    normalised to sum to one, i.e. SDM's read weights for one pattern at each distance."""
    _check(n, d)
    max_distance = min(n, 2 * d + 2 if max_distance is None else max_distance)
    distance = np.arange(max_distance + 1)
    counts = [circle_intersection(n, d, int(v)) for v in distance]
    total = sum(counts)
    return distance, np.array([c / total for c in counts])


def softmax_weights(cosine: np.ndarray, beta: float) -> np.ndarray:
    """``exp(beta cos) / sum exp(beta cos)``."""
    logits = beta * np.asarray(cosine, dtype=float)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def plot_intersection_vs_softmax(n: int, d: int, *, ax=None, max_distance: int | None = None,
                                 continuous: bool = True):
    """The talk's figure: normalised circle intersection against the softmax with the fitted beta
    (paper's estimator), over Hamming distance, with a log-scale inset. ``continuous`` adds the
    normalised hypersphere-cap intersection (continuous SDM, threshold ``1 - 2d/n``). Returns
    ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    fit = fit_beta(n, d)
    distance, sdm = intersection_weights(n, d, max_distance)
    cosine = hamming_to_cosine(distance, n)
    attention = softmax_weights(cosine, fit.beta)
    curves = [("SDM circle intersection", sdm, "o-"), (f"softmax, beta = {fit.beta:.1f}", attention, "s--")]
    if continuous and n >= 3:
        caps = np.array([cap_intersection_fraction(n, 1 - 2 * d / n, c) for c in cosine])
        curves.append(("continuous SDM (cap intersection)", caps / caps.sum(), ":"))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    plot_weight_curves(ax, distance, curves, "Hamming distance between query and pattern")
    ax.set_title(f"SDM ≈ attention: n = {n}, d = {d}")
    return fig, ax


def plot_weight_curves(ax, distance: np.ndarray, curves, xlabel: str, legend_size: int = 8) -> None:
    """Draw ``curves`` (``(label, weights (len(distance),), style)``) against ``distance`` on
    ``ax``, with a log-scale inset of their positive values."""
    for label, values, style in curves:
        ax.plot(distance, values, style, label=label, markersize=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("normalised weight")
    ax.legend(loc="upper right", fontsize=legend_size)
    inset = ax.inset_axes([0.45, 0.2, 0.5, 0.4])
    for _, values, style in curves:
        shown = values > 0
        inset.plot(distance[shown], values[shown], style, markersize=3)
    inset.set_yscale("log")
    inset.set_title("log scale", fontsize=8)
    inset.tick_params(labelsize=7)


def sdm_report(n: int, d: int, out: str | Path = ".") -> dict:
    """Fit beta for ``(n, d)``, write ``sdm_n{n}_d{d}.png`` into ``out`` and return the numbers."""
    fit = fit_beta(n, d)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, _ = plot_intersection_vs_softmax(n, d)
    path = out / f"sdm_n{n}_d{d}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return {"n": n, "d": d, "beta": fit.beta, "beta_lstsq": fit.beta_lstsq, "figure": str(path)}


# --- the query-noise radius and the radius matching a given beta (issue 19, part 4) ---

def intersection_second_moment(n: int, d: int) -> float:
    """``E_D[|O_d(x) ∩ O_d(p)|^2]`` for a pattern ``p`` at a uniformly random address, i.e. over the
    distance ``D ~ Binomial(n, 1/2)``: ``sum_D C(n, D) I_d(D)^2 / 2^n`` (a float, computed exactly in
    integers first)."""
    _check(n, d)
    total = sum(math.comb(n, v) * circle_intersection(n, d, v) ** 2 for v in range(min(n, 2 * d) + 1))
    return math.exp(math.log(total) - n * math.log(2))


def query_noise_snr(n: int, d: int, noise: int, n_patterns: float = 1024) -> float:
    """Signal-to-noise ratio of one bit read with a noisy query, neurons at every address of ``{0,1}^n``.

    The query lies ``noise`` bits from the stored address of the target pattern; the other
    ``m - 1`` patterns (``m = n_patterns``) sit at uniformly random addresses and hold independent
    random ``+-1`` bits. The read of a bit is ``sum_i I_d(D_i) x_i`` (``I_d``: :func:`circle_intersection`,
    ``D_i``: the query's distance to pattern ``i``), so::

        rho(d) = I_d(noise) / sqrt((m - 1) E_D[I_d(D)^2]),   D ~ Binomial(n, 1/2)

    (:func:`intersection_second_moment`). Zero when ``noise > 2d`` (the circles do not meet).
    """
    _check(n, d)
    if not 0 <= noise <= n:
        raise ValueError(f"the query noise must be in [0, n={n}] bits, got {noise!r}")
    if n_patterns <= 1:
        raise ValueError(f"the query-noise SNR needs at least two stored patterns, got {n_patterns}")
    signal = circle_intersection(n, d, noise)
    if signal == 0:
        return 0.0
    return signal / math.sqrt((n_patterns - 1) * intersection_second_moment(n, d))


def query_noise_retrieval(n: int, d: int, noise: int, n_patterns: float = 1024) -> float:
    """Probability of retrieving the whole ``n``-bit target from a query ``noise`` bits away, in the
    normal approximation with bits treated as independent: ``Phi(rho)^n`` (:func:`query_noise_snr`)."""
    return float(norm.cdf(query_noise_snr(n, d, noise, n_patterns)) ** n)


def query_noise_optimal_radius(n: int, n_patterns: float = 1024, noise: float = 0.1) -> dict:
    """The radius ``d`` maximising :func:`query_noise_retrieval` (equivalently :func:`query_noise_snr`)
    for a query ``noise`` away from the stored address: ``noise`` in bits (an int >= 1) or as a
    fraction of ``n`` (a float < 1, rounded to the nearest bit, at least one).

    Neurons sit at every address (as in :func:`optimal_radius`); there a noise-free query is best
    served by ``d = 0`` (a lookup table), which is why this criterion needs noise. Returns
    ``{"criterion": "query_noise", "noise_bits", "d", "snr", "retrieval", "beta", "beta_lstsq"}``.
    """
    _check(n)
    bits = int(noise) if noise >= 1 else max(1, round(noise * n))
    if bits > n:
        raise ValueError(f"the query noise must be at most n={n} bits, got {bits}")
    snrs = [query_noise_snr(n, d, bits, n_patterns) for d in range(n + 1)]
    d = int(np.argmax(snrs))
    fit = fit_beta(n, d) if d >= 2 else None
    return {"criterion": "query_noise", "noise_bits": bits, "d": d, "snr": snrs[d],
            "retrieval": float(norm.cdf(snrs[d]) ** n),
            "beta": fit.beta if fit else None, "beta_lstsq": fit.beta_lstsq if fit else None}


class RadiusMatch(NamedTuple):
    """The binary-SDM radius whose fitted softmax beta (:func:`fit_beta`, the paper's estimator) is
    nearest a given beta on a log scale.

    ``d``: that radius (``2 <= d <= n``); ``d_continuous``: ``d`` interpolated linearly in
    ``log beta`` between the two radii that bracket the target; ``beta_fit``: :func:`fit_beta`'s beta
    at ``d``; ``in_range``: False when the target lies outside ``[beta(d = n), beta(d = 2)]`` (then
    ``d`` is the nearest end and ``d_continuous`` equals it)."""

    d: int
    d_continuous: float
    beta_fit: float
    in_range: bool


def match_radius(n: int, beta: float) -> RadiusMatch:
    """The Hamming radius ``d`` of binary SDM in ``{0,1}^n`` whose circle-intersection weights give the
    softmax inverse temperature ``beta`` (see :class:`RadiusMatch`). The fitted beta falls as ``d``
    grows; radii whose fit is not positive (``d`` near ``n``) are skipped."""
    _check(n)
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    if n < 2:
        raise ValueError(f"matching a radius needs n >= 2 (fit_beta needs d >= 2), got n={n}")
    radii = np.arange(2, n + 1)
    fitted = np.array([fit_beta(n, int(d)).beta for d in radii])
    keep = fitted > 0
    radii, logs = radii[keep], np.log(fitted[keep])
    target = math.log(beta)
    best = int(np.argmin(np.abs(logs - target)))
    d = int(radii[best])
    if not logs[-1] <= target <= logs[0]:
        return RadiusMatch(d, float(d), float(fitted[keep][best]), False)
    k = int(np.searchsorted(-logs, -target))  # first radius whose log beta is <= target
    if k == 0 or logs[k] == target:
        continuous = float(radii[k])
    else:
        lo, hi = logs[k - 1], logs[k]  # lo > target >= hi
        continuous = float(radii[k - 1] + (lo - target) / (lo - hi) * (radii[k] - radii[k - 1]))
    return RadiusMatch(d, continuous, float(fitted[keep][best]), True)
