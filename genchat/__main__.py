"""`python -m genchat` runs the command line."""

from genchat.cli import main

main()
