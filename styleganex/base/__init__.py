"""Layer 0 of the core: what every other layer leans on, and nothing about models, faces or files' meaning.

- :mod:`~styleganex.base.errors` — the one error family (``StyleGANEXError`` and its subclasses);
- :mod:`~styleganex.base.schema` — checked readers of JSON fields (metadata of checkpoints, latents, directions);
- :mod:`~styleganex.base.validation` — checks of tensors and numbers at the front doors (images, seeds, strengths);
- :mod:`~styleganex.base.filetypes` — what a file is from its first bytes, and messages that never quote them;
- :mod:`~styleganex.base.outputs` — output paths checked before work starts, and atomic writes;
- :mod:`~styleganex.base.catalogue` — the files the project knows by name: official files, hub addresses, licences.
"""
