"""The service as a council's IT team installs it: a wheel built from the repository, installed
with exactly the locked runtime dependencies into a new virtual environment outside the
repository, then `cspr-engine migrate`, `check-workflows` and `serve` run from a directory that
is not a checkout, on a fresh SQLite file. Nothing of the repository is on that environment's
path: whatever the service reads at run time comes from the installed package."""

from __future__ import annotations

import filecmp
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import (
    ROOT,
    START_SECONDS,
    STOP_SECONDS,
    Server,
    _spawn,
    free_port,
    service_env,
    show_figures,
    stopped_at_exit,
)

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        os.environ.get("CSPR_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="checked once, in the SQLite run (CI runs the suite on SQLite and on PostgreSQL "
        "side by side): the installed package is tried on a SQLite file of its own",
    ),
]

RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
ASSETS = ROOT / "src" / "cspr_engine" / "web" / "static" / "build"
# What a wheel is built from (setup.py copies the top-level run-time files into the package).
BUNDLED = ("workflows", "migrations", "alembic.ini")
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", *BUNDLED)
INSTALL_SECONDS = 300  # one pip or venv step, on a cold cache; a warm one takes seconds


@dataclass
class Installed:
    venv: Path
    site_packages: Path
    elsewhere: Path  # a working directory outside the repository
    seconds: dict[str, float] = field(default_factory=dict)  # each step of the installation

    def command(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """A command that must succeed within INSTALL_SECONDS: its standard output."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env if env is not None else outside_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment (this process's by default) without what would put the repository or
    this test's virtual environment on the new one's path."""
    env = dict(os.environ) if env is None else env
    return {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def pinned_pip() -> str:
    """The pip the Makefile pins, as `make install` installs it."""
    found = re.search(r"^PIP_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found, "the Makefile pins pip as PIP_VERSION"
    return found[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: str) -> dict[str, str]:
    """`name==version` lines (a lock's or `pip freeze`'s) by canonical name."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", lines, re.M)
    return {canonical(name): version for name, version in found}


def files_under(folder: Path) -> list[str]:
    """The files of a folder, as paths relative to it (byte code left out)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    assert (ASSETS / "app.css").is_file(), "the web UI's assets are not built: run `make assets`"
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, source / name)
    started = time.monotonic()
    # Built from a copy: the build writes its build/ there, not in the repository.
    dist = work / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        work,
    )
    (wheel,) = dist.glob("cspr_engine-*.whl")
    built = time.monotonic()

    # As `make install` installs: the pinned pip, the hash-checked lock, the project alone.
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], work)
    python = str(venv / "bin" / "python")
    # --no-compile: byte code is written as modules are first imported (half the install time).
    pip = [python, "-m", "pip", "install", "--quiet", "--no-compile"]
    run([*pip, f"pip=={pinned_pip()}"], work)
    run([*pip, "--require-hashes", "-r", str(RUNTIME_LOCK)], work)
    run([*pip, "--no-deps", str(wheel)], work)
    seconds = {"build": built - started, "install": time.monotonic() - built}
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = Path(run([python, "-c", purelib], work).strip())
    elsewhere = work / "site"
    elsewhere.mkdir()
    return Installed(venv, site_packages, elsewhere, seconds)


def test_the_environment_holds_exactly_the_runtime_lock(installed: Installed, capsys: Any) -> None:
    show_figures(capsys, "wheel, seconds", installed.seconds)
    lines = run([installed.command("python"), "-m", "pip", "freeze"], installed.elsewhere)
    # The project itself, from the wheel's file: `cspr-engine @ file://...whl`.
    project = [line for line in lines.splitlines() if line.startswith("cspr-engine @ file:")]
    assert len(project) == 1, lines
    others = [line for line in lines.splitlines() if line not in project]
    frozen = pins("\n".join(others))
    assert len(frozen) == len(others), lines  # every other line a plain `name==version`
    assert frozen == pins(RUNTIME_LOCK.read_text(encoding="utf-8"))


def test_the_package_reads_its_own_copies_of_the_repository_files(installed: Installed) -> None:
    found = run(
        [
            installed.command("python"),
            "-c",
            "from cspr_engine import resources as r; "
            "print(r.WORKFLOWS_DIR, r.MIGRATIONS_DIR, r.ALEMBIC_INI, r.CHECKOUT, sep='\\n')",
        ],
        installed.elsewhere,
    ).split("\n")
    bundled = installed.site_packages / "cspr_engine" / "bundled"
    assert found[:4] == [str(bundled / name) for name in BUNDLED] + ["None"]
    # The copies are the repository's files, every one of them.
    for name in BUNDLED:
        if (ROOT / name).is_file():
            assert filecmp.cmp(ROOT / name, bundled / name, shallow=False)
            continue
        ours = files_under(ROOT / name)
        assert files_under(bundled / name) == ours
        _, mismatched, errors = filecmp.cmpfiles(ROOT / name, bundled / name, ours, shallow=False)
        assert mismatched == errors == []


def test_the_openapi_developer_command_says_it_needs_a_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [installed.command("cspr-engine"), "openapi", "--check"],
        cwd=installed.elsewhere,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        check=False,
    )
    assert done.returncode == 2
    assert "run it in a checkout" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrate_check_workflows_and_serve_outside_the_repository(installed: Installed) -> None:
    database_url = f"sqlite:///{installed.elsewhere / 'cspr.db'}"
    token = secrets.token_urlsafe(32)
    env = outside_env(service_env(database_url, CSPR_BOOTSTRAP_ADMIN_TOKEN=token))
    cli = installed.command("cspr-engine")

    assert "database migrated to the latest schema" in run(
        [cli, "migrate"], installed.elsewhere, env
    )
    checked = run([cli, "check-workflows"], installed.elsewhere, env)
    assert {line.split(" v")[0] for line in checked.splitlines()} == {"cspr", "child_death_review"}

    port = free_port()
    args = [cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with stopped_at_exit() as keep:
        process, out, err = _spawn(args, env, installed.elsewhere, "installed")
        server = keep(Server("installed", process, out, err, url=f"http://127.0.0.1:{port}"))
        server.wait_ready()
        assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        cases = httpx.get(f"{server.url}/api/v1/cases", headers=auth, timeout=5)
        assert cases.status_code == 200, cases.text
        assert isinstance(cases.json()["items"], list)
        page = httpx.get(f"{server.url}/ui/sign-in", timeout=5)
        assert page.status_code == 200, page.text
        assert 'href="/ui/static/build/app.css"' in page.text
        css = httpx.get(f"{server.url}/ui/static/build/app.css", timeout=5)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        packaged = installed.site_packages / "cspr_engine" / "web" / "static" / "build"
        assert css.content == (packaged / "app.css").read_bytes()

        # A clean stop: the shutdown runs to its end, and the process then ends as the signal
        # ends it (uvicorn raises SIGTERM again once it has shut down, which a supervisor such
        # as systemd counts as a clean stop), or with 0.
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=STOP_SECONDS)
        output = server.output()
        assert code in (0, -signal.SIGTERM), output
        assert "Application shutdown complete" in output, output
        assert "Traceback" not in output, output
