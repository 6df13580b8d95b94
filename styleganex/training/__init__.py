"""Training StyleGANEX encoders: every task of the paper and the release, on one process or many.

>>> from styleganex.training import recipe_options, prepare_training
>>> opts = recipe_options("toonify", max_steps=2000)
>>> trainer = prepare_training(opts, "runs/pixar", init="styleganex_inversion.pt",
...                            generator="pixar.pt")          # doctest: +SKIP
>>> result = trainer.run()                                     # doctest: +SKIP

Modules: :mod:`.options` (options and the release's recipes), :mod:`.data` (generated pairs and
folders), :mod:`.augment` (affine + crop), :mod:`.losses`, :mod:`.network` (model building, the
trainable forward), :mod:`.trainer` (the loop), :mod:`.checkpoint` (released layout + resume state),
:mod:`.distributed` (torchrun), :mod:`.prepare` (everything checked before the first step).
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
