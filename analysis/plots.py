"""Plots: each function takes ``ax=None``, draws, and returns ``(fig, ax)``; saving is the caller's."""
from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_learning_curve(rows: list[dict], *, ax=None, chance: float | None = None):
    """Link-inference and first-visit accuracy against gradient steps from ``metrics.csv`` rows."""
    fig, ax = _axes(ax)
    rows = [r for r in rows if r.get("link_inference_acc") not in (None, "", "nan")]
    steps = [int(r["step"]) for r in rows]
    for key, label in (("link_inference_acc", "link inference"), ("first_visit_acc", "first visit"),
                       ("node_visited_acc", "revisited nodes")):
        ax.plot(steps, [float(r[key]) for r in rows], marker="o", ms=3, label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="gradient step", ylabel="accuracy (held-out worlds)", ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=8)
    return fig, ax


def _cell_polygons(positions: np.ndarray, shape: str) -> np.ndarray:
    """``(n_nodes, k, 2)`` polygon of each node's cell: unit squares, or hexagons on the lattice."""
    if shape == "hex":
        angles = np.deg2rad(30 + 60 * np.arange(6))  # pointy-top cells tile a lattice with horizontal rows
        corners = np.stack([np.cos(angles), np.sin(angles)], axis=1) / np.sqrt(3)
    else:
        corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    return positions[:, None, :] + corners[None]


def plot_node_map(values: np.ndarray, world, *, ax=None, cmap="viridis", title: str | None = None,
                  colorbar: bool = False):
    """Draw ``values (n_nodes,)`` at the nodes of ``world``: cells for square and hex grids, a
    graph drawing on the world's layout otherwise. NaN (unvisited) nodes are drawn grey."""
    fig, ax = _axes(ax, figsize=(3, 3))
    values = np.asarray(values, dtype=float)
    if values.shape != (world.n_nodes,):
        raise ValueError(f"values must have shape ({world.n_nodes},) for world {world.name!r}, got {values.shape}")
    finite = np.isfinite(values)
    low, high = (np.nanmin(values), np.nanmax(values)) if finite.any() else (0.0, 1.0)
    norm = Normalize(low, high if high > low else low + 1e-9)
    colours = plt.get_cmap(cmap)(norm(np.where(finite, values, low)))
    colours[~finite] = (0.85, 0.85, 0.85, 1.0)
    positions = world.positions
    if world.lattice is not None:
        ax.add_collection(PolyCollection(_cell_polygons(positions, world.lattice),
                                         facecolors=colours, edgecolors="none"))
    else:
        source, action = np.nonzero(world.transitions >= 0)
        segments = np.stack([positions[source], positions[world.transitions[source, action]]], axis=1)
        ax.add_collection(LineCollection(segments, colors="0.7", linewidths=0.8, zorder=1))
        ax.scatter(positions[:, 0], positions[:, 1], c=colours, s=40, zorder=2, edgecolors="0.3", linewidths=0.5)
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
    if colorbar:
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7)
    return fig, ax


def plot_panels(draw, items, *, titles=None, ncols: int = 8, suptitle=None, panel_size: float = 1.6):
    """A grid of panels, ``panel_size`` inches each: ``draw(item, ax=ax, title=title)`` for each of
    ``items``; spare axes hidden. Returns ``(fig, axes)``."""
    n = len(items)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            draw(items[i], ax=ax, title=None if titles is None else titles[i])
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig, axes


def plot_node_maps(maps: np.ndarray, world, *, titles=None, ncols: int = 8, cmap="viridis", suptitle=None):
    """One panel per row of ``maps (n_units, n_nodes)``, each on its own colour scale; NaN
    (unvisited) grey. Grid worlds are rasterised (:func:`analysis.maps.rasterise_many`) into one
    image (:func:`plot_mosaic`: one axes, fast for many units); other worlds get a
    :func:`plot_node_map` panel each. Returns ``(fig, axes)``."""
    from analysis.maps import raster_layout, rasterise_many
    from envs.render import is_grid

    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 2 or maps.shape[1] != world.n_nodes:
        raise ValueError(f"maps must be (n_units, {world.n_nodes}) for world {world.name!r}, got {maps.shape}")
    if is_grid(world):
        return plot_mosaic(rasterise_many(maps, raster_layout(world.positions)), titles=titles, ncols=ncols,
                           cmap=cmap, symmetric=False, suptitle=suptitle)
    draw = lambda values, **kw: plot_node_map(values, world, cmap=cmap, **kw)  # noqa: E731
    return plot_panels(draw, maps, titles=titles, ncols=ncols, suptitle=suptitle)


def plot_images(images, *, titles=None, ncols: int = 8, suptitle=None, cmap="RdBu_r", symmetric=True):
    """One panel per 2D array (autocorrelograms, rasterised maps), each on its own colour scale, in
    one image (:func:`plot_mosaic`), NaN white. Returns ``(fig, axes)``."""
    return plot_mosaic(images, titles=titles, ncols=ncols, cmap=cmap, symmetric=symmetric, suptitle=suptitle,
                       nan_colour=(1.0, 1.0, 1.0, 1.0))


def plot_mosaic(images, *, titles=None, ncols: int = 8, cmap="viridis", symmetric=False, suptitle=None,
                panel_size: float = 1.6, nan_colour=(0.85, 0.85, 0.85, 1.0)):
    """Panels of ``images (n, H, W)`` tiled into one RGBA image drawn on one axes (rows bottom-up
    within each tile, as ``origin="lower"``): each scaled to its own range (``symmetric``: to
    ``+-max|x|``), NaN in ``nan_colour`` (grey: unvisited), the gaps white, a title above each
    tile. Returns ``(fig, axes)``, the axes in a ``(1, 1)`` array."""
    images = _check_images(images)
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    tile_h, tile_w = _tile_shape(images, titles)
    height = panel_size * nrows * tile_h / tile_w + 0.4  # inches: the tiles, and 0.4 for the suptitle
    fig, ax = plt.subplots(figsize=(panel_size * ncols, height))
    draw_mosaic(ax, images, titles=titles, ncols=ncols, cmap=cmap, symmetric=symmetric, nan_colour=nan_colour)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9, y=1 - 0.08 / height)
    # fixed margins, not tight_layout: laying out the many titles twice more cost as much as drawing them
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.4 / height)
    return fig, np.array([[ax]])


def _check_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=float)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got shape {images.shape}")
    return images


def _tile_shape(images: np.ndarray, titles) -> tuple[int, int]:
    """``(tile_h, tile_w)`` in pixels of one mosaic tile: the image, a gap, and room for a title."""
    _, H, W = images.shape
    gap = max(1, round(0.12 * max(H, W)))
    title_rows = 0 if titles is None else max(2, round(0.22 * H))
    return H + gap + title_rows, W + gap


def draw_mosaic(ax, images, *, titles=None, ncols: int = 8, cmap="viridis", symmetric=False,
                nan_colour=(0.85, 0.85, 0.85, 1.0)):
    """Draw ``images (n, H, W)`` as one tiled RGBA image on ``ax`` (see :func:`plot_mosaic`)."""
    images = _check_images(images)
    n, H, W = images.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    finite = np.isfinite(images)
    values = np.ma.masked_invalid(images.reshape(n, -1))
    if symmetric:
        high = np.asarray(np.abs(values).max(axis=1).filled(0.0))
        low = -high
    else:
        low, high = np.asarray(values.min(axis=1).filled(0.0)), np.asarray(values.max(axis=1).filled(1.0))
    span = np.where(high > low, high - low, 1.0)
    scaled = (np.where(finite, images, low[:, None, None]) - low[:, None, None]) / span[:, None, None]
    # bytes, as matplotlib would make them ((x * 255).astype(uint8)): it then passes them through
    # instead of checking and converting a large float image (~17 ms per mosaic)
    colours = plt.get_cmap(cmap)(scaled, bytes=True)  # (n, H, W, 4) uint8
    colours[~finite] = (np.asarray(nan_colour) * 255).astype(np.uint8)
    tile_h, tile_w = _tile_shape(images, titles)
    gap = tile_w - W
    mosaic = np.full((nrows * tile_h, ncols * tile_w, 4), 255, dtype=np.uint8)  # white
    for i in range(n):
        row, col = divmod(i, ncols)
        top = (nrows - 1 - row) * tile_h  # origin="lower": the first row at the top
        mosaic[top:top + H, col * tile_w:col * tile_w + W] = colours[i]
    ax.imshow(mosaic, origin="lower", interpolation="nearest")
    ax.set_axis_off()
    if titles is not None:
        for i, title in enumerate(titles[:n]):
            row, col = divmod(i, ncols)
            ax.text(col * tile_w + W / 2 - 0.5, (nrows - 1 - row) * tile_h + H + gap * 0.2, title,
                    ha="center", va="bottom", fontsize=6)


def plot_accuracy_vs_visited(curves: dict, *, ax=None, title: str | None = None):
    """Model vs node- and edge-visited agents (and the ideal observer, when ``curves`` has a finite
    ``ideal``) against the fraction of nodes visited (TEM's figure)."""
    fig, ax = _axes(ax)
    x = curves["visited_fraction"]
    lines = [("model", "model", "-o"), ("node_agent", "node-visited agent", "--"),
             ("edge_agent", "edge-visited agent", ":")]
    if np.isfinite(curves.get("ideal", np.nan)).any():
        lines.append(("ideal", "ideal observer", "-."))
    for key, label, style in lines:
        drawn = np.isfinite(curves[key])  # empty bins (small worlds) would break the lines
        ax.plot(x[drawn], curves[key][drawn], style, ms=3, label=label)
    ax.set(xlabel="fraction of nodes visited", ylabel="accuracy", ylim=(-0.02, 1.02), xlim=(0, 1))
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return fig, ax


def plot_image(image: np.ndarray, *, ax=None, title: str | None = None, cmap="RdBu_r", symmetric=True):
    """Show a 2D array (an autocorrelogram, a rasterised map); NaN drawn white."""
    fig, ax = _axes(ax, figsize=(3, 3))
    limit = np.nanmax(np.abs(image)) if symmetric and np.isfinite(image).any() else None
    ax.imshow(image, origin="lower", cmap=cmap, vmin=-limit if limit else None, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
    return fig, ax


def plot_histogram(values, groups=None, *, ax=None, bins=20, xlabel: str = "", title: str | None = None):
    """Histogram of ``values``, stacked by ``groups`` (e.g. the module of each unit) when given."""
    fig, ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    groups = np.zeros(len(values), dtype=int) if groups is None else np.asarray(groups)
    finite = np.isfinite(values)
    labels = np.unique(groups[finite])
    if finite.any():
        edges = np.histogram_bin_edges(values[finite], bins=bins)
        ax.hist([values[finite & (groups == g)] for g in labels], bins=edges, stacked=True,
                label=[f"module {g}" for g in labels] if len(labels) > 1 else None)
        if len(labels) > 1:
            ax.legend(frameon=False, fontsize=7)
    ax.set(xlabel=xlabel, ylabel="units")
    if title:
        ax.set_title(title, fontsize=9)
    return fig, ax


def plot_cell_summary(maps: np.ndarray, autocorrelograms, world, hist_values, hist_groups=None, *, titles=None,
                      hist_label: str = "", suptitle: str | None = None):
    """Rate maps of chosen units (top row), their autocorrelograms (middle row) and a histogram
    (bottom, e.g. grid spacing by module). ``maps (n, n_nodes)``, n <= 8. In grid worlds each row
    is one image (:func:`draw_mosaic`), elsewhere one axes per panel. Returns ``(fig, axes)``."""
    from analysis.maps import raster_layout, rasterise_many
    from envs.render import is_grid

    n = max(1, len(maps))
    fig = plt.figure(figsize=(1.7 * max(n, 4), 6.2))
    mosaic = is_grid(world) and len(maps)  # two images: the maps' row and the autocorrelograms' row (fast)
    grid = fig.add_gridspec(3, 1 if mosaic else n, height_ratios=[1, 1, 1.3])
    if mosaic:
        axes = [fig.add_subplot(grid[0]), fig.add_subplot(grid[1])]
        draw_mosaic(axes[0], rasterise_many(np.asarray(maps, dtype=float), raster_layout(world.positions)),
                    titles=titles, ncols=n)
        draw_mosaic(axes[1], np.asarray(autocorrelograms, dtype=float), ncols=n, cmap="RdBu_r", symmetric=True,
                    nan_colour=(1.0, 1.0, 1.0, 1.0))
    else:
        axes = []
        for i in range(len(maps)):
            ax_map, ax_auto = fig.add_subplot(grid[0, i]), fig.add_subplot(grid[1, i])
            plot_node_map(maps[i], world, ax=ax_map, title=None if titles is None else titles[i])
            plot_image(autocorrelograms[i], ax=ax_auto)
            axes += [ax_map, ax_auto]
    ax_hist = fig.add_subplot(grid[2, :])
    plot_histogram(hist_values, hist_groups, ax=ax_hist, xlabel=hist_label)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig, axes + [ax_hist]


def plot_grid_place_relationship(x, y, result: dict | None = None, *, ax=None, title: str | None = None):
    """Scatter of MEC units' rates at place units' peaks: ``x`` in world A against ``y`` in world B
    (arrays of one shape, e.g. ``(n_mec, n_place)``, from
    :func:`analysis.relationship.relationship_pairs`); ``result`` from
    :func:`analysis.relationship.grid_place_relationship` adds r, p and the null to the title."""
    fig, ax = _axes(ax, figsize=(4.2, 4))
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=4, alpha=0.4, lw=0)
    if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        xs = np.array([x[ok].min(), x[ok].max()])
        ax.plot(xs, slope * xs + intercept, color="C3", lw=1)
    ax.set(xlabel="MEC rate at place unit's peak, world A", ylabel="MEC rate at place unit's peak, world B")
    if result and result.get("r") is not None:
        title = (title + "\n" if title else "") + (
            f"r = {result['r']:.3f}, p = {result['p']:.3g} (null mean {result['null_r_mean']:.3f}, "
            f"95% {result['null_r_95']:.3f})\n{result['n_pairs']} pairs, {result['n_place_units']} place units")
    if title:
        ax.set_title(title, fontsize=8)
    return fig, ax


def plot_latent_rates(rates: np.ndarray, *, ax=None, labels=None, xlabel: str = "place", title: str | None = None):
    """One line per latent copy: ``rates (n_copies, n_places)`` of one unit (e.g. its stem rates
    on left- and right-bound runs, or its rate at each track place on each lap)."""
    fig, ax = _axes(ax, figsize=(3, 2.4))
    rates = np.asarray(rates, dtype=float)
    for c, row in enumerate(rates):
        ax.plot(np.arange(len(row)), row, marker="o", ms=3,
                label=None if labels is None else labels[c])
    ax.set_xlabel(xlabel, fontsize=7)
    ax.tick_params(labelsize=6)
    if labels is not None:
        ax.legend(frameon=False, fontsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    return fig, ax


def plot_lap_rates(lap_rates: np.ndarray, *, ax=None, title: str | None = None):
    """Bars of one unit's ``lap_rates (n_laps,)`` (mean over the track's places)."""
    fig, ax = _axes(ax, figsize=(3, 2.4))
    lap_rates = np.asarray(lap_rates, dtype=float)
    ax.bar(np.arange(len(lap_rates)), np.nan_to_num(lap_rates), color="C0")
    ax.set_xticks(np.arange(len(lap_rates)))
    ax.set_xlabel("lap", fontsize=7)
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    return fig, ax


def plot_splitter_cells(rates: np.ndarray, *, titles=None, ncols: int = 4, suptitle=None):
    """Stem rates of chosen units, left-bound against right-bound runs: ``rates (2, n_stem, n)``
    (:func:`analysis.latent_cells.splitter_scores`). Returns ``(fig, axes)``."""
    rates = np.asarray(rates, dtype=float)
    draw = lambda unit, **kw: plot_latent_rates(unit, labels=("left-bound", "right-bound"),  # noqa: E731
                                                xlabel="stem place (bottom to top)", **kw)
    return plot_panels(draw, list(np.moveaxis(rates, -1, 0)), titles=titles, ncols=min(ncols, max(1, rates.shape[-1])),
                       suptitle=suptitle, panel_size=2.4)  # room for a legend and an axis label


def plot_lap_cells(lap_rates: np.ndarray, rates: np.ndarray | None = None, *, titles=None, suptitle=None):
    """Chosen units' rate per lap, ``lap_rates (n_laps, n)`` (top row) and, when ``rates (n_laps,
    n_places, n)`` is given, each lap's rate along the track (bottom row). Returns ``(fig, axes)``."""
    lap_rates = np.asarray(lap_rates, dtype=float)
    n = max(1, lap_rates.shape[1])
    rows = 1 if rates is None else 2
    fig, axes = plt.subplots(rows, n, figsize=(2.0 * max(n, 3), 2.0 * rows + 0.5), squeeze=False)
    for i in range(lap_rates.shape[1]):
        plot_lap_rates(lap_rates[:, i], ax=axes[0, i], title=None if titles is None else titles[i])
        if rates is not None:
            plot_latent_rates(rates[:, :, i], ax=axes[1, i], xlabel="track place",
                              labels=[f"lap {k}" for k in range(rates.shape[0])] if i == 0 else None)
    for ax in axes.flat[lap_rates.shape[1] * rows:]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig, axes
