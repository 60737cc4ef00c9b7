"""What the user can talk to: the config file (`config`, validated with pydantic, each mistake
named by its key) and the profiles it and the plugins define, each with its backend
(`profile`).

May import the vocabulary, `genchat.backends` (the options each backend takes) and the plugin
loader; never a face (`cli`, `tui`).
"""
