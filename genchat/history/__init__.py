"""The history: every conversation in one SQLite file, saved as it streams.

- `records`: what the store gives back (a conversation, a message, a search hit), its errors,
  and how a row becomes a record, cleaned of control sequences.
- `schema`: the tables and their migrations; `database`: opening the file, or moving a damaged
  one aside; `store`: the conversations and their message trees; `search`: full-text search.
- `recorder`: saving one reply as it streams; `writers`: whether a streaming reply's writer is
  still alive.
- `import_check`: what `genchat import` accepts; `exchange`: exports as JSON and Markdown, and
  a saved comparison brought back; `titles`: a conversation's title from its model.

May import the vocabulary, `genchat.profiles` (settings are checked as the config checks them)
and `genchat.compare` (a saved comparison's Markdown); never a face (`cli`, `tui`).
"""
