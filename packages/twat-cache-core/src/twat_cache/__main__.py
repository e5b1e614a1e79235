"""`python -m twat_cache` and the `twat-cache` console script: see `twat_cache.cli`."""

from __future__ import annotations

import sys

from twat_cache.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
