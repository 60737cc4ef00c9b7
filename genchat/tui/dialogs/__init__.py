"""Dialogs: modal screens that ask one thing and return it (a model, a conversation's settings,
a line of text, a choice, a confirmation). A screen pushes the one it needs, with Textual's
`push_screen` callback for the answer. Dialogs import widgets and the layers below the TUI,
never a screen or the App."""
