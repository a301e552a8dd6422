"""A flood of failed sign-ins from one address against a real server: the person signs in
from another address with the right password, and nobody else's requests fail or wait more
than a second meanwhile (the refused sign-ins write nothing, and no write is held open while a
password is checked). On SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, Directory, referral, set_password
from tests.processes import show_figures, start_server, stopped_at_exit, wait_until

pytestmark = pytest.mark.heavy

CHAIR = "chair@tw.example"
FLOOD_SECONDS = 20  # the flood stops by itself after this, whatever happens


def test_a_flood_from_one_address_locks_no_one_out_and_slows_no_one(
    database_url: str, directory: Directory, tmp_path: Path, capsys: Any
) -> None:
    set_password(CHAIR)
    with stopped_at_exit() as keep:
        # The per-address budget for requests without credentials is lifted here, so that the
        # flood reaches the sign-in checks themselves (the budget has its own test).
        server = keep(
            start_server(
                database_url, tmp_path, "flood", CSPR_ANONYMOUS_REQUESTS_PER_MINUTE="1000000"
            )
        )
        server.wait_ready()
        token = {"Authorization": f"Bearer {directory.token('chair')}"}
        # The first case a process opens loads what it keeps (workflows, calendar): not the
        # flood's doing, so it is opened before the flood starts.
        warm = httpx.post(
            f"{server.url}/api/v1/cases",
            json=referral(partner_reference="FLOOD-WARM"),
            headers=token,
            timeout=10,
        )
        assert warm.status_code == 201, warm.text
        stop = threading.Event()
        answered: Counter[int] = Counter()
        others: list[str] = []
        lock = threading.Lock()

        def flood(worker: int) -> None:
            transport = httpx.HTTPTransport(local_address="127.0.0.1")
            give_up = time.monotonic() + FLOOD_SECONDS
            with httpx.Client(base_url=server.url, transport=transport, timeout=10) as http:
                n = 0
                while not stop.is_set() and time.monotonic() < give_up:
                    # The person's own address, and many made-up ones, with a common password.
                    email = CHAIR if n % 2 else f"guess{worker}-{n}@tw.example"
                    response = http.post(
                        "/api/v1/auth/sign-in", json={"email": email, "password": "Summer2026!"}
                    )
                    with lock:
                        answered[response.status_code] += 1
                        if response.status_code not in (401, 429):
                            others.append(f"{response.status_code} {response.text[:300]}")
                    n += 1

        threads = [threading.Thread(target=flood, args=(w,), daemon=True) for w in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: answered[429] >= 50, FLOOD_SECONDS, "the flood is backed off")
            # Meanwhile another user writes and reads through the API.
            waits: list[float] = []
            with httpx.Client(base_url=server.url, timeout=10) as partner:
                for n in range(15):
                    started = time.monotonic()
                    created = partner.post(
                        "/api/v1/cases",
                        json=referral(partner_reference=f"FLOOD-{n}"),
                        headers=token,
                    )
                    listed = partner.get("/api/v1/cases", headers=token)
                    waits.append(time.monotonic() - started)
                    assert created.status_code == 201, created.text
                    assert listed.status_code == 200, listed.text
                    assert len(listed.json()["items"]) == n + 2
            # And the person signs in from another address with the right password.
            elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
            with httpx.Client(base_url=server.url, transport=elsewhere, timeout=10) as person:
                started = time.monotonic()
                signed_in = person.post(
                    "/api/v1/auth/sign-in", json={"email": CHAIR, "password": PASSWORD}
                )
                sign_in_wait = time.monotonic() - started
                assert signed_in.status_code == 200, signed_in.text
                assert signed_in.json()["user"]["email"] == CHAIR
                assert "cspr_session" in signed_in.cookies
                me = person.get("/api/v1/auth/me")
                assert me.status_code == 200
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
    show_figures(
        capsys,
        "sign-in flood",
        {
            "flood_401": answered[401],
            "flood_429": answered[429],
            "other_status": sum(v for k, v in answered.items() if k not in (401, 429)),
            "partner_max_wait_s": max(waits),
            "person_sign_in_s": sign_in_wait,
        },
    )
    # Only the checked failures were answered 401: the rest were refused before any check.
    assert set(answered) <= {401, 429}, others
    assert answered[401] <= 20 + 5  # the address's twenty, and the person's e-mail's five
    assert max(waits) < 1.0, waits
    assert sign_in_wait < 1.0
