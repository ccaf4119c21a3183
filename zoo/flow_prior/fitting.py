"""A flow prior fitted after training to a trained VAE's aggregate posterior."""

import keras
import numpy as np
import tensorflow as tf

from zoo import validation
from zoo.flow_prior.flow_prior_model import FlowPriorVAE
from zoo.vae.vae_model import VAE


def _posterior_parameters(model, data, batch_size):
    """Means and standard deviations of q(z|x) over `data`, as two `[n, latent_dim]` arrays."""
    if isinstance(data, tf.data.Dataset):
        validation.check_training_data("data", data, model.data_shape, model.check_input)
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
    else:
        x = model.check_input("data", data)
        batches = (x[i:i + batch_size] for i in range(0, int(x.shape[0]), batch_size))
    means, scales = [], []
    for batch in batches:
        q = model.encode(batch)
        means.append(np.asarray(q.mean()))
        scales.append(np.asarray(q.stddev()))
    return np.concatenate(means), np.concatenate(scales)


def fit_flow_prior(model, data, flow="realnvp", num_flows=8, flow_hidden_units=(256, 256),
                   epochs=15, batch_size=256, learning_rate=1e-3, seed=0, verbose=0):
    """A trained `zoo.VAE` with its N(0, I) prior replaced by a flow fitted to its codes.

    When the posteriors are narrow and their means fill a thin, correlated region of the
    latent space, most of N(0, I)'s mass lies where no training image is encoded, and
    decoding prior draws gives images unlike the data (the "prior hole"; a colour VAE's
    samples came out nearly black) even though the likelihood, which scores through the
    posteriors, looks fine. Fitting a density to the aggregate posterior after training
    fills the hole without retraining the encoder or decoder [1, 2].

    The returned `zoo.FlowPriorVAE` has the model's encoder, posterior head and decoder
    weights unchanged and a new flow prior p(z) = f_# N(0, I), trained by maximum
    likelihood on codes z ~ q(z|x) (a fresh draw per example each epoch, Adam with cosine
    decay). Its ELBO and importance-weighted bound change only through log p(z), and
    `sample`, `export` and the edge samplers draw from the fitted prior. Compile and `fit`
    it to fine-tune everything jointly.

    Math:
      max_f  E_{x ~ data} E_{z ~ q(z|x)} [log p_f(z)], the cross-entropy of the aggregate
      posterior q(z) = E_x q(z|x) under p_f; the ELBO's KL term E_x KL(q(z|x) || p_f)
      falls by exactly the gain in this objective.

    Args:
      model: a trained, unconditional `zoo.VAE` (not a subclass: an IWAE or a flow-prior
        VAE has its own objective or prior).
      data: the training images: an array `[n, *input_shape]` or a `tf.data.Dataset` of
        batches (or (x, y) batches). Encoded once; the means and scales are kept in
        memory (2 x n x latent_dim floats).
      flow: str. "realnvp" (parallel sampling, the default) or "maf" (sampling is
        sequential over the latent dimensions: slow to export for a large latent_dim).
      num_flows: int. Flow steps. Defaults to 8.
      flow_hidden_units: list of ints. Widths of each step's network. Defaults to (256, 256).
      epochs: int. Passes over the codes. Defaults to 15.
      batch_size: int. Codes per update (and images per encoder pass for an array).
        Defaults to 256.
      learning_rate: float. Adam's initial rate, cosine-decayed to 1 % of it. Defaults
        to 1e-3.
      seed: int. Seeds the flow's initial weights (through `keras.utils.set_random_seed`,
        which resets the global seeds) and the draws. Defaults to 0.
      verbose: int. 1 prints the mean log p(z) of each epoch. Defaults to 0.

    Returns:
      A `zoo.FlowPriorVAE` (uncompiled) with `prior_fit_history`, the mean log p(z) in
      nats of each epoch's codes.

    Raises:
      TypeError: `model` is not a `zoo.VAE`.
      ValueError: a conditional or semi-supervised model, or bad settings or data.

    References:
      [1] Ghosh et al. From variational to deterministic autoencoders. ICLR 2020
          (ex-post density estimation).
      [2] Dai, Wipf. Diagnosing and enhancing VAE models. ICLR 2019 (two-stage VAE).
    """
    if type(model) is not VAE:
        raise TypeError(f"model must be a zoo.VAE (exactly; its prior is N(0, I)). "
                        f"Received: model of type {type(model).__name__}")
    if model.num_classes:
        raise ValueError("fit_flow_prior fits one prior for an unconditional model. Received: "
                         f"a conditional model with num_classes={model.num_classes}")
    epochs = validation.positive_int("epochs", epochs)
    batch_size = validation.positive_int("batch_size", batch_size)
    learning_rate = validation.positive_float("learning_rate", learning_rate)
    seed = validation.non_negative_int("seed", seed)
    means, scales = _posterior_parameters(model, data, batch_size)

    keras.utils.set_random_seed(seed)
    fitted = FlowPriorVAE.from_config({
        **model.get_config(), "flow": flow, "num_flows": num_flows,
        "flow_hidden_units": flow_hidden_units})
    for name in ("encoder", "posterior_head", "decoder"):
        getattr(fitted, name).set_weights(getattr(model, name).get_weights())
    # Only the flow trains; the encoder and decoder are those of `model`.
    variables = fitted.prior_flow.trainable_variables
    steps_per_epoch = -(-len(means) // batch_size)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        learning_rate, epochs * steps_per_epoch, alpha=0.01))

    @tf.function
    def step(z):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(fitted.prior_flow.distribution().log_prob(z))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return -loss

    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(means))
        codes = (means[order] + scales[order] * rng.standard_normal(means.shape)).astype(np.float32)
        total = 0.0
        for start in range(0, len(codes), batch_size):
            batch = codes[start:start + batch_size]
            total += float(step(batch)) * len(batch)
        history.append(total / len(codes))
        if verbose:
            print(f"prior fit epoch {epoch + 1}/{epochs}: mean log p(z) {history[-1]:.2f} nats",
                  flush=True)
    fitted.prior_fit_history = history
    return fitted
