"""The deployment's files (deploy/) and the commands of docs/deployment.md, in one place for
the two tests that must agree on them: the document's test checks that every shell block of
the document is one of SCRIPTS and that each unit's ExecStart is in EXEC_STARTS; the topology
test runs every script and every unit, with its own ports and paths in place of the host's
below."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deployment.md"
NGINX_SITE = DEPLOY / "nginx" / "cspr-engine.conf"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "cspr-engine.env.example"
WRAPPER = DEPLOY / "bin" / "cspr-engine"

# The documented host: its name and places, which the topology test replaces with its own.
PUBLIC_URL = "https://cspr.example.org"
ENV_FILE = "/etc/cspr-engine/cspr-engine.env"
SRV = "/srv/cspr-engine"
INSTALLED = f"{SRV}/venv/bin/cspr-engine"
BACKUPS = "/var/backups/cspr-engine"
WEB_PORTS = (8001, 8002)

EXEC_STARTS = {
    "cspr-engine-migrate.service": f"{INSTALLED} migrate",
    "cspr-engine-web@.service": f"{INSTALLED} serve --host 127.0.0.1 --port %i",
    "cspr-engine-worker.service": f"{INSTALLED} worker",
}


# Each shell block of docs/deployment.md, as it stands there; `cspr-engine` is the wrapper
# (deploy/bin/cspr-engine), `nginx` the host's.
def _script(text: str) -> str:
    return text.removeprefix("\n").removesuffix("\n")


SCRIPTS: dict[str, str] = {
    "token": "openssl rand -hex 24",
    "check": "cspr-engine check-workflows",
    "nginx": "nginx -t",
    "ready": f"curl -fsS {PUBLIC_URL}/readyz",
    "first partnership": _script(f"""
ADMIN_TOKEN=$(sed -n 's/^CSPR_BOOTSTRAP_ADMIN_TOKEN=//p' {ENV_FILE})
curl -fsS {PUBLIC_URL}/api/v1/partnerships \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\
  -d '{{"code": "LSCP", "name": "Example Safeguarding Children Partnership"}}'
curl -fsS {PUBLIC_URL}/api/v1/users \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\
  -d '{{"email": "admin@lscp.example.org", "display_name": "Partnership administrator",
       "partnership": "LSCP", "roles": ["admin"]}}'
read -rsp 'Password for admin@lscp.example.org: ' PASSWORD
cspr-engine admin set-password admin@lscp.example.org --password-stdin <<< "$PASSWORD"
"""),
    "metrics": _script(f"""
METRICS_TOKEN=$(sed -n 's/^CSPR_METRICS_TOKEN=//p' {ENV_FILE})
curl -fsS -H "Authorization: Bearer $METRICS_TOKEN" http://127.0.0.1:8001/metrics \\
  | grep '^cspr_build_info'
curl -fsS -H "Authorization: Bearer $METRICS_TOKEN" http://127.0.0.1:8002/metrics \\
  | grep '^cspr_build_info'
"""),
    "backup": f"cspr-engine admin backup {BACKUPS}/cspr-engine-$(date +%F).dump",
    "migrate": "cspr-engine migrate",
}
# The PostgreSQL role and database of docs/deployment.md, as its ```sql block has them.
ROLE = "cspr_engine"
SQL = _script("""
CREATE ROLE cspr_engine LOGIN PASSWORD 'changeme' CONNECTION LIMIT 80;
CREATE DATABASE cspr_engine OWNER cspr_engine;
""")
# The partnership and its administrator that "first partnership" makes.
PARTNERSHIP = "LSCP"
PARTNERSHIP_ADMIN = "admin@lscp.example.org"


# -- reading the files ------------------------------------------------------------------------

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block, the text without its last newline."""
    return [(m.group(1), m.group(2).removesuffix("\n")) for m in _BLOCK.finditer(markdown)]


def shell_blocks(markdown: str) -> list[str]:
    """The scripts of the ```sh blocks, and of the ```console blocks their `$ ` lines."""
    scripts = []
    for language, text in fenced_blocks(markdown):
        if language == "sh":
            scripts.append(text)
        elif language == "console":
            lines = [line[2:] for line in text.splitlines() if line.startswith("$ ")]
            scripts.append("\n".join(lines))
    return scripts


def commands(script: str) -> list[str]:
    """A script's commands, one a line: continuation lines joined, a JSON body's lines too
    (a quoted string left open goes on), blank lines and comments left out."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\") or pending.count("'") % 2:
            continue
        if pending.strip() and not pending.lstrip().startswith("#"):
            found.append(pending)
        pending = ""
    assert not pending, f"a command does not end: {pending!r}"
    return found


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> directive -> its values, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: a directive outside a section: {line}"
        assert not line.endswith("\\"), f"{path.name}: keep each directive on one line"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


_PLAIN_VALUE = re.compile(r"[^\s'\"\\$`]*")
_QUOTED_VALUE = re.compile(r"'[^']*'")
_NAME = re.compile(r"CSPR_[A-Z0-9_]+")


def environment_file(text: str) -> dict[str, str]:
    """An EnvironmentFile in the form systemd and `sh` read alike: KEY=value lines, a value
    plain (no blanks, quotes, backslashes, `$` or backquotes) or wholly in single quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        assert equals, f"line {number}: not NAME=value: {raw!r}"
        assert _NAME.fullmatch(key), f"line {number}: not a CSPR_ setting: {raw!r}"
        if _QUOTED_VALUE.fullmatch(value):
            value = value[1:-1]
        else:
            assert _PLAIN_VALUE.fullmatch(value), f"line {number}: quote the value: {raw!r}"
        assert key not in values, f"line {number}: {key} set twice"
        values[key] = value
    return values


def render_environment_file(values: dict[str, str]) -> str:
    """`values` as an EnvironmentFile that environment_file() reads back unchanged."""
    lines = []
    for key, value in values.items():
        shown = value if _PLAIN_VALUE.fullmatch(value) else f"'{value}'"
        assert "'" not in value or shown == value, f"{key}: cannot be written"
        lines.append(f"{key}={shown}")
    text = "\n".join(lines) + "\n"
    assert environment_file(text) == values
    return text
