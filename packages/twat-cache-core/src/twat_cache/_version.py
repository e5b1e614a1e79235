"""The version of every twat-cache distribution (they move in lockstep)."""

__version__ = "3.0.0"
