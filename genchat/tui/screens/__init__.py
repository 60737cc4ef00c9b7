"""The app's full screens: chat, history, compare, its summary, arena and leaderboard.

Each is given its services in its constructor (`genchat.tui.services`) and opens another by
posting a `genchat.tui.navigation` message, which the App answers. A screen imports dialogs,
widgets and the layers below the TUI; never another screen or the App (import-linter holds
this).
"""
