"""Tests of the parts without a face: replies, ratings, the config, the history store, text
cleaning, and the package itself (its layers, its start-up imports, its docs)."""
