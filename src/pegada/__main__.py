"""Allows `python -m pegada …` wherever the console script is not on PATH."""

from pegada.cli import main

main()
