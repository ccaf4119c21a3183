"""The VAE with a learned normalizing-flow prior."""

from zoo import families
from zoo.flow_prior.fitting import fit_flow_prior
from zoo.flow_prior.flow_prior_model import FlowPriorVAE

FAMILY = families.register(families.Family(
    name="flow_vae",
    model_class=FlowPriorVAE,
    summary="VAE whose prior is a normalizing flow (RealNVP or MAF), learned with the model.",
    options=(*families.VAE_OPTIONS,
             families.Option("flow", str, "the prior's flow", ("realnvp", "maf")),
             families.Option("num_flows", int, "flow steps")),
    small_configs={
        "realnvp": dict(latent_dim=8, hidden_dims=(64, 32), flow="realnvp", num_flows=3,
                        flow_hidden_units=(32,), seed=0),
        "maf": dict(latent_dim=8, network="conv", hidden_dims=(8, 16), flow="maf", num_flows=2,
                    flow_hidden_units=(32,), seed=0),
    },
    references=("Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. ICLR 2017.",
                "Papamakarios, Pavlakou, Murray. Masked autoregressive flow. NeurIPS 2017."),
))

__all__ = ["FlowPriorVAE", "fit_flow_prior"]
