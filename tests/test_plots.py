"""Panel figures (analysis.plots): many units in one image, each on its own colour scale."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.plots import plot_mosaic, plot_node_maps
from envs import make_worlds


def drawn(fig) -> np.ndarray:
    """The RGBA array the figure's one image shows, in [0, 1] (the mosaic is drawn as bytes)."""
    (image,) = fig.axes[0].get_images()
    array = np.asarray(image.get_array())
    return array / 255 if array.dtype == np.uint8 else array


def test_each_tile_has_its_own_scale_nan_its_colour_and_the_first_tile_is_top_left():
    ramp = np.arange(6.0).reshape(2, 3)
    images = np.stack([ramp, 100 * ramp + 7, np.full((2, 3), np.nan)])
    fig, axes = plot_mosaic(images, ncols=2, cmap="gray", nan_colour=(1.0, 0.0, 0.0, 1.0))
    mosaic = drawn(fig)
    assert axes.shape == (1, 1) and mosaic.ndim == 3 and mosaic.shape[2] == 4
    tile_h, tile_w = mosaic.shape[0] // 2, mosaic.shape[1] // 2
    first = mosaic[tile_h:tile_h + 2, :3, 0]  # origin "lower": the first row of tiles is the upper half
    second = mosaic[tile_h:tile_h + 2, tile_w:tile_w + 3, 0]
    np.testing.assert_allclose(first, ramp / 5, atol=0.01)  # scaled to its own range
    np.testing.assert_allclose(second, first, atol=0.01)  # another range, the same picture
    assert (mosaic[:2, :3] == (1.0, 0.0, 0.0, 1.0)).all()  # the third tile, all NaN
    assert (mosaic[:2, tile_w:] == 1.0).all()  # no fourth tile: white
    plt.close(fig)


def test_grid_worlds_are_rasterised_and_bad_shapes_refused():
    world = make_worlds("square:4")[0]
    maps = np.random.default_rng(0).random((5, world.n_nodes))
    maps[1, 3] = np.nan
    fig, _ = plot_node_maps(maps, world, titles=[str(i) for i in range(5)], ncols=3)
    assert len(fig.axes) == 1 and len(fig.axes[0].texts) == 5
    plt.close(fig)
    with pytest.raises(ValueError, match="maps must be"):
        plot_node_maps(maps[:, :-1], world)
    with pytest.raises(ValueError, match="images must be"):
        plot_mosaic(np.zeros((2, 3)))


@pytest.mark.parametrize("spec, n_axes", [("square:5", 1), ("ring:7", 16)])
def test_remapping_figure_is_one_image_on_grids_and_panels_elsewhere(spec, n_axes):
    from analysis.ratemaps import RateMaps
    from analysis.remapping import plot_remapping

    world = make_worlds(spec)[0]
    rng = np.random.default_rng(0)
    a, b = (RateMaps(rng.random((5, world.n_nodes)), rng.random((4, world.n_nodes)), np.ones(world.n_nodes),
                     np.arange(4)) for _ in range(2))
    fig, axes = plot_remapping(a, b, world)
    assert np.size(axes) == n_axes
    texts = [t.get_text() for t in np.ravel(axes)[0].texts] if n_axes == 1 else [ax.get_title() for ax in np.ravel(axes)]
    assert len(texts) == 16 and "hippocampus, world B" in texts[-1] and "unit 3" in texts[-1]
    plt.close(fig)
