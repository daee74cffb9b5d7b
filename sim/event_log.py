"""The run's event log, stored column by column (a year of trades is millions of rows).

Each column is an ``array.array`` of machine numbers (8 bytes a row), kinds and markets are
small integer codes, and the free-text ``detail`` is kept only where it says something.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

COLUMNS = ("step", "time", "kind", "market", "account", "agent", "amount_tokens", "amount_usd", "detail")


class EventLog:
    """Append-only events: trades, liquidations, waterfall payments, shocks, arrivals..."""

    def __init__(self) -> None:
        self._step = array("q")
        self._kind = array("h")
        self._market = array("h")
        self._account = array("q")
        self._agent = array("q")
        self._tokens = array("d")
        self._usd = array("d")
        self._detail: dict[int, str] = {}          # row -> text, only where there is some
        self._codes: dict[str, int] = {}
        self._names: list[str] = []

    def _code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
        return code

    def append(self, step: int, kind: str, market: str = "", account: int = -1, agent: int = -1,
               amount_tokens: float = 0.0, amount_usd: float = 0.0, detail: str = "") -> None:
        if detail:
            self._detail[len(self._step)] = detail
        self._step.append(step)
        self._kind.append(self._code(kind))
        self._market.append(self._code(market))
        self._account.append(account)
        self._agent.append(agent)
        self._tokens.append(amount_tokens)
        self._usd.append(amount_usd)

    def extend(self, step: int, kinds: list[str], kind_index: np.ndarray, market: str, accounts: np.ndarray,
               agents: np.ndarray, amounts_usd: np.ndarray) -> None:
        """Many rows of one step and market at once (the step's trades): row i has kind
        ``kinds[kind_index[i]]``; no token amounts, no detail."""
        n = len(accounts)
        codes = np.array([self._code(k) for k in kinds], dtype=np.int16)
        self._step.frombytes(np.full(n, step, dtype=np.int64).tobytes())
        self._kind.frombytes(codes[kind_index].tobytes())
        self._market.frombytes(np.full(n, self._code(market), dtype=np.int16).tobytes())
        self._account.frombytes(np.ascontiguousarray(accounts, dtype=np.int64).tobytes())
        self._agent.frombytes(np.ascontiguousarray(agents, dtype=np.int64).tobytes())
        self._tokens.frombytes(np.zeros(n).tobytes())
        self._usd.frombytes(np.ascontiguousarray(amounts_usd, dtype=np.float64).tobytes())

    def __len__(self) -> int:
        return len(self._step)

    def frame(self, times: list) -> pd.DataFrame:
        """The events as a DataFrame; ``time`` is the end of the event's step (UTC)."""
        n = len(self._step)
        names = np.array(self._names + [""], dtype=object)
        steps = np.frombuffer(self._step, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
        detail = np.full(n, "", dtype=object)
        for row, text in self._detail.items():
            detail[row] = text
        time_index = np.minimum(steps + 1, len(times) - 1)
        return pd.DataFrame({
            "step": steps.copy(),
            "time": pd.to_datetime(np.array(times, dtype=object)[time_index] if n else [], utc=True),
            "kind": names[np.frombuffer(self._kind, dtype=np.int16)] if n else np.zeros(0, dtype=object),
            "market": names[np.frombuffer(self._market, dtype=np.int16)] if n else np.zeros(0, dtype=object),
            "account": np.array(self._account, dtype=np.int64),
            "agent": np.array(self._agent, dtype=np.int64),
            "amount_tokens": np.array(self._tokens, dtype=np.float64),
            "amount_usd": np.array(self._usd, dtype=np.float64),
            "detail": detail,
        }, columns=list(COLUMNS))
