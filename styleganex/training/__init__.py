"""Training StyleGANEX encoders: every task of the paper and the release, on one process or many.

>>> from styleganex.training import recipe_options, prepare_training
>>> opts = recipe_options("toonify", max_steps=2000)
>>> trainer = prepare_training(opts, "runs/pixar", init="styleganex_inversion.pt",
...                            generator="pixar.pt")          # doctest: +SKIP
>>> result = trainer.run()                                     # doctest: +SKIP

Modules:

- :mod:`styleganex.training.options` — options and the release's recipes;
- :mod:`styleganex.training.data` — generated pairs and folders;
- :mod:`styleganex.training.augment` — affine + crop;
- :mod:`styleganex.training.losses` — the loss terms;
- :mod:`styleganex.training.network` — model building, the trainable forward;
- :mod:`styleganex.training.trainer` — the loop;
- :mod:`styleganex.training.checkpoint` — released layout + resume state;
- :mod:`styleganex.training.distributed` — torchrun;
- :mod:`styleganex.training.prepare` — everything checked before the first step;
- :mod:`styleganex.training.ranger` — the release's optimiser (RAdam + Lookahead + gradient centralisation);
- :mod:`styleganex.training.discriminator` — the StyleGAN2 discriminator, logistic and R1 losses;
- :mod:`styleganex.training.identity` — the ArcFace IR-SE50 identity loss (pSp's ``model_ir_se50.pth``);
- :mod:`styleganex.training.plot` — the loss curves of a run, as numbers and as a picture.
"""

from .options import (
                      BN_MODES,
                      FOLDER_RECIPES,
                      GENERATED_RECIPES,
                      RECIPE_NAMES,
                      RECIPES,
                      TrainOptions,
                      check_options,
                      options_from_dict,
                      recipe_options,
)
from .prepare import direction_vectors, editing_vector, prepare_training
from .trainer import Trainer, TrainResult, resume_options

__all__ = ["BN_MODES", "FOLDER_RECIPES", "GENERATED_RECIPES", "RECIPES", "RECIPE_NAMES", "TrainOptions",
           "TrainResult", "Trainer", "check_options", "direction_vectors", "editing_vector", "options_from_dict",
           "prepare_training", "recipe_options", "resume_options"]
