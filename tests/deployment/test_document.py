"""docs/deployment.md, the files of deploy/ and the topology test agree: each file is in the
document as it stands; every shell command of the document is in a script the topology test
runs, and it runs every one; the units run the documented commands; the example settings are
complete, refused as shipped, and the limits nginx enforces are the service's own."""

from __future__ import annotations

import ast
import re
import secrets
import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from cspr_engine import cli
from cspr_engine.config import Settings
from cspr_engine.db import build_engine
from cspr_engine.documents.upload import MULTIPART_ENVELOPE, UPLOAD_PATHS
from tests.deployment import commands

DOC = commands.DOC.read_text(encoding="utf-8")
SITE = commands.NGINX_SITE.read_text(encoding="utf-8")
EXAMPLE_TEXT = commands.ENV_EXAMPLE.read_text(encoding="utf-8")
EXAMPLE = commands.environment_file(EXAMPLE_TEXT)
DEPLOY_FILES = sorted(p for p in commands.DEPLOY.rglob("*") if p.is_file())
FILE_TEXTS = {p.read_text(encoding="utf-8").removesuffix("\n") for p in DEPLOY_FILES}
# Set by the units themselves: never in the settings file.
SET_BY_UNITS = {"CSPR_HOST", "CSPR_PORT", "CSPR_SCHEDULER_ENABLED"}


def env_names() -> list[str]:
    return [f"CSPR_{name.upper()}" for name in Settings.model_fields]


def nginx(directive: str, text: str = SITE) -> list[str]:
    """The values of every `directive` line of the site (or of `text`)."""
    return re.findall(rf"^\s*{re.escape(directive)}\s+([^;{{}}\n]+);", text, re.MULTILINE)


def nginx_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


# -- the document and the files ---------------------------------------------------------------


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(p.relative_to(commands.ROOT)))
def test_each_deploy_file_is_in_the_document_as_it_stands(path: Path) -> None:
    text = path.read_text(encoding="utf-8").removesuffix("\n")
    blocks = [body for _language, body in commands.fenced_blocks(DOC)]
    assert text in blocks, f"docs/deployment.md does not show {path.name} as it stands"
    assert f"`{path.relative_to(commands.ROOT)}`" in DOC


def test_every_shell_command_of_the_document_is_one_the_topology_test_runs() -> None:
    scripts = [s for s in commands.shell_blocks(DOC) if s not in FILE_TEXTS]
    assert scripts, "no shell block found"
    run = set(commands.SCRIPTS.values())
    runs_commands = {c for script in run for c in commands.commands(script)}
    for script in scripts:
        for command in commands.commands(script):
            assert command in runs_commands, f"not run by the topology test: {command}"
        assert script in run, f"a block the topology test does not run as a whole:\n{script}"
    assert set(scripts) == run, f"in SCRIPTS, not in the document: {run - set(scripts)}"
    (sql,) = [body for language, body in commands.fenced_blocks(DOC) if language == "sql"]
    assert sql == commands.SQL


def test_the_topology_test_runs_every_script_and_the_role() -> None:
    source = (Path(__file__).parent / "test_topology.py").read_text(encoding="utf-8")
    called = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run_script"
        and isinstance(node.args[0], ast.Constant)
    }
    assert called == set(commands.SCRIPTS)
    assert "commands.SQL" in source


def test_the_readme_links_the_document() -> None:
    readme = (commands.ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/deployment.md)" in readme


def test_the_settings_table_names_every_setting() -> None:
    section = DOC.split("## Settings in production", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `CSPR_")]
    named = {name for row in rows for name in re.findall(r"`(CSPR_[A-Z0-9_]+)`", row.split("|")[1])}
    assert set(env_names()) <= named, set(env_names()) - named


# -- the units --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(commands.EXEC_STARTS))
def test_each_unit_runs_its_documented_command(name: str) -> None:
    service = commands.unit(commands.UNITS / name)["Service"]
    assert service["ExecStart"] == [commands.EXEC_STARTS[name]]
    assert service["EnvironmentFile"] == [commands.ENV_FILE]
    assert service["WorkingDirectory"] == [commands.SRV]
    argv = shlex.split(commands.EXEC_STARTS[name].replace("%i", "8001"))
    assert argv[0] == commands.INSTALLED
    parsed = cli.build_parser().parse_args(argv[1:])
    expected = {"migrate": cli.cmd_migrate, "serve": cli.cmd_serve, "worker": cli.cmd_worker}
    assert parsed.func is expected[argv[1]]
    if argv[1] == "serve":
        assert (parsed.host, parsed.port) == ("127.0.0.1", 8001)
        assert service["Environment"] == ["CSPR_SCHEDULER_ENABLED=false"]
    else:
        assert "Environment" not in service
    if argv[1] != "migrate":
        unit = commands.unit(commands.UNITS / name)["Unit"]
        assert unit["Requires"] == ["cspr-engine-migrate.service"]
        assert "cspr-engine-migrate.service" in unit["After"][0].split()


def test_the_target_wants_the_migration_both_web_processes_and_the_worker() -> None:
    (wants,) = commands.unit(commands.UNITS / "cspr-engine.target")["Unit"]["Wants"]
    web = [f"cspr-engine-web@{port}.service" for port in commands.WEB_PORTS]
    expected = ["cspr-engine-migrate.service", *web, "cspr-engine-worker.service"]
    assert wants.split() == expected
    assert {p.name for p in commands.UNITS.iterdir()} == {
        *commands.EXEC_STARTS,
        "cspr-engine.target",
    }


def test_the_wrapper_runs_the_installed_command_with_the_units_settings() -> None:
    text = commands.WRAPPER.read_text(encoding="utf-8")
    assert f". {commands.ENV_FILE}\n" in text
    assert f"cd {commands.SRV}\n" in text
    assert text.rstrip().endswith(f'exec {commands.INSTALLED} "$@"')
    assert commands.WRAPPER.stat().st_mode & 0o111, "the wrapper is not executable"


# -- the settings -----------------------------------------------------------------------------


def test_the_example_names_every_setting_and_sets_none_the_units_set() -> None:
    mentioned = set(re.findall(r"CSPR_[A-Z0-9_]+", EXAMPLE_TEXT))
    assert set(env_names()) - SET_BY_UNITS <= mentioned, set(env_names()) - mentioned
    assert not SET_BY_UNITS & set(EXAMPLE)
    assert set(EXAMPLE) <= set(env_names()) | {"CSPR_PUBLIC_URL"}


def _production(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [*env_names(), "CSPR_PUBLIC_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_example_is_refused_until_its_placeholders_are_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="CSPR_BOOTSTRAP_ADMIN_TOKEN"):
        _production(EXAMPLE, monkeypatch)
    mine = {
        k: secrets.token_urlsafe(33) if v.startswith("changeme") else v for k, v in EXAMPLE.items()
    }
    mine["CSPR_DATABASE_URL"] = mine["CSPR_DATABASE_URL"].replace("changeme", "s3cr3t-pw")
    settings = _production(mine, monkeypatch)
    assert settings.environment.value == "production"
    assert settings.cookie_secure
    assert settings.public_base_url == commands.PUBLIC_URL
    assert settings.log_format == "json"
    assert settings.smtp_mode == "starttls"


# -- nginx and the service's limits -----------------------------------------------------------


def test_the_body_limits_are_the_services_own() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    body = int(EXAMPLE["CSPR_MAX_BODY_BYTES"])
    assert body == defaults.max_body_bytes
    (site_wide,) = nginx("client_max_body_size", SITE.split("location", 1)[0])
    assert nginx_bytes(site_wide) == body
    document = int(EXAMPLE["CSPR_MAX_DOCUMENT_BYTES"])
    assert document == defaults.max_document_bytes
    (block,) = re.findall(r"location ~ \S+ \{(.*?)\}", SITE, re.DOTALL)
    (upload,) = nginx("client_max_body_size", block)
    assert nginx_bytes(upload) == document + MULTIPART_ENVELOPE


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/6b1c/documents",
        "/ui/cases/TW-2026-0001/documents",
        "/api/v1/cases/6b1c/documents/9f2e",
        "/api/v1/cases/documents",
        "/api/v1/cases/6b1c/documents/",
        "/ui/cases/a/b/documents",
    ],
)
def test_nginx_allows_documents_on_the_services_upload_paths_alone(path: str) -> None:
    (pattern,) = re.findall(r"location ~ (\S+) \{", SITE)
    service = any(re.match(p, path) for p in UPLOAD_PATHS)
    assert bool(re.match(pattern, path)) == service


def test_the_proxy_sets_the_forwarded_headers_and_the_service_believes_only_it() -> None:
    headers = dict(value.split(None, 1) for value in nginx("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # never the client's own header
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$http_host"
    assert headers["Forwarded"] == '""'
    (bind,) = nginx("proxy_bind")
    assert EXAMPLE["CSPR_FORWARDED_ALLOW_IPS"] == bind
    assert bind != "127.0.0.1"  # the processes' own address: any local client has it
    assert Settings(_env_file=None).forwarded_allow_ips == ""  # type: ignore[call-arg]


def test_the_upstreams_redirect_and_keepalive_fit_the_units_and_settings() -> None:
    servers = nginx("server")
    assert servers == [f"127.0.0.1:{port}" for port in commands.WEB_PORTS]
    redirect = nginx("return")[0]  # the port-80 server's
    assert redirect == f"301 {EXAMPLE['CSPR_PUBLIC_URL']}$request_uri"
    upstream = SITE.split("upstream cspr_engine {", 1)[1].split("}", 1)[0]
    (idle,) = nginx("keepalive_timeout", upstream)
    # The processes' keep-alive: the setting where the service has it, else uvicorn's 5 s.
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    keep_alive = float(
        EXAMPLE.get("CSPR_KEEP_ALIVE_SECONDS", getattr(defaults, "keep_alive_seconds", 5))
    )
    assert float(idle.removesuffix("s")) < keep_alive


def test_the_role_has_room_for_every_process_pool() -> None:
    (limit,) = re.findall(r"CONNECTION LIMIT (\d+)", commands.SQL)
    engine = build_engine("postgresql+psycopg://u@127.0.0.1:1/d")  # never connected
    pool = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
    processes = len(commands.WEB_PORTS) + 1
    assert processes * pool + 10 <= int(limit)
    assert f"{processes * pool}" in DOC
