"""Layer 4: what users run, each step taking and returning images in 0..1.

- :mod:`~styleganex.pipelines.encode_decode` — encode frames, decode latents (padding, progress, cancel);
- :mod:`~styleganex.pipelines.inversion` and :mod:`~styleganex.pipelines.lpips` — the second step of the
  two-step inversion (optimising f, w+ and noise against LPIPS);
- :mod:`~styleganex.pipelines.editing` and :mod:`~styleganex.pipelines.sefa` — directions, style mixing, SeFa;
- :mod:`~styleganex.pipelines.translation` and :mod:`~styleganex.pipelines.degradation` — super-resolution,
  sketch/mask to face, and the release's degradations;
- :mod:`~styleganex.pipelines.video` — video editing and toonification with tracked faces;
- :mod:`~styleganex.pipelines.latent_files` — saving and loading latents;
- :mod:`~styleganex.pipelines.metrics` — L2, LPIPS, identity, PSNR and SSIM of results against targets.
"""
