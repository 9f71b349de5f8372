"""napari plugin shell: reader, writer, sample data and the SSDGL dock widget."""
