"""Whom the protocol deals with: the types that account owners and pool share holders meet.

The protocol never asks an owner what it can do (no ``hasattr``): it is handed objects of
these types and calls their methods. Agents implement them (``agents/``); the treasury is a
plain object, not a string.
"""

from __future__ import annotations

from typing import Protocol


class AccountOwner(Protocol):
    """Holds a margin account in an options market (traders, arbitrageurs)."""

    unique_id: int      # Mesa id; -1 for an owner that is not an agent
    kind: str           # "trader", "arbitrageur", ... (event rows name it)
    style: str          # a trader's style ("momentum", ...); "" for any other owner

    def on_liquidated(self) -> None:
        """One of its accounts was liquidated in this step's pass."""

    def remap_positions(self, market: object, remap: dict[int, int]) -> None:
        """``market`` compacted its positions: old slot -> new slot (a closed one is absent)."""


class ShareHolder(Protocol):
    """Holds LP shares of a main pool (liquidity providers, the treasury)."""

    unique_id: int      # Mesa id; -1 for a holder that is not an agent
    kind: str           # "liquidity_provider", "trader" (a combination holder), "treasury" ...
    wallet: int         # ledger holder paid on withdrawal

    def on_withdrawal_paid(self, tokens: float) -> None:
        """A queued withdrawal paid ``tokens`` into its wallet."""


class Treasury:
    """The protocol's treasury as a share holder: it seeds a pool that has no initial LP."""

    unique_id = -1      # not an agent
    kind = "treasury"

    def __init__(self, wallet: int) -> None:
        self.wallet = wallet    # ledger holder id

    def on_withdrawal_paid(self, tokens: float) -> None:
        """Nothing to decide: the tokens stay in its wallet."""
