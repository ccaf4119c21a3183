"""What a trained model is used for, each built on the model's public methods only.

  - `anomaly`: anomaly scores, a calibrated detector and its evaluation;
  - `imputation`: filling in missing entries (`model.impute`);
  - `denoising`: MAP denoising under a noise model (`model.denoise`);
  - `latent_space`: interpolations and traversals in the latent space;
  - `probes`: classifiers fit on a model's representations, for downstream tasks.
"""
