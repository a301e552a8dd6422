"""The documented first start: both web units start at once on an empty database, each with
the bootstrap token. The one that loses the race to create the platform administrator must
start all the same, the winner's administrator standing (the topology test met it as a web
process that exited at start-up)."""

from __future__ import annotations

import secrets

import pytest
from sqlmodel import Session, col, select

from cspr_engine import main
from cspr_engine.accounts import repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import User
from cspr_engine.config import Settings
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import SystemClock


def test_the_process_that_loses_the_bootstrap_race_starts_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = secrets.token_urlsafe(32)
    # The other process: it created the administrator and committed.
    with Session(get_engine()) as session:
        assert accounts_service.ensure_bootstrap_admin(
            session=session, secret=token, now=SystemClock().now()
        )
        session.commit()
    # This one looked before that commit, and saw no administrator.
    monkeypatch.setattr(repository, "any_platform_admin", lambda _session: False)
    settings = Settings(_env_file=None, bootstrap_admin_token=token)  # type: ignore[call-arg]
    main._bootstrap(settings)
    with Session(get_engine()) as session:
        admins = session.exec(select(User).where(col(User.is_platform_admin).is_(True))).all()
    assert len(admins) == 1
