"""`python -m openhoi` is the same as the `openhoi` console script."""

from openhoi.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
