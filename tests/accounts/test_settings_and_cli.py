"""Settings refuse weak secrets outside development (and plain-HTTP cookies in production);
`cspr-engine admin set-password` and `create-user --service-account`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from cspr_engine import cli
from cspr_engine.config import Settings
from cspr_engine.db import get_engine
from tests.factories import Api, assert_problem, sign_in

STRONG = "f3Zq9-Lx2vR7_kWm4Pb8NcT1yHs6Ud0Ae5Gj"
PUBLIC = "https://cspr.example.org"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class TestSettings:
    def test_production_needs_secure_cookies(self) -> None:
        with pytest.raises(ValidationError, match="CSPR_COOKIE_SECURE"):
            settings(environment="production", cookie_secure=False, public_url=PUBLIC)
        assert settings(
            environment="production", cookie_secure=True, public_url=PUBLIC
        ).cookie_secure

    @pytest.mark.parametrize("public_url", [None, "http://cspr.example.org"])
    def test_production_needs_an_https_public_url(self, public_url: str | None) -> None:
        with pytest.raises(ValidationError, match="CSPR_PUBLIC_URL"):
            settings(environment="production", cookie_secure=True, public_url=public_url)

    def test_the_public_url_is_derived_from_host_and_port_when_unset(self) -> None:
        assert settings(port=8123).public_base_url == "http://127.0.0.1:8123"
        assert settings(host="0.0.0.0", port=9000).public_base_url == "http://127.0.0.1:9000"
        assert settings(host="::1", port=9000).public_base_url == "http://[::1]:9000"
        chosen = settings(port=8123, public_url="https://cspr.example.org/safeguarding/")
        assert chosen.public_base_url == "https://cspr.example.org/safeguarding"

    def test_the_earlier_setting_name_is_still_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CSPR_PUBLIC_BASE_URL", "https://old-name.example.org")
        assert settings().public_base_url == "https://old-name.example.org"
        monkeypatch.setenv("CSPR_PUBLIC_URL", "https://new-name.example.org")
        assert settings().public_base_url == "https://new-name.example.org"

    @pytest.mark.parametrize("bad", ["cspr.example.org", "ftp://x.example.org", "https://a b"])
    def test_a_public_url_that_is_no_web_address_is_refused(self, bad: str) -> None:
        with pytest.raises(ValidationError, match=r"public_url|CSPR_PUBLIC_URL"):
            settings(public_url=bad)

    @pytest.mark.parametrize("environment", ["development", "test"])
    def test_plain_http_cookies_are_fine_elsewhere(self, environment: str) -> None:
        assert not settings(environment=environment).cookie_secure

    @pytest.mark.parametrize(
        "token",
        [
            "short-token",
            "a" * 40,  # long, but hardly random
            "changeme-changeme-changeme-changeme-1234",
            "my-bootstrap-secret-for-production-2026",
        ],
    )
    @pytest.mark.parametrize("environment", ["test", "production"])
    def test_weak_bootstrap_tokens_are_refused_outside_development(
        self, token: str, environment: str
    ) -> None:
        with pytest.raises(ValidationError, match="CSPR_BOOTSTRAP_ADMIN_TOKEN"):
            settings(
                environment=environment,
                cookie_secure=True,
                public_url=PUBLIC,
                bootstrap_admin_token=token,
            )

    def test_a_weak_token_is_tolerated_in_development(self) -> None:
        chosen = settings(environment="development", bootstrap_admin_token="dev")
        assert chosen.bootstrap_admin_token == "dev"

    def test_a_random_token_is_accepted_in_production(self) -> None:
        chosen = settings(
            environment="production",
            cookie_secure=True,
            public_url=PUBLIC,
            bootstrap_admin_token=STRONG,
        )
        assert chosen.bootstrap_admin_token == STRONG

    def test_session_hours_are_bounded(self) -> None:
        assert settings().session_hours == 8
        with pytest.raises(ValidationError):
            settings(session_hours=0)


def run_cli(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "", tty: bool = False
) -> int:
    fake = io.StringIO(stdin)
    fake.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", fake)
    return cli.main(argv)


class TestSetPassword:
    def test_from_standard_input_then_sign_in(
        self,
        api: Api,
        client: TestClient,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        password = "a long enough password"
        code = run_cli(
            monkeypatch,
            ["admin", "set-password", "Chair@TW.example", "--password-stdin"],
            stdin=password + "\n",
        )
        assert code == 0
        out, err = capsys.readouterr()
        assert password not in out + err
        assert "chair@tw.example" in out
        assert sign_in(client, "chair@tw.example", password).status_code == 200

    def test_interactively_without_echo(
        self, api: Api, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        typed = iter(["typed at the terminal", "typed at the terminal"])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
        assert run_cli(monkeypatch, ["admin", "set-password", "chair@tw.example"], tty=True) == 0
        assert sign_in(client, "chair@tw.example", "typed at the terminal").status_code == 200

    def test_two_different_passwords_change_nothing(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        typed = iter(["typed at the terminal", "typed at the terminaL"])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
        assert run_cli(monkeypatch, ["admin", "set-password", "chair@tw.example"], tty=True) == 1
        assert self.hash_of("chair@tw.example") is None

    def test_a_pipe_without_the_flag_is_refused(
        self, api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = run_cli(
            monkeypatch, ["admin", "set-password", "chair@tw.example"], stdin="piped password\n"
        )
        assert code == 1
        assert "--password-stdin" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("email", "password", "code"),
        [
            ("nobody@tw.example", "a long enough password", 1),
            ("chair@tw.example", "too short", 2),
        ],
    )
    def test_refusals(
        self,
        api: Api,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        email: str,
        password: str,
        code: int,
    ) -> None:
        argv = ["admin", "set-password", email, "--password-stdin"]
        assert run_cli(monkeypatch, argv, stdin=password + "\n") == code
        assert password not in capsys.readouterr().err
        assert self.hash_of("chair@tw.example") is None

    def hash_of(self, email: str) -> Any:
        with get_engine().connect() as conn:
            return conn.execute(
                text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}
            ).scalar_one_or_none()


class TestCreateServiceAccount:
    def test_it_gets_tokens_but_never_a_password(
        self,
        api: Api,
        client: TestClient,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        argv = [
            "admin",
            "create-user",
            "--email",
            "cms@police.example",
            "--name",
            "Police case system",
            "--partnership",
            "tw",
            "--roles",
            "referrer",
            "--agency",
            "police",
            "--service-account",
        ]
        assert run_cli(monkeypatch, argv) == 0
        capsys.readouterr()
        assert run_cli(monkeypatch, ["admin", "create-token", "cms@police.example"]) == 0
        token = capsys.readouterr().out.strip()
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["user"]["service_account"] is True
        refused = run_cli(
            monkeypatch,
            ["admin", "set-password", "cms@police.example", "--password-stdin"],
            stdin="a long enough password\n",
        )
        assert refused == 2
        assert "service account" in capsys.readouterr().err
        assert_problem(sign_in(client, "cms@police.example", "a long enough password"), 401)


class TestCommandsOnABadDatabase:
    """An admin command on a database that is not migrated (or not there) says so in one line,
    with no traceback and no database URL, and exits 2."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["admin", "verify-audit"],
            ["admin", "export-audit-heads"],
            ["admin", "create-token", "chair@tw.example"],
        ],
    )
    def test_an_unmigrated_database(self, tmp_path: Path, argv: list[str]) -> None:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env["CSPR_DATABASE_URL"] = url
        done = subprocess.run(
            [sys.executable, "-m", "cspr_engine.cli", *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            "error: the database refused the command (OperationalError): is it running, "
            "and migrated (`cspr-engine migrate`)?"
        )
        assert "Traceback" not in done.stderr
        assert str(tmp_path) not in done.stdout + done.stderr
