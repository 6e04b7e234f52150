"""`python -m transformer …` is the `transformer` command."""

from .cli import main

if __name__ == "__main__":   # not when a worker process (replay --workers) imports it
    main()
