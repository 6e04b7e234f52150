"""`python -m transformer …` is the `transformer` command."""

from .cli import main

main()
