"""Tables: partnerships (tenants), users with roles and an agency, hashed API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class Partnership(SQLModel, table=True):
    __tablename__ = "partnerships"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partnership_id: uuid.UUID | None = Field(
        default=None, foreign_key="partnerships.id", ondelete="RESTRICT", index=True
    )
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=200)
    roles: list[str] = Field(default_factory=list, sa_type=json_type())
    agency: str | None = Field(default=None, max_length=32)
    is_platform_admin: bool = False
    # A partner agency's case system: signs in with API tokens only, never a password.
    is_service_account: bool = False
    is_active: bool = True
    # argon2id; None for service accounts and for people who have not set one yet.
    password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    # SHA-256 of the secret: tokens are long random strings, so a fast hash is enough.
    token_hash: str = Field(max_length=64, unique=True)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random secret; only its hash is kept."""

    __tablename__ = "web_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInAttempt(SQLModel, table=True):
    """Failed and successful sign-ins, for backoff after repeated failures (by e-mail)."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email_at", "email", "at"),
        Index("ix_sign_in_attempts_client_at", "client", "at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320)
    client: str | None = Field(default=None, max_length=64)
    succeeded: bool
    at: datetime = Field(sa_type=UTCDateTime)
