"""Layer 2: files users hand us and files we write, each read as untrusted input.

- :mod:`~styleganex.io.images` — reading photos (pixel cap, truncation) and writing images;
- :mod:`~styleganex.io.video_files` — reading and writing video files, frame by frame;
- :mod:`~styleganex.io.paths` — the models folder, the official files' catalogue and the opt-in hub download;
- :mod:`~styleganex.io.directions` — every public format of latent direction files.
"""
