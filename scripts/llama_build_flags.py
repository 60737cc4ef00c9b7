"""Print the CMAKE_ARGS that llama-cpp-python should be compiled with on this machine.

llama-cpp-python compiles llama.cpp for the CPU it is installed on (`-march=native`). Some
virtual machines report Intel AMX in the CPU flags without enabling it, and llama.cpp's AMX
kernels then die with "Illegal instruction" at the first reply. Where the CPU reports AMX, this
prints flags that leave AMX out (GCC and Clang honour `-mno-…` over `-march=native` in any
order); everywhere else it prints nothing, and the build is the default one.

Used by the README's install commands and by `.ci/run`:

    CMAKE_ARGS="$(python3 scripts/llama_build_flags.py)" pip install .
"""

from __future__ import annotations

import platform
from pathlib import Path

NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them; empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def build_flags() -> str:
    """The CMake arguments for this machine: AMX left out where the CPU reports it."""
    if platform.machine() not in ("x86_64", "AMD64") or not any(
        flag.startswith("amx") for flag in cpu_flags()
    ):
        return ""
    return f'-DCMAKE_C_FLAGS="{NO_AMX}" -DCMAKE_CXX_FLAGS="{NO_AMX}"'


if __name__ == "__main__":
    print(build_flags())
