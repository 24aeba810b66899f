"""Figures of the paper: one shared style (style.py), pure plotting functions (plots.py).
paper_figs/figNN_*.py load stored study results, plot and save; `simrl figs` runs them."""
