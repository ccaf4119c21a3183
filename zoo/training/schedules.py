"""How the KL enters the training loss over time: warm-up, free bits, KL balancing."""

import tensorflow as tf

from zoo import losses


def kl_loss(kl_units, step, beta=1.0, warmup_steps=0, free_bits=0.0, balance_groups=None):
    """The KL part of the loss at optimizer step `step`: a scalar.

    Math:
      w_t * sum_j max(lambda, E_batch[KL_j]), with w_t = beta * min(1, (t + 1) / warm-up)
      (`zoo.losses.kl_weight`) and lambda = `free_bits` (`zoo.losses.kl_penalty`). With
      `balance_groups` (the sizes of a hierarchy's latent groups, one column of
      `kl_units` each), NVAE's balanced penalty (`zoo.losses.balanced_kl_penalty`)
      replaces the plain one while the weight is still rising.

    Args:
      kl_units: `[batch, units]` KL per unit (latent dimension or group), nats.
      step: the optimizer step (a scalar tensor or int).
      beta: float. Final KL weight. Defaults to 1.
      warmup_steps: int. Steps of the linear warm-up; 0 for none. Defaults to 0.
      free_bits: float. Nats per unit below which the KL is not penalised. Defaults to 0.
      balance_groups: optional list of group sizes: balance the groups during warm-up.

    Returns:
      float32 scalar tensor, nats.
    """
    weight = losses.kl_weight(step, beta, warmup_steps)
    plain = losses.kl_penalty(kl_units, free_bits)
    if not (balance_groups and warmup_steps):
        return weight * plain
    balanced = losses.balanced_kl_penalty(kl_units, list(balance_groups), free_bits)
    return weight * tf.where(weight < beta, balanced, plain)
