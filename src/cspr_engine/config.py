"""Settings: every knob is a `CSPR_*` environment variable (or a line in `.env`)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# PROJECT_ROOT, the checkout of an editable install, stays importable from here too.
from cspr_engine.kit.outbound import Destinations
from cspr_engine.resources import PROJECT_ROOT as PROJECT_ROOT
from cspr_engine.resources import WORKFLOWS_DIR

# Words that mark a secret as a placeholder someone forgot to replace.
_PLACEHOLDER = re.compile(r"change|default|example|password|secret|placeholder", re.IGNORECASE)


class ConfigurationError(Exception):
    """A setting the service cannot run with; the message names the setting and the fault."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CSPR_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    database_url: str = "sqlite:///var/cspr.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Whose X-Forwarded-For and X-Forwarded-Proto `serve` believes: the reverse proxy's
    # addresses or networks, comma-separated (deploy/nginx connects from 127.0.0.2 for this);
    # unset, nobody's. Any client can write those headers, and uvicorn's own default would
    # believe every process on the host (127.0.0.1): a proxy that sets them itself is named.
    forwarded_allow_ips: str = Field(default="", max_length=1000)
    environment: Environment = Environment.development
    bootstrap_admin_token: str | None = None
    # Web sign-in: the session cookie is `Secure` when this is set (production requires it),
    # and a session lasts this many hours from sign-in.
    cookie_secure: bool = False
    session_hours: int = Field(default=8, ge=1, le=168)
    # Requests without credentials (sign-in and its page, anything probed with no token or
    # session cookie) one client address may make a minute, before 429; health probes,
    # metrics and static files are outside it.
    anonymous_requests_per_minute: int = Field(default=120, ge=1, le=1_000_000)
    # Every connection `serve` accepts (kit.connections): the largest request head (request
    # line and headers; 431 beyond), how long a client may take to send one (408, or closed
    # when idle), how long a body may stall, how many requests one connection may carry, and
    # how long an idle kept-alive connection stays open.
    max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_requests_per_connection: int = Field(default=1000, ge=1, le=1_000_000)
    keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    # API tokens one user may be given per hour (a stolen session or token cannot mint many).
    token_create_per_hour: int = Field(default=20, ge=1, le=1000)
    scheduler_enabled: bool = True
    sweep_seconds: int = Field(default=30, ge=1, le=3600)
    workflows_dir: Path = WORKFLOWS_DIR
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    # Issue #7 (observability): log lines as JSON objects or text (unset: JSON in production,
    # text elsewhere); `GET /metrics` asks for `Authorization: Bearer <metrics_token>` when
    # the token is set, and is open when it is not (serve it on the internal network only).
    log_format: str | None = Field(default=None, pattern=r"^(json|text)$")
    metrics_token: str | None = Field(default=None, min_length=16, max_length=200)
    # Where people reach this service: every absolute link it writes (calendar feeds, alert
    # e-mails, webhook payloads) starts with it. Unset, it is derived from host and port
    # (`public_base_url`); production requires it, as https. CSPR_PUBLIC_BASE_URL, its
    # earlier name, is still read.
    # (The plugin cannot see that an AliasChoices of names read from the environment is no
    # required keyword: the field has a default.)
    public_url: str | None = Field(  # type: ignore[pydantic-alias]
        default=None,
        validation_alias=AliasChoices("CSPR_PUBLIC_URL", "CSPR_PUBLIC_BASE_URL", "public_url"),
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=500,
    )
    # Which start a configurable clock counts from, by clock key (e.g. {"rapid_review":
    # "notified_on"}); a clock not named here uses its workflow's default.
    clock_start_options: dict[str, str] = Field(default_factory=dict)
    # Alert delivery.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Webhooks go to public https addresses only (kit.outbound); these host names and networks
    # (comma-separated, e.g. `hooks.council.internal,10.20.0.0/16`) are allowed anyway, over
    # http too. Development also allows loopback and plain http.
    webhook_allowed_destinations: str = Field(default="", max_length=2000)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_backoff_seconds: float = Field(default=30.0, gt=0)
    delivery_lease_seconds: int = Field(default=120, ge=5)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # How the connection to the SMTP server is protected: `starttls` (upgrade on the submission
    # port, 587), `tls` (TLS from the first byte, 465) or `none`; unset, `starttls` when
    # CSPR_SMTP_STARTTLS is true, else `none`. TLS always verifies the server's certificate
    # and name, against the system's CA store or this bundle (a partnership's private CA).
    smtp_security: Literal["none", "starttls", "tls"] | None = None
    smtp_ca_file: Path | None = None
    smtp_from: str = "cspr-engine@localhost"
    # Documents attached to cases: kept here (outside the database), at most this large each.
    documents_dir: Path = Path("var/documents")
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=1024**3)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        # psycopg 3 is the one PostgreSQL driver we ship; accept the bare scheme too.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        # uvicorn would take an entry it cannot parse as a name no client ever has: a typo
        # would trust nobody without a word, so it stops the start instead.
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)
        return ",".join(entries)

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        # Outside development a secret must look random; production also needs TLS cookies.
        if self.environment is Environment.development:
            return self
        token = self.bootstrap_admin_token
        if token is not None and (
            len(token) < 32 or len(set(token)) < 10 or _PLACEHOLDER.search(token)
        ):
            raise ValueError(
                f"CSPR_BOOTSTRAP_ADMIN_TOKEN must be at least 32 random characters in "
                f"{self.environment.value} (not a placeholder such as 'changeme')"
            )
        if self.environment is Environment.production and not self.cookie_secure:
            # Over plain HTTP the session cookie would travel in clear: a production service
            # sits behind TLS, so a Secure cookie costs nothing there. (Tests use plain HTTP.)
            raise ValueError("CSPR_COOKIE_SECURE must be true in production")
        if self.environment is Environment.production and not (
            self.public_url and self.public_url.startswith("https://")
        ):
            # Alert e-mails and calendar feeds carry links people open: in production they
            # must name the address people reach, behind TLS, never a derived 127.0.0.1.
            raise ValueError(
                "CSPR_PUBLIC_URL must be set to the service's https:// address in production"
            )
        return self

    @property
    def public_base_url(self) -> str:
        """The start of every absolute link, without a trailing slash: CSPR_PUBLIC_URL, or
        http://HOST:PORT (a wildcard host is reached as 127.0.0.1)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def webhook_destinations(self) -> Destinations:
        development = self.environment is Environment.development
        listed = self.webhook_allowed_destinations
        if development:
            listed += ",127.0.0.0/8,::1/128"
        return Destinations.parse(listed, allow_http=development)

    @property
    def smtp_mode(self) -> Literal["none", "starttls", "tls"]:
        if self.smtp_security is not None:
            return self.smtp_security
        return "starttls" if self.smtp_starttls else "none"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def describe_refusal(exc: ValidationError) -> str:
    """The settings' faults on one line, each naming its CSPR_ variable, for a refusal to start."""
    faults = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        names = [str(part) for part in error["loc"] if isinstance(part, str)]
        if names and not message.startswith("CSPR_"):
            variable = names[0].upper()
            variable = variable if variable.startswith("CSPR_") else f"CSPR_{variable}"
            message = f"{variable}: {message}"
        faults.append(message)
    return "; ".join(faults)


@lru_cache
def get_settings() -> Settings:
    return Settings()
