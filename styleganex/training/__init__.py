"""Training of the StyleGANEX encoder (issue 22): optimiser, discriminator, losses, recipes and the loop."""
