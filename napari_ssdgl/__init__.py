"""napari-ssdgl: hyperspectral image classification with SSDGL.

The engine (``io``, ``datasets``, ``models``, ``training``, ``inference``, ``metrics``,
``modelfile``, ``cli``) imports neither Qt nor napari; ``_napari`` is the thin plugin shell.
"""

__version__ = "0.1.0"
