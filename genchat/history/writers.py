"""Whether the process that began writing a streaming reply may still be writing it: the store
marks a reply `interrupted` when its writer is gone."""

from __future__ import annotations

import os
import time
from pathlib import Path

_STARTED = time.time()
"""No earlier than this process began: every row it writes is created after this, because
the store writes them. A row of its PID from before is another process's: in a container each
genchat is PID 1, so a bare PID would take the last one's cut-off reply for its own."""

START_SLACK_S = 2.0
"""How much later than a row a live process with the row's PID may have started and still be
taken for its writer: the boot time that start times are counted from is whole seconds."""


def still_writing(pid: object, created: float) -> bool:
    """Whether the process that began writing a `streaming` row at `created` may still be
    writing it: a process with its PID is alive, and did not start after the row was made (a
    PID reused by a later process, as every container's genchat is PID 1)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return created >= _STARTED
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # someone else's process: alive
        pass
    started = _process_start(pid)
    return started is None or started <= created + START_SLACK_S


def _process_start(pid: int) -> float | None:
    """When process `pid` started, as a wall-clock time, where /proc tells (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            line.split()[1]
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        # The fields after the command name, which is in parentheses and may hold spaces:
        # the start time, in clock ticks since boot, is the 22nd field of the line.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return int(boot) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
