"""``python -m napari_ssdgl._napari.launch``: napari with the synthetic scene and the SSDGL dock.

This is what ``make run`` opens; pass a sample key (``indian_pines``, ...) for another scene.
"""

from __future__ import annotations

import sys

import napari


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    scene = args[0] if args else "synthetic"
    viewer = napari.Viewer(title="napari-ssdgl")
    viewer.open_sample("napari-ssdgl", scene)
    viewer.window.add_plugin_dock_widget("napari-ssdgl", "SSDGL classifier")
    napari.run()


if __name__ == "__main__":
    main()
