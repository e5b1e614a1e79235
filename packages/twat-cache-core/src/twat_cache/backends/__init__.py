"""Backends built into the core (only functools: everything else is a plugin distribution)."""
