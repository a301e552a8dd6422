"""A demo partnership with one user per role, for trying the service locally."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from cspr_engine.accounts import service
from cspr_engine.accounts.models import Partnership, User

DEMO_CODE = "DEMO"
DEMO_USERS: list[tuple[str, str, list[str], str | None]] = [
    ("chair@demo.example", "Panel chair", ["panel_chair"], None),
    ("business@demo.example", "Partnership business unit", ["business_unit"], None),
    ("dsp.la@demo.example", "DSP, local authority", ["dsp"], "local_authority"),
    ("dsp.police@demo.example", "DSP, police", ["dsp"], "police"),
    ("dsp.health@demo.example", "DSP, integrated care board", ["dsp"], "health"),
    ("lsp.la@demo.example", "LSP, local authority", ["lsp"], "local_authority"),
    ("referrer.police@demo.example", "Police case system", ["referrer"], "police"),
    ("scrutineer@demo.example", "Independent scrutineer", ["scrutineer"], None),
    # The partnership's own administrator: its users, tokens, webhooks and workflow rules.
    ("admin@demo.example", "Partnership administrator", ["admin"], None),
]


def seed_demo(*, session: Session, now: datetime) -> bool:
    """Create the DEMO partnership and its users unless they exist; True if created."""
    partnership = session.exec(
        select(Partnership).where(col(Partnership.code) == DEMO_CODE)
    ).first()
    if partnership is not None:
        return False
    partnership = service.create_partnership(
        session=session, code=DEMO_CODE, name="Demo Safeguarding Children Partnership", now=now
    )
    for email, name, roles, agency in DEMO_USERS:
        if session.exec(select(User).where(col(User.email) == email)).first() is None:
            service.create_user(
                session=session,
                email=email,
                display_name=name,
                partnership=partnership,
                roles=roles,
                agency=agency,
                now=now,
            )
    return True


def set_demo_passwords(*, session: Session, password: str, now: datetime) -> int:
    """Give every demo person without a password `password`; how many were given one."""
    given = 0
    emails = [email for email, *_ in DEMO_USERS]
    for user in session.exec(select(User).where(col(User.email).in_(emails))):
        if user.password_hash is None and not user.is_service_account:
            service.set_password(session=session, user=user, password=password, now=now)
            given += 1
    return given
