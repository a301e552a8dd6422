"""Accounts: partnerships, users, API tokens, passwords and web sessions; and turning a bearer
token or a session cookie into an Actor. Who may manage whom is decided here too."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.access.policy import Reach
from cspr_engine.accounts import repository
from cspr_engine.accounts.exceptions import (
    EmailTaken,
    PartnershipExists,
    SignInBackoff,
    SignInFailed,
    TokenRateLimited,
)
from cspr_engine.accounts.models import ApiToken, Partnership, SignInAttempt, User, WebSession
from cspr_engine.accounts.schemas import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Actor,
    Agency,
    Role,
)
from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.alerts import service as alerts_service
from cspr_engine.errors import Unauthenticated, Unprocessable
from cspr_engine.kit.clock import window_wait

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cspr_"
# Bookkeeping times (a token's last use, a session's last request) are written at most this
# often, so that authenticating a request is a write only now and then.
LAST_USED_PRECISION = timedelta(minutes=5)
PLATFORM_ADMIN_EMAIL = "platform-admin@localhost"

# Sign-in backoff, by e-mail address: the first few failures within the window are free; after
# that each attempt must wait after the latest failure, twice as long each time, at most the
# window. Refused attempts count as failures, so hammering only extends the wait.
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_FREE_FAILURES = 5
SIGN_IN_FIRST_WAIT = timedelta(minutes=1)
# Failed sign-ins one address may make in the window, whatever the e-mail, before it waits.
ADDRESS_FREE_FAILURES = 20

# argon2id with the library's defaults (RFC 9106's second recommended profile, 64 MiB).
_hasher = PasswordHasher()
# Each argon2 hash or check takes 64 MiB of working memory for its moment: one at a time per
# process keeps the service's resident memory bounded when many people sign in at once (the
# others wait their turn, tens of milliseconds each) instead of growing by 64 MiB per sign-in.
_one_hash_at_a_time = threading.Lock()


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


# -- partnerships and users ---------------------------------------------------------------------


def create_partnership(
    *, session: Session, code: str, name: str, now: datetime, by: Actor | None = None
) -> Partnership:
    code = code.strip().upper()
    if not code.isalnum() or not code.isascii() or not 2 <= len(code) <= 16:
        raise Unprocessable("A partnership code is 2 to 16 letters or digits.")
    if repository.partnership_by_code(session, code) is not None:
        raise PartnershipExists(f"Partnership {code} already exists.", code=code)
    partnership = Partnership(code=code, name=name.strip(), created_at=now)
    session.add(partnership)
    try:
        session.flush()
    except IntegrityError as exc:  # created by a concurrent request since the check above
        raise PartnershipExists(f"Partnership {code} already exists.", code=code) from exc
    _audit(
        session,
        "partnership.created",
        partnership.id,
        by,
        "partnership",
        partnership.id,
        now,
        after={"code": partnership.code, "name": partnership.name},
    )
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
    is_service_account: bool = False,
    by: Actor | None = None,
) -> User:
    """A user of one partnership (a platform admin belongs to none). A service account is a
    partner's case system: it authenticates with API tokens only. Recorded in the
    administrative audit; a service account given a role that reads cases is also told to
    the partnership's panel chair (its tokens will read children's case records)."""
    unknown = [r for r in roles if r not in Role.__members__]
    if unknown:
        raise Unprocessable(f"Unknown role(s): {', '.join(unknown)}.")
    if agency is not None and agency not in Agency.__members__:
        raise Unprocessable(f"Unknown agency {agency!r}.")
    if partnership is None and not is_platform_admin:
        raise Unprocessable("A user other than a platform admin belongs to a partnership.")
    if "dsp" in roles and agency not in ("local_authority", "police", "health"):
        raise Unprocessable("A DSP acts for local_authority, police or health.")
    if is_service_account and is_platform_admin:
        raise Unprocessable("A platform admin is a person, not a service account.")
    email = normalise_email(email)
    if repository.user_by_email(session, email) is not None:
        raise EmailTaken(f"A user with e-mail {email} already exists.")
    user = User(
        email=email,
        display_name=display_name.strip(),
        partnership_id=partnership.id if partnership else None,
        roles=sorted(set(roles)),
        agency=agency,
        is_platform_admin=is_platform_admin,
        is_service_account=is_service_account,
        created_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise EmailTaken(f"A user with e-mail {email} already exists.") from exc
    _audit(
        session,
        "user.created",
        user.partnership_id,
        by,
        "user",
        user.id,
        now,
        after={
            "email": user.email,
            "display_name": user.display_name,
            "roles": user.roles,
            "agency": user.agency,
            "service_account": user.is_service_account,
            "platform_admin": user.is_platform_admin,
        },
    )
    readers = sorted(r for r in user.roles if policy.CASE_READ.get(r, Reach.none) > Reach.none)
    if is_service_account and readers and user.partnership_id is not None:
        _tell_the_chair(
            session,
            "admin.case_reader_created",
            user.partnership_id,
            now,
            subject=(
                f"A service account that reads case records was created: {user.display_name} "
                f"({', '.join(readers)})"
            ),
            user_id=str(user.id),
            roles=readers,
            by=str(by.user_id) if by else None,
        )
    return user


def is_admin(actor: Actor) -> bool:
    """A platform admin, or a partnership's `admin`."""
    return actor.is_platform_admin or ("admin" in actor.roles and actor.partnership_id is not None)


def manages(actor: Actor, user: User) -> bool:
    """Whether `actor` administers `user`: a platform admin everyone, an admin its partnership."""
    if actor.is_platform_admin:
        return True
    return (
        "admin" in actor.roles
        and actor.partnership_id is not None
        and user.partnership_id == actor.partnership_id
    )


def may_manage_tokens_of(actor: Actor, user: User) -> bool:
    """See and revoke: one's own tokens, or (admins) those of any user one administers."""
    return user.id == actor.user_id or manages(actor, user)


def may_issue_token_for(actor: Actor, user: User) -> bool:
    """Issue: for oneself, or (admins) for a service account one administers. An admin may
    not mint a token for a person: it would read cases as them."""
    return user.id == actor.user_id or (user.is_service_account and manages(actor, user))


# -- API tokens ---------------------------------------------------------------------------------


def create_token(
    *,
    session: Session,
    user: User,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
    secret: str | None = None,
    note: str | None = None,
    per_hour: int | None = None,
    by: Actor | None = None,
) -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept. With
    `per_hour`, refuses (429) when the user was given that many tokens in the past hour."""
    if expires_at is not None and expires_at <= now:
        raise Unprocessable("expires_at must be in the future.")
    if not user.is_active:
        raise Unprocessable("The user is disabled.")
    if per_hour is not None:
        _check_token_rate(session=session, user=user, now=now, per_hour=per_hour)
    secret = secret or new_token_secret()
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100],
        token_hash=hash_token(secret),
        note=note,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    _audit(
        session,
        "token.issued",
        user.partnership_id,
        by,
        "token",
        token.id,
        now,
        after={
            "user_id": str(user.id),
            "name": token.name,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        },
    )
    return token, secret


def _check_token_rate(*, session: Session, user: User, now: datetime, per_hour: int) -> None:
    repository.serialise_on(session, f"tokens:{user.id}")
    hour = timedelta(hours=1)
    recent = repository.token_times_since(session, user_id=user.id, since=now - hour)
    if wait := window_wait(recent, per_hour, hour, now):
        raise TokenRateLimited(
            f"At most {per_hour} API tokens may be created for one user per hour.",
            retry_after=wait,
        )


def revoke_token(
    *, token: ApiToken, now: datetime, session: Session | None = None, by: Actor | None = None
) -> None:
    """Revoke `token` (from this instant it authenticates nothing); revoking twice keeps the
    first time. With `session`, recorded in the administrative audit."""
    if token.revoked_at is not None:
        return
    token.revoked_at = now
    if session is not None:
        owner = session.get(User, token.user_id)
        _audit(
            session,
            "token.revoked",
            owner.partnership_id if owner else None,
            by,
            "token",
            token.id,
            now,
            before={"name": token.name, "user_id": str(token.user_id)},
        )


def ensure_bootstrap_admin(*, session: Session, secret: str, now: datetime) -> User | None:
    """Create the platform admin holding `secret` as its token, unless a platform admin exists."""
    if repository.any_platform_admin(session):
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


def _actor(
    user: User,
    partnership: Partnership | None,
    *,
    token_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
) -> Actor:
    return Actor(
        user_id=user.id,
        partnership_id=user.partnership_id,
        partnership_code=partnership.code if partnership else None,
        roles=frozenset(user.roles),
        agency=user.agency,
        is_platform_admin=user.is_platform_admin,
        token_id=token_id,
        session_id=session_id,
    )


def authenticate(*, session: Session, secret: str, now: datetime) -> Actor:
    """The Actor behind a bearer token; Unauthenticated if it is unknown, revoked or expired."""
    found = repository.live_token(session, token_hash=hash_token(secret), now=now)
    if found is None:
        raise Unauthenticated("The token is unknown, revoked or expired.")
    token, user, partnership = found
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now
    return _actor(user, partnership, token_id=token.id)


# -- passwords and web sessions -----------------------------------------------------------------


def hash_password(password: str) -> str:
    with _one_hash_at_a_time:
        return _hasher.hash(password)


@cache
def _stand_in_hash() -> str:
    # Verified against when there is no real hash, so an unknown e-mail costs as much time as
    # a wrong password and the two cannot be told apart by timing.
    with _one_hash_at_a_time:
        return _hasher.hash(secrets.token_urlsafe(24))


def _password_matches(password_hash: str | None, password: str) -> bool:
    stored = password_hash or _stand_in_hash()
    try:
        with _one_hash_at_a_time:
            return _hasher.verify(stored, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def set_password(
    *, session: Session, user: User, password: str, now: datetime, by: Actor | None = None
) -> None:
    """Give `user` a new password (argon2id) and end its open web sessions. Service accounts
    have no password: they use API tokens. Recorded in the administrative audit; set by
    an administrator, it is also told to the partnership's panel chair: whoever knows the
    password can read cases as that person."""
    if user.is_service_account:
        raise Unprocessable("A service account signs in with API tokens, never a password.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Unprocessable(f"A password has at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Unprocessable(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")
    if password.strip().lower() == user.email:
        raise Unprocessable("A password may not be the e-mail address.")
    user.password_hash = hash_password(password)
    for open_session in repository.open_web_sessions(session, user_id=user.id):
        open_session.ended_at = now
    own = by is not None and by.user_id == user.id
    _audit(
        session,
        "password.set",
        user.partnership_id,
        by,
        "user",
        user.id,
        now,
        after={"by_the_person": own, "sessions_ended": True},
    )
    if by is not None and not own and user.partnership_id is not None:
        # (At the command line on the service's own host, an operator's emergency reset is
        # recorded, not alerted: whoever is there holds the database already.)
        who = "an administrator"
        _tell_the_chair(
            session,
            "admin.password_set",
            user.partnership_id,
            now,
            subject=f"The password of {user.display_name} was set by {who}",
            user_id=str(user.id),
            by=str(by.user_id) if by else None,
        )
    session.flush()


def _audit(
    session: Session,
    kind: str,
    partnership_id: uuid.UUID | None,
    by: Actor | None,
    subject_type: str,
    subject_id: uuid.UUID,
    now: datetime,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    admin_audit.record(
        session,
        kind=kind,
        partnership_id=partnership_id,
        actor_id=by.user_id if by else None,
        subject_type=subject_type,
        subject_id=subject_id,
        now=now,
        before=before,
        after=after,
    )


def _tell_the_chair(
    session: Session,
    type: str,
    partnership_id: uuid.UUID,
    now: datetime,
    *,
    subject: str,
    **data: Any,
) -> None:
    alerts_service.enqueue_for_partnership(
        session,
        type=type,
        partnership_id=partnership_id,
        data={"subject": subject, **data},
        now=now,
        recipients=[Role.panel_chair],
    )


def _backoff(failures: list[datetime], free: int, now: datetime) -> timedelta | None:
    """The wait after `failures` (newest first): none for the first `free`, then one that
    doubles with each further failure, from the latest, never longer than the window."""
    if len(failures) < free:
        return None
    wait = min(SIGN_IN_WINDOW, SIGN_IN_FIRST_WAIT * 2 ** (len(failures) - free))
    until = failures[0] + wait
    return until - now if until > now else None


def sign_in_wait(
    *, session: Session, email: str, client: str | None, now: datetime
) -> timedelta | None:
    """How long a sign-in for `email` from the address `client` must still wait, or None when
    one may be tried now. Two counts, both only of attempts that were checked: failures for
    this e-mail from this address (a success from it starts them afresh), so an attacker
    elsewhere cannot lock the person out; and failures from this address for any e-mail, so
    one address cannot try one password against many accounts, or many unknown e-mails."""
    since = now - SIGN_IN_WINDOW
    recent = repository.recent_attempts(
        session, email=email, client=client, since=since, limit=SIGN_IN_FREE_FAILURES + 8
    )
    failures: list[datetime] = []
    for at, succeeded in recent:
        if succeeded:
            break
        failures.append(at)
    from_address = repository.recent_failures_from(
        session, client=client, since=since, limit=ADDRESS_FREE_FAILURES + 8
    )
    waits = [
        w
        for w in (
            _backoff(failures, SIGN_IN_FREE_FAILURES, now),
            _backoff(from_address, ADDRESS_FREE_FAILURES, now),
        )
        if w is not None
    ]
    return max(waits) if waits else None


@dataclass(frozen=True)
class SignInCheck:
    """What the reading half of a sign-in found: who it is for, and whether the password
    matched an active person's."""

    email: str
    client: str | None
    user_id: uuid.UUID | None  # None: the e-mail, the password or the account would not do
    new_hash: str | None = None  # the password hashed again at today's cost, when it needs it


_attempt_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_attempt_locks_guard = threading.Lock()


@contextmanager
def attempt_lock(email: str, client: str | None) -> Iterator[None]:
    """One sign-in at a time for an e-mail from an address, in this process, from its check to
    its record: parallel attempts cannot all pass the backoff before any failure is recorded.
    (Across processes, each may check one more attempt at the same moment.)"""
    key = f"{normalise_email(email)[:320]}\n{client or ''}"
    with _attempt_locks_guard:
        lock = _attempt_locks.get(key)
        if lock is None:
            lock = _attempt_locks[key] = threading.Lock()
    with lock:
        yield


def check_sign_in(
    *, session: Session, email: str, password: str, client: str | None, now: datetime
) -> SignInCheck:
    """The reading half of a sign-in, which writes nothing: the backoff first (SignInBackoff,
    and the password is not even looked at), then the password. A flood of refused attempts
    costs a read each, and the password check (argon2, a third of a second) holds no write
    open: on SQLite that would hold the one write lock from every other user."""
    email = normalise_email(email)[:320]
    client = client[:64] if client else None
    wait = sign_in_wait(session=session, email=email, client=client, now=now)
    if wait is not None:
        log.info("sign-in refused: backing off after repeated failures")
        raise SignInBackoff(
            "Too many failed sign-ins from this address for this e-mail address, or from "
            "this address in all; wait before trying again.",
            retry_after=math.ceil(wait.total_seconds()),
        )
    user = repository.user_by_email(session, email)
    matches = _password_matches(user.password_hash if user else None, password)
    if user is None or not matches or not user.is_active or user.is_service_account:
        return SignInCheck(email, client, None)
    assert user.password_hash is not None
    rehash = hash_password(password) if _hasher.check_needs_rehash(user.password_hash) else None
    return SignInCheck(email, client, user.id, rehash)


def record_sign_in(
    *,
    session: Session,
    check: SignInCheck,
    now: datetime,
    session_hours: int,
    previous_secret: str | None = None,
) -> tuple[User, WebSession, str]:
    """The writing half: the attempt is recorded, and a matched one opens a web session;
    returns the user, the session and the cookie's secret (only its hash is kept). A failed
    attempt raises SignInFailed once it is added: the caller commits then as well."""
    attempt = SignInAttempt(email=check.email, client=check.client, succeeded=False, at=now)
    session.add(attempt)
    user = session.get(User, check.user_id) if check.user_id is not None else None
    if user is None or not user.is_active:
        log.info("sign-in failed")
        raise SignInFailed()
    attempt.succeeded = True
    if check.new_hash is not None:
        user.password_hash = check.new_hash
    if previous_secret:
        # A fresh session on every sign-in; the one the browser held before is ended, so a
        # planted cookie cannot be carried into a signed-in session.
        end_session_by_secret(session=session, secret=previous_secret, now=now)
    secret = secrets.token_urlsafe(32)
    web_session = WebSession(
        user_id=user.id,
        secret_hash=hash_token(secret),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(hours=session_hours),
        last_seen_at=now,
    )
    session.add(web_session)
    session.flush()
    log.info("sign-in: user %s, session %s", user.id, web_session.id)
    return user, web_session, secret


def authenticate_session(*, session: Session, secret: str, now: datetime) -> tuple[Actor, str]:
    """The Actor behind a session cookie and the session's CSRF token; Unauthenticated when
    the session is unknown, ended or expired."""
    found = repository.live_web_session(session, secret_hash=hash_token(secret), now=now)
    if found is None:
        raise Unauthenticated("The session has ended or expired: sign in again.")
    web_session, user, partnership = found
    if now - web_session.last_seen_at > LAST_USED_PRECISION:
        web_session.last_seen_at = now
    return _actor(user, partnership, session_id=web_session.id), web_session.csrf_token


def end_session(*, web_session: WebSession, now: datetime) -> None:
    if web_session.ended_at is None:
        web_session.ended_at = now


def end_session_by_secret(*, session: Session, secret: str, now: datetime) -> None:
    found = repository.live_web_session(session, secret_hash=hash_token(secret), now=now)
    if found is not None:
        end_session(web_session=found[0], now=now)
