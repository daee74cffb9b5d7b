"""The run's event log, stored column by column (a year of trades is millions of rows).

Each column is an ``array.array`` of machine numbers (8 bytes a row, 2 for a name), names
(kinds, markets, underlyings, products, sides, agent kinds, styles) are small integer codes,
and the free-text ``detail`` is kept only where it says something.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

COLUMNS = ("step", "time", "kind", "market", "account", "agent", "agent_kind", "style", "underlying",
           "product", "strike", "side", "size", "notional_usd", "leverage_use", "amount_tokens",
           "amount_usd", "detail")
_NAME_COLUMNS = ("kind", "market", "agent_kind", "style", "underlying", "product", "side")
_NUMBER_COLUMNS = ("strike", "size", "notional_usd", "leverage_use", "amount_tokens", "amount_usd")
NAN = float("nan")


class EventLog:
    """Append-only events: trades, liquidations, waterfall payments, shocks, arrivals...

    A trade or close row names what was traded (``underlying``, ``product`` call/put/perp,
    ``strike`` 0 for the perp, ``side`` long/short of the position opened or closed, signed
    ``size`` in units of the underlying, ``notional_usd`` = |size| x spot) and who traded it
    (``agent_kind``, ``style``); ``leverage_use`` is set for perp opens. Other rows leave the
    names "" and ``strike``, ``size``, ``leverage_use`` NaN; a liquidation carries the
    notional it closed in ``notional_usd`` (0 elsewhere).
    """

    def __init__(self) -> None:
        self._step = array("q")
        self._account = array("q")
        self._agent = array("q")
        self._names = {c: array("h") for c in _NAME_COLUMNS}
        self._numbers = {c: array("d") for c in _NUMBER_COLUMNS}
        self._detail: dict[int, str] = {}          # row -> text, only where there is some
        self._codes: dict[str, int] = {}
        self._code_names: list[str] = []
        self._cached: dict[str, tuple[int, np.ndarray]] = {}

    def code(self, name: str) -> int:
        """The integer code of ``name`` (assigned on first use)."""
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._code_names)
            self._code_names.append(name)
        return code

    def codes(self, names: list[str], key: str | None = None) -> np.ndarray:
        """Codes of ``names`` (int16); with ``key``, cached for a list that only grows (an
        options market's per-account kinds: coded once per account, not once per trade)."""
        if key is None:
            return np.array([self.code(n) for n in names], dtype=np.int16)
        n_done, done = self._cached.get(key, (0, np.zeros(0, dtype=np.int16)))
        if n_done < len(names):
            done = np.concatenate([done, np.array([self.code(n) for n in names[n_done:]], dtype=np.int16)])
            self._cached[key] = (len(names), done)
        return done

    def append(self, step: int, kind: str, market: str = "", account: int = -1, agent: int = -1,
               amount_tokens: float = 0.0, amount_usd: float = 0.0, detail: str = "", *,
               agent_kind: str = "", style: str = "", notional_usd: float = 0.0) -> None:
        """One row; trade columns other than ``notional_usd`` left empty (NaN, "")."""
        if detail:
            self._detail[len(self._step)] = detail
        self._step.append(step)
        self._account.append(account)
        self._agent.append(agent)
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

    def extend(self, step: int, market: str, accounts: np.ndarray, agents: np.ndarray,
               names: dict[str, np.ndarray], numbers: dict[str, np.ndarray]) -> None:
        """Many rows of one step and market at once (the step's trades): ``names`` maps each
        name column but ``market`` to int16 codes (``code``/``codes``), ``numbers`` each number
        column to floats; no detail."""
        n = len(accounts)
        self._step.frombytes(np.full(n, step, dtype=np.int64).tobytes())
        self._account.frombytes(np.ascontiguousarray(accounts, dtype=np.int64).tobytes())
        self._agent.frombytes(np.ascontiguousarray(agents, dtype=np.int64).tobytes())
        self._names["market"].frombytes(np.full(n, self.code(market), dtype=np.int16).tobytes())
        for c in _NAME_COLUMNS:
            if c != "market":
                self._names[c].frombytes(np.ascontiguousarray(names[c], dtype=np.int16).tobytes())
        for c in _NUMBER_COLUMNS:
            self._numbers[c].frombytes(np.ascontiguousarray(numbers[c], dtype=np.float64).tobytes())

    def __len__(self) -> int:
        return len(self._step)

    def frame(self, times: list) -> pd.DataFrame:
        """The events as a DataFrame; ``time`` is the end of the event's step (UTC)."""
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
        return pd.DataFrame(cols, columns=list(COLUMNS))
