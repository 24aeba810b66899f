"""The simulation engine: a numpy reference (the specification) and a numba fast path."""
