"""Check that the wheel a plain `pip install .` builds ships genchat's data files.

The README's run command installs genchat from a wheel, where only the files that
`[tool.setuptools.package-data]` names are copied; the tests run on an editable install, which
sees every file in the tree, so a data file that the wheel drops would pass every test and
break the app. `.ci/run` runs this.

    .venv/bin/python scripts/check_wheel.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = (
    "genchat/py.typed",
    "genchat/tui/genchat.tcss",
    "genchat/backends/lora/tldr/adapter_config.json",
    "genchat/backends/lora/tldr/adapter_model.safetensors",
    "genchat/backends/lora/tldr/NOTICE.md",
)
"""What the installed app reads from its own package: the stylesheet and the demo adapter."""


def main() -> int:
    with tempfile.TemporaryDirectory() as temporary:
        # Built from a copy: a build writes `build/` and `*.egg-info` beside its sources, and
        # an egg-info in the checkout would be a second genchat for importlib.metadata.
        source, out = Path(temporary) / "source", Path(temporary) / "wheel"
        shutil.copytree(
            ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__")
        )
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--quiet", "--wheel-dir", str(out), str(source)],
            check=True,
        )  # fmt: skip
        [wheel] = out.glob("genchat-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in SHIPPED if name not in names]
    if missing:
        print(f"the wheel lacks: {', '.join(missing)}", file=sys.stderr)
        print("name them in pyproject.toml's [tool.setuptools.package-data]", file=sys.stderr)
        return 1
    print(f"the wheel ships {len(SHIPPED)} data files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
