"""Backends: the contract in `base`, and the built-in backends, each registered as a plugin."""
