"""``python -m napari_ssdgl``: the ``napari-ssdgl`` command line."""

from napari_ssdgl.cli import main

raise SystemExit(main())
