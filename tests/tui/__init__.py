"""The terminal interface, driven by Pilot and in a real pty: chat, history, compare, arena,
rendering, key bursts, memory, and snapshots of the main screens."""
