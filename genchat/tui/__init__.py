"""The Textual user interface. The only part of genchat that imports Textual."""
