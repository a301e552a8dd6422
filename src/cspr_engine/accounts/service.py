"""Accounts: partnerships, users and tokens, and turning a bearer token into an Actor."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import ApiToken, Partnership, User
from cspr_engine.accounts.schemas import Actor, Agency, Role
from cspr_engine.errors import Unauthenticated, Unprocessable

TOKEN_PREFIX = "cspr_"
LAST_USED_PRECISION = timedelta(minutes=5)
PLATFORM_ADMIN_EMAIL = "platform-admin@localhost"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_partnership(*, session: Session, code: str, name: str, now: datetime) -> Partnership:
    code = code.strip().upper()
    if not code.isalnum() or not 2 <= len(code) <= 16:
        raise Unprocessable("A partnership code is 2 to 16 letters or digits.")
    if session.exec(select(Partnership).where(col(Partnership.code) == code)).first():
        raise Unprocessable(f"Partnership {code} already exists.")
    partnership = Partnership(code=code, name=name.strip(), created_at=now)
    session.add(partnership)
    session.flush()
    return partnership


def create_user(
    *,
    session: Session,
    email: str,
    display_name: str,
    partnership: Partnership | None,
    roles: list[str],
    agency: str | None,
    now: datetime,
    is_platform_admin: bool = False,
) -> User:
    """A user of one partnership (a platform admin belongs to none)."""
    unknown = [r for r in roles if r not in Role.__members__]
    if unknown:
        raise Unprocessable(f"Unknown role(s): {', '.join(unknown)}.")
    if agency is not None and agency not in Agency.__members__:
        raise Unprocessable(f"Unknown agency {agency!r}.")
    if partnership is None and not is_platform_admin:
        raise Unprocessable("A user other than a platform admin belongs to a partnership.")
    if "dsp" in roles and agency not in ("local_authority", "police", "health"):
        raise Unprocessable("A DSP acts for local_authority, police or health.")
    email = email.strip().lower()
    if session.exec(select(User).where(col(User.email) == email)).first():
        raise Unprocessable(f"A user with e-mail {email} already exists.")
    user = User(
        email=email,
        display_name=display_name.strip(),
        partnership_id=partnership.id if partnership else None,
        roles=sorted(set(roles)),
        agency=agency,
        is_platform_admin=is_platform_admin,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def create_token(
    *,
    session: Session,
    user: User,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
    secret: str | None = None,
) -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept."""
    secret = secret or new_token_secret()
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100],
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, secret


def ensure_bootstrap_admin(*, session: Session, secret: str, now: datetime) -> User | None:
    """Create the platform admin holding `secret` as its token, unless a platform admin exists."""
    if session.exec(select(User).where(col(User.is_platform_admin).is_(True))).first():
        return None
    admin = create_user(
        session=session,
        email=PLATFORM_ADMIN_EMAIL,
        display_name="Platform administrator",
        partnership=None,
        roles=["admin"],
        agency=None,
        now=now,
        is_platform_admin=True,
    )
    create_token(session=session, user=admin, name="bootstrap", now=now, secret=secret)
    return admin


def authenticate(*, session: Session, secret: str, now: datetime) -> Actor:
    """The Actor behind a bearer token; Unauthenticated if it is unknown, revoked or expired."""
    row = session.exec(
        select(ApiToken, User, Partnership)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .outerjoin(Partnership, col(Partnership.id) == col(User.partnership_id))
        .where(col(ApiToken.token_hash) == hash_token(secret))
        .where(col(ApiToken.revoked_at).is_(None))
        .where(or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now))
        .where(col(User.is_active).is_(True))
    ).first()
    if row is None:
        raise Unauthenticated("The token is unknown, revoked or expired.")
    token, user, partnership = row
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now
    return Actor(
        user_id=user.id,
        partnership_id=user.partnership_id,
        partnership_code=partnership.code if partnership else None,
        roles=frozenset(user.roles),
        agency=user.agency,
        is_platform_admin=user.is_platform_admin,
        token_id=token.id,
    )
