"""The Textual user interface. The only part of genchat that imports Textual.

Textual reads `TEXTUAL_FPS` once, when it is first imported, so genchat's default is set here,
before any module of this package imports it; a user's own setting wins. Why 120 frames a
second and not Textual's 60: `genchat.tui.widgets.echo`.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
