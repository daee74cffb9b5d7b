"""Active users (design 8): not left, and holding a position or traded in the last 7 days."""

import numpy as np
import pytest

from sim.activity import ActivityTracker


@pytest.mark.parametrize("seed", range(5))
def test_count_equals_the_definition_checked_user_by_user(seed):
    rng = np.random.default_rng(seed)
    n_markets = int(rng.integers(1, 4))
    n_accounts = [int(rng.integers(1, 200)) for _ in range(n_markets)]
    book, users = ActivityTracker(), []
    for _ in range(300):                        # grows past its first capacity
        m = int(rng.integers(n_markets))
        a = int(rng.integers(n_accounts[m]))
        slot = book.add(m, a)
        users.append((m, a))
        if rng.random() < 0.7:
            book.traded(slot, int(rng.integers(0, 500)))
        if rng.random() < 0.2:
            book.mark_left(slot)
    flags = [rng.random(k) < 0.3 for k in n_accounts]
    step, window = 400, 168
    expected = sum(
        1 for i, (m, a) in enumerate(users)
        if not book.left[i] and (flags[m][a] or step - book.last_trade[i] <= window)
    )
    assert book.count(step, window, flags) == expected
