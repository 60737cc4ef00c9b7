"""The command line, one of genchat's two faces (the other is `genchat.tui`).

- `main`: the `genchat` console script; `run` parses and runs one command.
- `parser`: the whole command line, built lazily, and the table of commands.
- `exits`: the exit codes; `runner`: running a coroutine or the TUI, and what stdout needs.
- One module per command group: `ask`, `chat` (`genchat`, `compare`), `arena` (`arena`,
  `leaderboard`, `votes`), `history` (`history`, `export`, `import`), `configure` (`models`,
  `plugins`, `config`).

May import every other layer of genchat; nothing imports it. Importing this package imports
only what `genchat --help` needs: each command's own module is imported when it runs.
"""

from __future__ import annotations

from genchat.cli.main import main, run

__all__ = ["main", "run"]
