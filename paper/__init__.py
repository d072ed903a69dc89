"""The paper: figures and tables drawn from the committed results, and the LaTeX around them.

`python -m paper.tables OUT` writes the tables and ``numbers.tex`` (one macro per number the
prose uses); `python -m paper.figures OUT` writes the figures; `make paper` runs both and
builds ``paper/build/main.pdf``.
"""
