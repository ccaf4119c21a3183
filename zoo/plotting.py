"""Image grids: as arrays (for TensorBoard) and as PNG files."""

import math

import numpy as np

from zoo import evaluation, io_utils

# Every kind of plot, as `vaezoo plot --kinds` names them.
PLOT_KINDS = ("samples", "reconstructions", "interpolations", "traversals", "latent_map", "kl")
# The kinds drawn as decoded inputs, which only images can be shown as.
IMAGE_PLOT_KINDS = ("samples", "reconstructions", "interpolations", "traversals")


def applicable_plots(model):
    """The kinds of `PLOT_KINDS` that apply to `model`, in that order.

    The image kinds need image data (`[height, width, channels]`); "kl" needs a KL that
    splits by latent dimension, which a flow prior's does not. "latent_map" applies to all.
    A conditional model's plots are its samples, one row per class (`class_sample_grid`):
    the others would need each example's label.
    The `vaezoo plot` command and the `TrainingPlots` callback both decide with this.

    Returns:
      tuple of str.
    """
    images = len(model.data_shape) == 3
    if getattr(model, "num_classes", None):
        return ("samples",) if images else ()
    return tuple(kind for kind in PLOT_KINDS
                 if (images or kind not in IMAGE_PLOT_KINDS)
                 and (kind != "kl" or model.kl_splits_by_dimension))


def check_plot_kinds(model, kinds):
    """Returns `kinds` as a tuple; raises ValueError naming any kind that is unknown or
    does not apply to `model` (see `applicable_plots`), and why."""
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in PLOT_KINDS]
    if unknown:
        raise ValueError(f"kinds must be among {list(PLOT_KINDS)}. Received: kinds={list(kinds)}")
    applicable = applicable_plots(model)
    refused = [kind for kind in kinds if kind not in applicable]
    if refused and getattr(model, "num_classes", None):
        raise ValueError(f"kinds: a conditional model plots its samples, one row per class; "
                         "the other plots would need each example's label. Received: "
                         f"kinds={list(kinds)}")
    if refused:
        why = []
        need_images = [kind for kind in refused if kind in IMAGE_PLOT_KINDS]
        if need_images:
            why.append(f"{', '.join(need_images)} need image data; this model's data has "
                       f"shape {list(model.data_shape)}")
        if "kl" in refused:
            why.append(f"kl needs a KL that splits by latent dimension, which a "
                       f"{type(model).__name__}'s does not")
        raise ValueError(f"kinds: {'; '.join(why)}. The kinds that apply are {list(applicable)}. "
                         f"Received: kinds={list(kinds)}")
    return kinds


def image_grid(images, num_cols=None, pad=1):
    """Tiles `[n, height, width, channels]` images in [0, 1] into one `[H, W, channels]` array.

    Args:
      images: array-like of shape `[n, height, width, channels]`.
      num_cols: int. Columns of the grid. Defaults to ceil(sqrt(n)).
      pad: int. Pixels of white between tiles. Defaults to 1.

    Returns:
      numpy float32 `[rows * (height + pad) + pad, num_cols * (width + pad) + pad,
        channels]`, pixels in [0, 1] (inputs are clipped; empty cells are white).
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

    Returns:
      `path`, as given.
    """
    plt = _pyplot()
    grid = image_grid(images, num_cols)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    with io_utils.atomic_path(path, suffix=".png") as tmp:
        plt.imsave(tmp, grid)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_to_array(figure):
    """The pixels of a matplotlib figure (for TensorBoard); closes it.

    Returns:
      numpy float32 `[height, width, 3]` RGB, in [0, 1].
    """
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
    _pyplot().close(figure)
    return pixels


def save_figure(figure, path):
    """Writes a matplotlib figure to `path` as PNG (atomically), closes it, returns `path`."""
    with io_utils.atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    _pyplot().close(figure)
    return path


def class_sample_grid(model, per_class=8, seed=0):
    """A conditional model's samples, `per_class` per class, for `image_grid(num_cols=
    per_class)`: one row per class (the same noise in every row), `[classes * per_class, ...]`."""
    import tensorflow as tf

    eps = tf.random.stateless_normal([per_class, model.noise_dim], seed=[seed, 0])
    return np.concatenate([np.asarray(model.sample_from_noise(eps, labels=[c] * per_class))
                           for c in range(model.num_classes)])


def samples_grid(model, num_samples=64, seed=0):
    """The "samples" plot's images and column count: `num_samples` samples, or for a
    conditional model one row of 8 per class."""
    if getattr(model, "num_classes", None):
        return class_sample_grid(model, 8, seed), 8
    return np.asarray(model.sample(num_samples, seed=seed)), None


def reconstruction_rows(model, x):
    """Inputs above their reconstructions, for `image_grid(num_cols=n)`.

    Args:
      model: a zoo model.
      x: inputs `[n, *input_shape]`.

    Returns:
      numpy float32 `[2 * n, *input_shape]`: the n inputs, then their n reconstructions.
    """
    x = np.asarray(x, np.float32)
    return np.concatenate([x, np.asarray(model.reconstruct(x))])


def traversal_rows(model, x, units=None, values=(-3, -2, -1, 0, 1, 2, 3), num_units=8):
    """One row per latent unit: the decoder means as that unit of `x`'s code sweeps `values`.

    Args:
      model: a zoo model.
      x: one example, shaped like an input.
      units: list of unit indices. Defaults to the `num_units` units with the largest
        KL on `x` (the ones the model uses for it).
      values: the values the unit is set to.
      num_units: int. Units shown when `units` is None. Defaults to 8.

    Returns:
      A tuple (numpy float32 `[len(units) * len(values), *input_shape]` decoder means,
        the list of unit indices shown).
    """
    from zoo.applications import latent_space

    if units is None and not model.kl_splits_by_dimension:
        # No per-dimension KL to rank by (flow prior): the first units.
        units = list(range(min(num_units, model.noise_dim)))
    elif units is None:
        kl = np.asarray(model.elbo_terms(np.asarray(x)[None], seed=0)["kl_dims"])[0]
        units = [int(u) for u in np.argsort(-kl)[:num_units]]
    rows = [np.asarray(latent_space.traverse(model, x, unit, values)) for unit in units]
    return np.concatenate(rows), units


def kl_per_dimension(model, x, seed=0, batch_size=500):
    """Mean KL of each latent dimension over the examples `x`.

    Args:
      model: a zoo model whose KL splits by dimension.
      x: inputs `[n, *input_shape]`, n >= 1.
      seed: int. Seed of the posterior samples (the same for every batch). Defaults to 0.
      batch_size: int. Examples per call. Defaults to 500.

    Returns:
      numpy float64 `[latent dims]`, nats.

    Raises:
      ValueError: no examples, or a model whose KL does not split by dimension (a flow
        prior).
    """
    evaluation.require_kl_by_dimension(model)
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"x must contain at least one example. Received: x.shape={list(x.shape)}")
    total = 0.0
    for start in range(0, len(x), batch_size):
        kl = np.asarray(model.elbo_terms(x[start:start + batch_size], seed=seed)["kl_dims"], np.float64)
        total = total + kl.sum(axis=0)
    return total / len(x)


def kl_figure(kl, threshold=0.01):
    """Bar chart of the KL per latent dimension, sorted, with the active-unit threshold.

    Args:
      kl: array `[latent dims]`, nats (e.g. from `kl_per_dimension`).
      threshold: float. The active-unit threshold, nats. Defaults to 0.01.

    Returns:
      A matplotlib `Figure` (the caller closes it, e.g. with `save_figure`).
    """
    plt = _pyplot()
    kl = np.asarray(kl, np.float64)
    order = np.argsort(-kl)
    figure, axis = plt.subplots(figsize=(max(4.0, 0.12 * len(kl) + 2.0), 3.0))
    axis.bar(np.arange(len(kl)), kl[order], color=np.where(kl[order] > threshold, "tab:blue", "tab:gray"))
    axis.axhline(threshold, color="tab:red", linewidth=1, linestyle="--",
                 label=f"active-unit threshold {threshold:g} nats")
    axis.set_yscale("symlog", linthresh=max(threshold, 1e-3))
    axis.set_xlabel("latent dimension (sorted by KL)")
    axis.set_ylabel("mean KL (nats)")
    axis.set_title(f"KL per latent dimension: {int((kl > threshold).sum())} of {len(kl)} active")
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return figure


def project_2d(codes):
    """Codes to 2-D: as they are if d <= 2 (padded with zeros if d = 1), else centred
    and projected onto their two principal axes.

    Args:
      codes: array `[n, ...]`, flattened to `[n, d]`.

    Returns:
      numpy float64 `[n, 2]`.
    """
    codes = np.asarray(codes, np.float64).reshape(len(codes), -1)
    if codes.shape[1] == 1:
        return np.concatenate([codes, np.zeros_like(codes)], axis=1)
    if codes.shape[1] == 2:
        return codes
    centred = codes - codes.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T


def latent_map_figure(codes, labels=None, title="latent space"):
    """Scatter of the codes in 2-D (principal axes if wider), coloured by label.

    Args:
      codes: array `[n, ...]` of latent codes.
      labels: optional integer labels `[n]`.
      title: str. Defaults to "latent space".

    Returns:
      A matplotlib `Figure` (the caller closes it).
    """
    plt = _pyplot()
    points = project_2d(codes)
    figure, axis = plt.subplots(figsize=(5.5, 5.0))
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6)
    else:
        labels = np.asarray(labels)
        scatter = axis.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7)
        figure.colorbar(scatter, ax=axis, ticks=np.unique(labels), label="label")
    wide = np.asarray(codes).reshape(len(points), -1).shape[1] > 2
    axis.set_xlabel("principal axis 1" if wide else "z1")
    axis.set_ylabel("principal axis 2" if wide else "z2")
    axis.set_title(title)
    figure.tight_layout()
    return figure
