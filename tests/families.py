"""Small, fast instances of every model family, for tests that run across the zoo.

Every public model class of `zoo` must appear here (`test_every_family_is_registered`
enforces it), so a new family automatically goes through the export suite.
"""

import keras
import numpy as np

import zoo


def binary_images(n=96, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 0.2, size=(n, 28, 28, 1))
    for i in range(n):
        r, c = rng.integers(0, 20, size=2)
        probs[i, r:r + 8, c:c + 8] = 0.9
    return (rng.uniform(size=probs.shape) < probs).astype(np.float32)


FAMILIES = {
    "VAE-mlp": lambda: zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(64, 32), seed=0),
    "VAE-conv": lambda: zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, network="conv",
                                hidden_dims=(8, 16), num_res_blocks=1, seed=0),
    "VAE-conv-transpose": lambda: zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, network="conv",
                                          hidden_dims=(8, 16), upsampling="transpose", seed=0),
    "HVAE-mlp": lambda: zoo.HVAE(input_shape=(28, 28, 1), latent_dims=(6, 4), hidden_dims=(48, 32),
                                 seed=0),
    "HVAE-conv": lambda: zoo.HVAE(input_shape=(28, 28, 1), network="conv", hidden_dims=(8, 16),
                                  latent_dims=(2, 3), seed=0),
    "FlowPriorVAE-realnvp": lambda: zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=8,
                                                     hidden_dims=(64, 32), flow="realnvp",
                                                     num_flows=3, flow_hidden_units=(32,), seed=0),
    "FlowPriorVAE-maf": lambda: zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=8,
                                                 network="conv", hidden_dims=(8, 16), flow="maf",
                                                 num_flows=2, flow_hidden_units=(32,), seed=0),
    "VAEGAN-conv": lambda: zoo.VAEGAN(input_shape=(28, 28, 1), latent_dim=8, network="conv",
                                      hidden_dims=(8, 16), discriminator_dims=(8, 16),
                                      spectral_norm=True, seed=0),
}


def trained(name, epochs=2):
    """A family's model after a little training on structured binary images, and the data."""
    model = FAMILIES[name]()
    x = binary_images()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, batch_size=32, epochs=epochs, verbose=0)
    return model, x
