"""How many deliveries a sender leases at once."""

import pytest

from cspr_engine.config import Settings
from cspr_engine.scheduler.jobs import MAX_DELIVERY_BATCH, delivery_batch


@pytest.mark.parametrize(
    ("lease", "timeout", "expected"),
    [
        (120, 10.0, 8),  # the defaults: 8 deliveries of up to 15 s each fit in 120 s
        (5, 60.0, 1),  # a lease shorter than one timeout still leases one at a time
        (3600, 1.0, MAX_DELIVERY_BATCH),
    ],
)
def test_a_sender_leases_only_what_it_can_try_within_its_lease(
    lease: int, timeout: float, expected: int
) -> None:
    settings = Settings(delivery_lease_seconds=lease, webhook_timeout_seconds=timeout)
    assert delivery_batch(settings) == expected
