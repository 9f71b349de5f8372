"""Reading a result: accuracy metrics, report figures, suggested next labels, spectra (numpy
and matplotlib only: no torch)."""
