"""Paper reproductions: each module is run as ``python -m reproductions.<name>`` from the repository root, prints
its table and writes the same text to its docs/results/ file (``--out``; see :mod:`reproductions.report`)."""
