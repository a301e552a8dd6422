"""A built package carries the repository's run-time files: copies of `workflows/`,
`migrations/` and `alembic.ini` in `cspr_engine/bundled/`, where cspr_engine.resources finds
them. Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# The names cspr_engine/resources.py looks for in cspr_engine/bundled/.
BUNDLED = ("workflows", "migrations", "alembic.ini")


class BuildPyWithBundled(build_py):
    """build_py, then the bundled copies, made afresh (nothing left from an earlier build). An
    editable install gets none: it reads the repository's own files."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "cspr_engine" / "bundled"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in BUNDLED:
            source = HERE / name
            if source.is_dir():
                skip = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(source, target / name, ignore=skip)
            else:
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithBundled})
