"""Test doubles for the protocol's owner types (``sim.protocol.owners``): plain objects, no
agents, for tests that drive an options market directly."""

from __future__ import annotations


class Owner:
    """An ``AccountOwner`` with nothing to decide (``unique_id`` -1: not an agent)."""

    kind = "owner"
    style = ""

    def __init__(self, unique_id: int = -1) -> None:
        self.unique_id = unique_id

    def on_liquidated(self) -> None:
        pass

    def remap_positions(self, market: object, remap: dict[int, int]) -> None:
        pass


class Holder:
    """A ``ShareHolder`` that remembers what its withdrawals paid (tokens)."""

    kind = "holder"

    def __init__(self, unique_id: int, wallet: int) -> None:
        self.unique_id, self.wallet = unique_id, wallet
        self.paid: list[float] = []

    def on_withdrawal_paid(self, tokens: float) -> None:
        self.paid.append(tokens)
