"""The Jinja2 environment of the web UI and the filters its templates use."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from cspr_engine.kit.clock import LONDON

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

SERVICE_NAME = "Child safeguarding practice reviews"


def long_date(value: date | str | None) -> str:
    """`17 June 2026`, as GOV.UK writes dates."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return f"{value.day} {value:%B %Y}"


def long_datetime(value: datetime | None) -> str:
    """`17 June 2026 at 10:00am` in UK time."""
    if value is None:
        return ""
    local = value.astimezone(LONDON)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{suffix}"


def humanise(value: Any) -> str:
    """A stored code as words: `dsp:local_authority` -> `DSP (local authority)`."""
    text = str(value)
    role, _, agency = text.partition(":")
    words = {
        "dsp": "DSP",
        "lsp": "LSP",
        "lcspr": "LCSPR",
        "no_lcspr": "no LCSPR",
        "qpd": "quality and performance",
        "sos": "Secretary of State",
    }
    head = words.get(role, role.replace("_", " "))
    head = head[:1].upper() + head[1:]
    return f"{head} ({agency.replace('_', ' ')})" if agency else head


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters["long_date"] = long_date
    env.filters["long_datetime"] = long_datetime
    env.filters["humanise"] = humanise
    env.globals["service_name"] = SERVICE_NAME
    env.globals["plural"] = plural
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


templates = build_templates()
