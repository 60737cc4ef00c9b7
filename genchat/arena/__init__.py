"""The blind arena without a screen: its rules, its votes and the ratings they make.

- `votes`: outcomes, which two models meet, whether a reply gave its model away, and a stored
  vote.
- `vote_store`: votes kept in the history database.
- `ratings`: Bradley–Terry ratings with bootstrapped intervals, and Elo; `leaderboard`: the
  ratings as a table, CSV, Markdown and a plot.

May import the vocabulary and `genchat.history`; never a face (`cli`, `tui`).
"""
