"""Tools for developers, above the runtime (nothing below imports them): small random test models and
generated inputs (:mod:`~styleganex.dev.testing`), the parity runner against the release's fixtures
(:mod:`~styleganex.dev.parity`), and the demos (:mod:`~styleganex.dev.demo`, :mod:`~styleganex.dev.face_demo`).
"""
