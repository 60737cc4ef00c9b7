"""The command line: `genchat ask`, the other commands, and what a pipe, a TTY and signals do
to them."""
