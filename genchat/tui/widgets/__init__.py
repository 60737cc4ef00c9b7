"""The widgets the screens are built of: messages and their Markdown, the message list, the
prompt, the status bar, the key bar and the compare panes. Widgets import the layers below the
TUI, never a dialog, a screen or the App."""
