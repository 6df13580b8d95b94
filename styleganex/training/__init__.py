"""Layer 5: training the StyleGANEX encoder (issue 22).

- :mod:`~styleganex.training.ranger` — the release's optimiser (RAdam + Lookahead + gradient centralisation);
- :mod:`~styleganex.training.discriminator` — the StyleGAN2 discriminator and its losses (logistic, R1);
- :mod:`~styleganex.training.identity` — the ArcFace IR-SE50 identity loss (pSp's ``model_ir_se50.pth``).
"""
