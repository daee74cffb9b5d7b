"""The run's event log, stored column by column (a year of trades is millions of rows).

Each column is an ``array.array`` of machine numbers (8 bytes a row, 2 for a name), names
(kinds, markets, underlyings, products, sides, agent kinds, styles) are small integer codes,
and the free-text ``detail`` is kept only where it says something.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

COLUMNS = ("step", "time", "kind", "market", "account", "agent", "agent_kind", "style", "underlying",
           "product", "strike", "side", "size", "notional_usd", "leverage_use", "amount_tokens",
           "amount_usd", "detail")
_NAME_COLUMNS = ("kind", "market", "agent_kind", "style", "underlying", "product", "side")
_NUMBER_COLUMNS = ("strike", "size", "notional_usd", "leverage_use", "amount_tokens", "amount_usd")
NAN = float("nan")


class TradeNames(NamedTuple):
    """What names a market's trade and close rows, read when the log becomes a frame (series
    and accounts only grow, so the lists at the end of a run cover every row)."""

    underlying: Sequence[str]     # per series: its underlying
    product: Sequence[str]        # per series: "call", "put" or "perp"
    strike: np.ndarray            # per series: USD (0 for the perp)
    agent_kind: Sequence[str]     # per account: its owner's kind
    style: Sequence[str]          # per account: its owner's style ("" but for traders)


class EventLog:
    """Append-only events: trades, liquidations, waterfall payments, shocks, arrivals...

    A trade or close row names what was traded (``underlying``, ``product`` call/put/perp,
    ``strike`` 0 for the perp, ``side`` long/short of the position opened or closed, signed
    ``size`` in units of the underlying, ``notional_usd`` = |size| x spot) and who traded it
    (``agent_kind``, ``style``); ``leverage_use`` is set for perp opens. Other rows leave the
    names "" and ``strike``, ``size``, ``leverage_use`` NaN; a liquidation carries the
    notional it closed in ``notional_usd`` (0 elsewhere).
    Trade rows are stored as numbers (series and account indices) during the run; their names
    are looked up once, in ``frame``, from each market's ``TradeNames``.
    """

    def __init__(self) -> None:
        self._step = array("q")
        self._account = array("q")
        self._agent = array("q")
        self._series = array("q")                  # a trade row's series; -1 on other rows
        self._names = {c: array("h") for c in _NAME_COLUMNS}
        self._numbers = {c: array("d") for c in _NUMBER_COLUMNS}
        self._detail: dict[int, str] = {}          # row -> text, only where there is some
        self._codes: dict[str, int] = {}
        self._code_names: list[str] = []

    def code(self, name: str) -> int:
        """The integer code of ``name`` (assigned on first use)."""
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._code_names)
            self._code_names.append(name)
        return code

    def append(self, step: int, kind: str, market: str = "", account: int = -1, agent: int = -1,
               amount_tokens: float = 0.0, amount_usd: float = 0.0, detail: str = "", *,
               agent_kind: str = "", style: str = "", notional_usd: float = 0.0) -> None:
        """One row; trade columns other than ``notional_usd`` left empty (NaN, "")."""
        if detail:
            self._detail[len(self._step)] = detail
        self._step.append(step)
        self._account.append(account)
        self._agent.append(agent)
        self._series.append(-1)
        names = self._names
        names["kind"].append(self.code(kind))
        names["market"].append(self.code(market))
        names["agent_kind"].append(self.code(agent_kind))
        names["style"].append(self.code(style))
        blank = self.code("")
        for c in ("underlying", "product", "side"):
            names[c].append(blank)
        nums = self._numbers
        nums["strike"].append(NAN)
        nums["size"].append(NAN)
        nums["notional_usd"].append(notional_usd)
        nums["leverage_use"].append(NAN)
        nums["amount_tokens"].append(amount_tokens)
        nums["amount_usd"].append(amount_usd)

    def extend_trades(self, step: int, market: str, is_close: np.ndarray, accounts: np.ndarray,
                      agents: np.ndarray, series: np.ndarray, size: np.ndarray, notional_usd: np.ndarray,
                      leverage_use: np.ndarray) -> None:
        """The step's trades and closes of one market at once (``notional_usd`` signed like
        ``size``; it is also the row's ``amount_usd``); names are filled in by ``frame``."""
        n = len(accounts)
        trade, close = self.code("trade"), self.code("close")
        blank = np.full(n, self.code(""), dtype=np.int16).tobytes()
        self._step.frombytes(np.full(n, step, dtype=np.int64).tobytes())
        self._account.frombytes(np.ascontiguousarray(accounts, dtype=np.int64).tobytes())
        self._agent.frombytes(np.ascontiguousarray(agents, dtype=np.int64).tobytes())
        self._series.frombytes(np.ascontiguousarray(series, dtype=np.int64).tobytes())
        self._names["kind"].frombytes(np.where(is_close != 0, close, trade).astype(np.int16).tobytes())
        self._names["market"].frombytes(np.full(n, self.code(market), dtype=np.int16).tobytes())
        for c in ("agent_kind", "style", "underlying", "product", "side"):
            self._names[c].frombytes(blank)
        nums = self._numbers
        nums["strike"].frombytes(np.full(n, NAN).tobytes())
        nums["size"].frombytes(np.ascontiguousarray(size, dtype=np.float64).tobytes())
        nums["notional_usd"].frombytes(np.abs(notional_usd).tobytes())
        nums["leverage_use"].frombytes(np.ascontiguousarray(leverage_use, dtype=np.float64).tobytes())
        nums["amount_tokens"].frombytes(np.zeros(n).tobytes())
        nums["amount_usd"].frombytes(np.ascontiguousarray(notional_usd, dtype=np.float64).tobytes())

    def trades(self, market: str) -> dict[str, np.ndarray]:
        """A market's trade and close rows as arrays (copies): ``step``, ``is_open`` (a trade,
        not a close), ``account``, ``series``, ``size``."""
        n = len(self._step)
        if n == 0 or market not in self._codes:
            return {k: np.zeros(0) for k in ("step", "is_open", "account", "series", "size")}
        series = np.frombuffer(self._series, dtype=np.int64)
        rows = (series >= 0) & (np.frombuffer(self._names["market"], dtype=np.int16) == self._codes[market])
        return {
            "step": np.frombuffer(self._step, dtype=np.int64)[rows].copy(),
            "is_open": np.frombuffer(self._names["kind"], dtype=np.int16)[rows] == self.code("trade"),
            "account": np.frombuffer(self._account, dtype=np.int64)[rows].copy(),
            "series": series[rows].copy(),
            "size": np.frombuffer(self._numbers["size"], dtype=np.float64)[rows].copy(),
        }

    def __len__(self) -> int:
        return len(self._step)

    def frame(self, times: list, trade_names: Mapping[str, TradeNames] | None = None) -> pd.DataFrame:
        """The events as a DataFrame; ``time`` is the end of the event's step (UTC); trade rows
        named from ``trade_names`` (by market; a market without an entry keeps "" names)."""
        n = len(self._step)
        names = np.array(self._code_names + [""], dtype=object)
        steps = np.frombuffer(self._step, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
        detail = np.full(n, "", dtype=object)
        for row, text in self._detail.items():
            detail[row] = text
        time_index = np.minimum(steps + 1, len(times) - 1)
        cols: dict = {
            "step": steps.copy(),
            "time": pd.to_datetime(np.array(times, dtype=object)[time_index] if n else [], utc=True),
            "account": np.array(self._account, dtype=np.int64),
            "agent": np.array(self._agent, dtype=np.int64),
            "detail": detail,
        }
        for c in _NAME_COLUMNS:
            cols[c] = names[np.frombuffer(self._names[c], dtype=np.int16)] if n else np.zeros(0, dtype=object)
        for c in _NUMBER_COLUMNS:
            cols[c] = np.array(self._numbers[c], dtype=np.float64)
        if n:
            self._name_trades(cols, trade_names or {})
        return pd.DataFrame(cols, columns=list(COLUMNS))

    def _name_trades(self, cols: dict, trade_names: Mapping[str, TradeNames]) -> None:
        """Fill the names of every market's trade rows, vectorized per market."""
        series = np.frombuffer(self._series, dtype=np.int64)
        market = np.frombuffer(self._names["market"], dtype=np.int16)
        for name, tn in trade_names.items():
            if name not in self._codes:
                continue
            rows = np.flatnonzero((series >= 0) & (market == self._codes[name]))
            if not rows.size:
                continue
            s, acc = series[rows], cols["account"][rows]
            cols["underlying"][rows] = np.asarray(tn.underlying, dtype=object)[s]
            cols["product"][rows] = np.asarray(tn.product, dtype=object)[s]
            cols["strike"][rows] = np.asarray(tn.strike, dtype=np.float64)[s]
            cols["agent_kind"][rows] = np.asarray(tn.agent_kind, dtype=object)[acc]
            cols["style"][rows] = np.asarray(tn.style, dtype=object)[acc]
            size, is_close = cols["size"][rows], cols["kind"][rows] == "close"
            long_side = np.where(is_close, size < 0.0, size > 0.0)    # a close names the side it closed
            cols["side"][rows] = np.where(long_side, "long", "short").astype(object)
