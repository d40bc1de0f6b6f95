"""`python -m ernie3_lite.generation`: see `ernie3_lite.generation.cli`."""

from ernie3_lite.generation.cli import main

if __name__ == "__main__":
    main()
