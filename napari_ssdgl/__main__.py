"""``python -m napari_ssdgl``: the ``napari-ssdgl`` command line."""

from .cli import main

raise SystemExit(main())
