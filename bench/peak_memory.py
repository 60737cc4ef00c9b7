"""How far a process's memory rose while a case ran: Linux's VmHWM, reset by `clear_refs`.

Each benchmark that uses it runs a case in a fresh subprocess, so the peak is the case's own.
"""

from __future__ import annotations

from pathlib import Path


def reset_peak() -> int:
    """Start counting the peak RSS afresh (`clear_refs` 5 resets VmHWM); the RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_bytes("VmRSS")


def peak_since_reset(start: int) -> float:
    """How far the RSS rose above `start` since `reset_peak`, in MB."""
    return max(0, status_bytes("VmHWM") - start) / 1e6


def status_bytes(field: str) -> int:
    """A byte count from /proc/self/status (`VmRSS`, `VmHWM`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise LookupError(field)
