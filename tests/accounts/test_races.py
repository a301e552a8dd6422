"""Races: sign-ins for one e-mail released together against a real server still stop at five
failures; a duplicate that slips past the existence check is a 409, never a 500."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from cspr_engine.accounts import repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.exceptions import EmailTaken, PartnershipExists
from cspr_engine.db import get_engine
from tests.cases.test_concurrency import race
from tests.conftest import NOW
from tests.factories import Api, assert_problem, set_password

Call = Callable[[httpx.Client], httpx.Response]


def wrong_password(http: httpx.Client) -> httpx.Response:
    return http.post(
        "/api/v1/auth/sign-in", json={"email": "chair@tw.example", "password": "wrong password!"}
    )


def test_parallel_failures_cannot_outrun_the_backoff(api: Api, live_server: str) -> None:
    set_password("chair@tw.example")
    responses = race(live_server, [wrong_password] * 12)
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 7}
    for response in responses:
        assert_problem(response, response.status_code)
    with get_engine().connect() as conn:
        recorded = conn.execute(text("SELECT COUNT(*) FROM sign_in_attempts")).scalar_one()
    # The five checked failures; the seven refused while backing off wrote nothing.
    assert recorded == 5


def test_a_duplicate_email_past_the_check_is_email_taken(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if a concurrent request had created the user between the check and the insert.
    monkeypatch.setattr(repository, "user_by_email", lambda session, email: None)
    with Session(get_engine()) as session:
        partnership = repository.partnership_by_code(session, "TW")
        with pytest.raises(EmailTaken):
            accounts_service.create_user(
                session=session,
                email="chair@tw.example",
                display_name="Twin",
                partnership=partnership,
                roles=["qpd"],
                agency=None,
                now=NOW,
            )


def test_a_duplicate_code_past_the_check_is_partnership_exists(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "partnership_by_code", lambda session, code: None)
    with Session(get_engine()) as session, pytest.raises(PartnershipExists):
        accounts_service.create_partnership(session=session, code="TW", name="Twin", now=NOW)
