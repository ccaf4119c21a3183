"""Image grids: as arrays (for TensorBoard) and as PNG files."""

import math

import numpy as np

from zoo import io_utils


def image_grid(images, num_cols=None, pad=1):
    """Tiles `[n, height, width, channels]` images in [0, 1] into one `[H, W, channels]` array.

    Args:
      images: array-like of shape `[n, height, width, channels]`.
      num_cols: int. Columns of the grid. Defaults to ceil(sqrt(n)).
      pad: int. Pixels of white between tiles. Defaults to 1.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape [n, height, width, channels]. "
                         f"Received: images.shape={images.shape}")
    n, height, width, channels = images.shape
    if n == 0:
        raise ValueError("images must contain at least one image. Received: 0 images")
    num_cols = num_cols or math.ceil(math.sqrt(n))
    num_rows = math.ceil(n / num_cols)
    grid = np.ones((num_rows * (height + pad) + pad, num_cols * (width + pad) + pad, channels),
                   np.float32)
    for i, image in enumerate(np.clip(images, 0.0, 1.0)):
        r, c = divmod(i, num_cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def save_image_grid(images, path, num_cols=None, scale=2):
    """Writes `images` as a PNG grid to `path` (atomically) and returns `path`.

    Args:
      images: `[n, height, width, channels]` in [0, 1] (1 or 3 channels).
      path: str. Destination `.png`.
      num_cols: int. Columns. Defaults to ceil(sqrt(n)).
      scale: int. Nearest-neighbour upscaling so small images stay legible. Defaults to 2.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = image_grid(images, num_cols)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    with io_utils.atomic_path(path, suffix=".png") as tmp:
        plt.imsave(tmp, grid)
    return path
