"""``python -m beslut.cli``: the same entry point as the ``beslut`` console script."""

from beslut.cli import main

main()
