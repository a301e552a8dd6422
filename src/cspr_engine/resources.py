"""Where the files the service reads at run time live.

The repository keeps the workflow definitions (`workflows/`, the bank-holiday calendars in
`workflows/calendars/`), the Alembic migrations (`migrations/`) and Alembic's settings
(`alembic.ini`) at its top level: those are the ones to edit. A built package carries copies of
them in `cspr_engine/bundled/` (setup.py puts them there), so an installed service needs no
checkout; an editable install has no copies and reads the repository's own. The web UI's
templates and built assets are package files either way (web/templating.py).

CSPR_WORKFLOWS_DIR (`config.Settings.workflows_dir`) points the service at other workflow
files.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The repository an editable install runs from (src/cspr_engine/..).
PROJECT_ROOT = PACKAGE_DIR.parents[1]
BUNDLED_DIR = PACKAGE_DIR / "bundled"


def _located(name: str) -> Path:
    bundled = BUNDLED_DIR / name
    return bundled if bundled.exists() else PROJECT_ROOT / name


WORKFLOWS_DIR = _located("workflows")
MIGRATIONS_DIR = _located("migrations")
ALEMBIC_INI = _located("alembic.ini")
# The repository itself, for the developers' commands (`cspr-engine openapi` writes a file
# there); None in an installed package.
CHECKOUT = (
    PROJECT_ROOT
    if not BUNDLED_DIR.exists() and (PROJECT_ROOT / "pyproject.toml").is_file()
    else None
)
