"""kernels.trade_book.TradeBook against its plain-Python twin and against the pool and margin rules
it is assembled from (design sections 5-7).

Three kinds of test:

* twin agreement: the Cython book and ``kernels.reference.trade_book`` replay the same random
  operations (opens, closes, liquidation-like zeroing + resync, repricing, compaction, growth)
  and must hold the same state after every one;
* outside truths: the Cython book's numbers recomputed from scratch with ``kernels.pool`` and
  ``kernels.liquidation`` (bincounts over the positions, ``margin_pass`` over the whole book),
  conservation of tokens, refusal codes, the cost of a round trip, the linked lists;
* bad arguments: IndexError / ValueError with the culprit named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import liquidation as kliq
from kernels import pool as kpool
from kernels import trade_book as kbook
from kernels.params import SPREAD_UTILIZATION_CAP, BookConfig, MarginParams, Refusal
from kernels.reference import pool as rpool
from kernels.reference import trade_book as rbook

TWIN_RTOL = 1e-12   # same arithmetic in the same order: agreement to rounding
RULE_RTOL = 1e-9    # recomputed from scratch in another order
NEAR = 1e-7         # a refusal decision this close to its threshold may go either way
SETTINGS = settings(max_examples=50, deadline=None)
FEW = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
TOKEN_MOVES = np.array([-0.3, 0.0, 0.1])
CODE = {r.name.lower(): int(r) for r in Refusal}      # "utilization" -> 2, ...
N_OPS = 70
POSITION_FIELDS = ("pos_account", "pos_series", "pos_size", "pos_entry", "pos_take_profit",
                   "pos_stop_loss", "pos_next")


def assert_close(name: str, got, want, rtol: float, atol: float) -> None:
    """np.testing.assert_allclose (equal infinities pass), with a cheap check first: the
    random-operation tests make tens of thousands of comparisons."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = (got == want) | (np.abs(got - want) <= atol + rtol * np.abs(want))
    if not np.all(ok):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


# ---------------------------------------------------------------- worlds

@dataclass
class World:
    """Priced series of one market: what ``bind_series`` takes, plus the grids behind it."""

    spot_u: np.ndarray        # USD per underlying
    ratio: np.ndarray         # option mark / spot (unused for perpetuals)
    mark: np.ndarray
    delta: np.ndarray
    spot: np.ndarray
    underlying: np.ndarray
    is_perp: np.ndarray
    stress_pool: np.ndarray   # (G, n): marks at the pool's stress points
    stress_margin: np.ndarray  # (C, n): marks at the margin rule's crypto points
    table: np.ndarray         # kernels.liquidation.margin_table of the above
    token_moves: np.ndarray
    params: MarginParams

    @property
    def n(self) -> int:
        return self.mark.shape[0]

    @property
    def n_underlyings(self) -> int:
        return self.spot_u.shape[0]


def make_world(rng, params, underlying, is_perp, spot_u, ratio, n_pool_points, n_crypto) -> World:
    """Perpetuals are marked at spot with delta 1; options at ``ratio x spot`` with a random
    delta; each stress point moves each mark by up to +-60%."""
    n = underlying.shape[0]
    spot = spot_u[underlying]
    mark = np.where(is_perp == 1, spot, spot * ratio)
    delta = np.where(is_perp == 1, 1.0, rng.uniform(-1.0, 1.0, n))
    stress_pool = mark * (1.0 + rng.uniform(-0.6, 0.6, (n_pool_points, n)))
    stress_margin = mark * (1.0 + rng.uniform(-0.6, 0.6, (n_crypto, n)))
    table = kliq.margin_table(mark, delta, spot, is_perp, stress_margin, params)
    return World(spot_u, ratio, mark, delta, spot, underlying, is_perp, stress_pool, stress_margin,
                 table, TOKEN_MOVES.copy(), params)


def new_world(rng, params, n_series, n_underlyings, n_pool_points, n_crypto) -> World:
    underlying = rng.integers(0, n_underlyings, n_series)
    is_perp = (rng.uniform(size=n_series) < 0.25).astype(np.uint8)
    return make_world(rng, params, underlying, is_perp, rng.uniform(50.0, 3000.0, n_underlyings),
                      rng.uniform(0.005, 0.3, n_series), n_pool_points, n_crypto)


def reprice(rng, w: World, extra: int = 0) -> World:
    """The same series (plus ``extra`` new ones) a step later: spots move +-15%, option marks
    +-40%, so marks drift away from the positions' entries."""
    underlying = np.concatenate([w.underlying, rng.integers(0, w.n_underlyings, extra)])
    is_perp = np.concatenate([w.is_perp, (rng.uniform(size=extra) < 0.25).astype(np.uint8)])
    ratio = np.concatenate([w.ratio * rng.uniform(0.7, 1.4, w.n), rng.uniform(0.005, 0.3, extra)])
    spot_u = w.spot_u * rng.uniform(0.85, 1.15, w.n_underlyings)
    return make_world(rng, w.params, underlying, is_perp, spot_u, ratio, w.stress_pool.shape[0],
                      w.stress_margin.shape[0])


def bind(book, w: World) -> None:
    book.bind_series(w.mark, w.delta, w.spot, w.underlying, w.is_perp, w.stress_pool, w.table,
                     w.token_moves, w.n_underlyings)


@dataclass
class Scenario:
    cfg: BookConfig
    world: World
    collateral: np.ndarray    # tokens per account
    prices: tuple             # (price, price_in, price_out) USD per token
    pool_tokens: float


def scenario(rng, **cfg_overrides) -> Scenario:
    """Random config (stress multipliers shared with the margin params), 1-3 underlyings,
    5-30 series, 1-20 accounts (some empty), a pool of 5k-60k USD."""
    params = MarginParams(stress_maint_mult=float(rng.uniform(0.5, 1.5)),
                          stress_initial_mult=float(rng.uniform(1.0, 2.0)))
    cfg = dict(haircut=rng.uniform(0.0, 0.5), base_spread=rng.uniform(0.0, 0.01),
               skew=rng.uniform(0.0, 0.05), perp_spread=rng.uniform(0.0, 0.002),
               notional_fee=rng.uniform(0.0, 0.001), lp_share=rng.uniform(0.0, 1.0),
               max_utilization=rng.uniform(0.2, 1.0), max_net_delta_fraction=rng.uniform(0.1, 2.0),
               oi_cap_usd=math.inf if rng.uniform() < 0.5 else rng.uniform(2e3, 4e4))
    cfg = {k: float(v) for k, v in cfg.items()}
    cfg.update(cfg_overrides)
    cfg = BookConfig(**cfg, stress_maint_mult=params.stress_maint_mult,
                     stress_initial_mult=params.stress_initial_mult)
    world = new_world(rng, params, int(rng.integers(5, 31)), int(rng.integers(1, 4)),
                      int(rng.integers(2, 9)), int(rng.integers(1, 7)))
    price = float(rng.uniform(0.5, 50.0))
    prices = (price, price * float(rng.uniform(0.97, 1.0)), price * float(rng.uniform(1.0, 1.03)))
    n_accounts = int(rng.integers(1, 21))
    funded = rng.uniform(size=n_accounts) > 0.15
    collateral = rng.uniform(0.0, 4000.0, n_accounts) / price * funded
    return Scenario(cfg, world, collateral, prices, float(rng.uniform(5e3, 6e4)) / price)


def make_book(cls, sc: Scenario):
    """A ``cls`` (Cython book or twin) with the scenario's accounts, prices and series."""
    book = cls(sc.cfg, sc.world.stress_pool.shape[0])
    for q in sc.collateral:
        a = book.add_account()
        book.collateral[a] = q
    book.set_prices(*sc.prices)
    bind(book, sc.world)
    return book


# ---------------------------------------------------------------- random operations

POOL_FACTORS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.05, 3.0, -1.0)   # -1: pool NAV <= 0


def random_trade(rng, w: World) -> tuple[int, float]:
    """A series and a signed size of about 800 USD of notional (lognormal), rarely 0/NaN/inf."""
    s = int(rng.integers(0, w.n))
    dn = float(rng.choice([-1.0, 1.0]) * rng.lognormal(0.0, 0.8) * 800.0 / w.spot[s])
    if rng.uniform() < 0.03:
        dn = float(rng.choice([0.0, math.nan, math.inf]))
    return s, dn


def random_op(rng, book, w: World, pool_tokens: float) -> tuple:
    """One operation, drawn from ``book``'s state (which every book replaying it shares)."""
    pool = float(pool_tokens * rng.choice(POOL_FACTORS))
    u, k = rng.uniform(), book.n_positions
    if u < 0.55 or k == 0:
        s, dn = random_trade(rng, w)
        return ("open", int(rng.integers(0, book.n_accounts)), s, dn,
                float(rng.choice([1.0, 1.0, 1.25, 2.0])), pool)
    if u < 0.80:
        fraction = float(rng.choice([1.0, 1.0, rng.uniform(), rng.uniform(), 0.0, 1.5, -0.25]))
        return ("close", int(rng.integers(0, k)), fraction, pool)
    if u < 0.87:       # a liquidation kernel zeroed some sizes
        live = np.flatnonzero(book.pos_size[:k] != 0.0)
        n_zeroed = min(live.size, int(rng.integers(1, 4)))
        return ("liquidate", [int(p) for p in rng.choice(live, n_zeroed, replace=False)])
    if u < 0.92:
        return ("reprice", reprice(rng, w, int(rng.integers(0, 3))))
    if u < 0.97:
        return ("compact",)
    return ("grow",)


def make_room(book):
    """Before an open at full capacity: compact if that frees a slot, else grow."""
    if book.n_positions < book.position_capacity:
        return None
    if np.any(book.pos_size[: book.n_positions] == 0.0):
        return book.compact()
    book.grow_positions()
    return None


def apply_op(book, op: tuple):
    kind = op[0]
    if kind == "open":
        room = make_room(book)
        return room, book.open(*op[1:])
    if kind == "close":
        return book.close(*op[1:])
    if kind == "liquidate":
        for p in op[1]:
            book.pos_size[p] = 0.0
        book.resync()
        return None
    if kind == "reprice":
        bind(book, op[1])
        return None
    if kind == "compact":
        return book.compact()
    book.grow_positions()
    return None


def trade_randomly(rng, books, sc: Scenario, n_orders: int = 50) -> None:
    """``n_orders`` random draws of ``random_op`` against the first book; the opens and closes
    among them are applied to every book in ``books`` (a kernel and its twin stay in step)."""
    for _ in range(n_orders):
        op = random_op(rng, books[0], sc.world, sc.pool_tokens)
        if op[0] in ("open", "close"):
            for book in books:
                apply_op(book, op)


def accepted(op: tuple, result) -> bool:
    """Whether the op moved tokens (so ``last_*`` describe it and the pool balance changes)."""
    return (op[0] == "open" and result[1] >= 0) or op[0] == "close"


@dataclass
class Scale:
    """Running maxima of gross sizes and USD amounts: the floor for comparing running sums
    (losses, net sizes, entry notional) that cancel as positions open and close."""

    size: float = 1.0
    usd: float = 1.0

    def update(self, book, w: World, pool_tokens: float) -> None:
        k = book.n_positions
        ser, n = book.pos_series[:k], np.abs(book.pos_size[:k])
        self.size = max(self.size, 1.0 + float(n.sum()))
        gross = float(np.sum(n * (w.mark[ser] + w.spot[ser] + book.pos_entry[:k])))
        tokens = float(np.abs(book.collateral[: book.n_accounts]).sum()) + abs(pool_tokens)
        self.usd = max(self.usd, 1.0 + gross + book.price * tokens)


# ---------------------------------------------------------------- twin agreement

def assert_twins_agree(cy, py, w: World, pool_tokens: float, sc: Scale) -> None:
    """Every piece of state of the two books, to 1e-12 relative (with atol 1e-12 x the
    running gross for sums that cancel), and the read-only quantities derived from it."""
    def same(name, got, want, scale):
        assert_close(name, got, want, TWIN_RTOL, TWIN_RTOL * scale)

    assert (cy.n_accounts, cy.n_positions, cy.position_capacity) == \
        (py.n_accounts, py.n_positions, py.position_capacity)
    na, k, n, tokens = cy.n_accounts, cy.n_positions, w.n, sc.usd / cy.price
    same("collateral", cy.collateral[:na], py.collateral[:na], tokens)
    for name in ("pos_account", "pos_series", "pos_take_profit", "pos_stop_loss"):
        np.testing.assert_array_equal(getattr(cy, name)[:k], getattr(py, name)[:k], err_msg=name)
    same("pos_size", cy.pos_size[:k], py.pos_size[:k], sc.size)
    same("pos_entry", cy.pos_entry[:k], py.pos_entry[:k], sc.usd)
    same("net_size", cy.net_size[:n], py.net_size[:n], sc.size)
    same("abs_size", cy.abs_size[:n], py.abs_size[:n], sc.size)
    for name in ("entry_notional", "losses", "delta_usd", "oi_usd", "last_spread_usd",
                 "last_fee_usd", "last_notional_usd"):
        same(name, getattr(cy, name), getattr(py, name), sc.usd)
    for name in ("last_pool_tokens", "last_insurance_tokens"):
        same(name, getattr(cy, name), getattr(py, name), tokens)
    same("upnl_usd", cy.upnl_usd(), py.upnl_usd(), sc.usd)
    nav = py.nav_usd(pool_tokens)
    same("nav_usd", cy.nav_usd(pool_tokens), nav, sc.usd)
    same("utilization", cy.utilization(pool_tokens), py.utilization(pool_tokens),
         sc.usd / max(abs(nav), 1e-300))
    for a in range(na):
        assert cy.positions_of(a) == py.positions_of(a), f"positions_of({a})"
    same("margin", [cy.margin(a) for a in range(na)], [py.margin(a) for a in range(na)], sc.usd)
    assert cy.step_trades == py.step_trades, "step_trades"
    step_scale = sc.usd + py.step_volume_usd
    for name in ("step_volume_usd", "step_spread_usd", "step_fees_usd", "step_trader_pnl_usd"):
        same(name, getattr(cy, name), getattr(py, name), step_scale)
    same("position_pnl_usd", [cy.position_pnl_usd(p) for p in range(k)],
         [py.position_pnl_usd(p) for p in range(k)], sc.usd)
    # After positions_of has unlinked closed slots on both, the lists themselves agree.
    np.testing.assert_array_equal(cy.acct_head[:na], py.acct_head[:na], err_msg="acct_head")
    np.testing.assert_array_equal(cy.pos_next[:k], py.pos_next[:k], err_msg="pos_next")


def assert_same_result(op: tuple, got, want, sc: Scale) -> None:
    kind = op[0]
    if kind == "open":
        (room_c, slot_c), (room_p, slot_p) = got, want
        assert (room_c is None) == (room_p is None)
        if room_c is not None:
            np.testing.assert_array_equal(room_c, room_p, err_msg="compact before open")
        assert slot_c == slot_p, f"open{op[1:]}: Cython {slot_c}, twin {slot_p}"
    elif kind == "close":
        assert_close(f"close{op[1:]}", got, want, TWIN_RTOL, TWIN_RTOL * sc.usd)
    elif kind == "compact":
        np.testing.assert_array_equal(got, want, err_msg="compact")


@SETTINGS
@given(seed=seeds)
def test_book_matches_twin_over_random_operations(seed: int) -> None:
    """The Cython book and its twin replay ~70 random opens (all refusal codes occur: small,
    negative and large pools, tight caps, empty accounts), closes (partial, full, clamped
    fractions, already-closed slots), liquidation-style zeroing + resync, repricing (with new
    series), compaction and growth; after every one, return values and all state agree."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng)
    cy, py = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    w, pool, scale = sc.world, sc.pool_tokens, Scale()
    scale.update(cy, w, pool)
    assert_twins_agree(cy, py, w, pool, scale)
    for _ in range(N_OPS):
        op = random_op(rng, cy, w, pool)
        got, want = apply_op(cy, op), apply_op(py, op)
        assert_same_result(op, got, want, scale)
        if op[0] == "reprice":
            w = op[1]
        if accepted(op, got):
            pool += cy.last_pool_tokens
        scale.update(cy, w, pool)
        assert_twins_agree(cy, py, w, op[-1] if op[0] in ("open", "close") else pool, scale)
        if rng.random() < 0.1:                      # a step ends: both hand over the same log
            vol = cy.step_volume_usd
            log_c, log_p = cy.take_step_log(), py.take_step_log()
            names = ("is_close", "account", "notional_usd", "series", "size", "trader_pnl_usd")
            assert len(log_c) == len(log_p) == len(names)
            for name, got, want in zip(names, log_c, log_p, strict=True):
                assert_close(f"take_step_log {name}", got, want, TWIN_RTOL, TWIN_RTOL * scale.usd)
            assert float(np.abs(log_c[2]).sum()) == pytest.approx(vol, rel=1e-12, abs=1e-9)
            assert cy.step_trades == 0 and cy.step_volume_usd == 0.0


# ---------------------------------------------------------------- outside truths

def positions(book):
    """Copies of the position arrays in use: (account, series, size, entry)."""
    k = book.n_positions
    return (book.pos_account[:k].copy(), book.pos_series[:k].copy(), book.pos_size[:k].copy(),
            book.pos_entry[:k].copy())


def recomputed(book, w: World, pool_tokens: float):
    """From the positions alone: traders' net size per series and the pool's NAV (USD)."""
    _, ser, size, entry = positions(book)
    net = np.bincount(ser, weights=size, minlength=w.n)
    nav = pool_tokens * book.price - float(np.sum(size * (w.mark[ser] - entry)))
    return net, nav


def margin_of_book(book, w: World, cfg: BookConfig, extra=None, dq: float = 0.0, account: int = 0):
    """kernels.liquidation.margin_pass over every position of the book, optionally with one
    more position ``extra = (series, size, entry)`` of ``account`` and ``dq`` tokens added to
    its collateral."""
    acct, ser, size, entry = positions(book)
    q = book.collateral[: book.n_accounts].copy()
    if extra is not None:
        s, n, e = extra
        acct, ser = np.append(acct, account), np.append(ser, s)
        size, entry = np.append(size, n), np.append(entry, e)
        q[account] += dq
    return kliq.margin_pass(q, book.price_in, cfg.haircut, acct, ser, size, entry, w.mark, w.delta,
                            w.spot, w.is_perp, w.stress_margin, w.token_moves, w.params)


def option_spread(cfg: BookConfig, w: World, s: int, util_after: float) -> float:
    """Spread fraction: perp_spread, or base_spread + skew x utilization after the trade (the
    twin caps the utilization term at 10 so that a near-empty pool still quotes)."""
    if w.is_perp[s]:
        return cfg.perp_spread
    return cfg.base_spread + cfg.skew * min(util_after, 10.0)


def expected_open(book, w: World, cfg: BookConfig, a, s, dn, buffer, pool_tokens, scale: Scale):
    """(refusal code, spread fraction, ambiguous) that the rules of sections 5-7 give for an
    open, computed from the positions with kernels.pool and kernels.liquidation.
    ``ambiguous`` is set when a deciding comparison is within rounding of its threshold."""
    if dn == 0.0 or not math.isfinite(dn):
        return CODE["size"], None, False

    def near(x, y, sc):
        return abs(x - y) <= NEAR * sc

    net, nav = recomputed(book, w, pool_tokens)
    ambiguous = near(nav, 0.0, scale.usd)
    if nav <= 0.0:
        return CODE["pool_insolvent"], None, ambiguous
    before = kpool.utilization(net, w.mark, w.stress_pool, nav)
    after = kpool.utilization_after_trade(net, w.mark, w.stress_pool, nav, s, dn)
    spread = option_spread(cfg, w, s, after)
    u_sc = scale.usd / nav
    ambiguous |= near(after, cfg.max_utilization, u_sc) or \
        (after > cfg.max_utilization and near(after, before, u_sc))
    if after > before and after > cfg.max_utilization:
        return CODE["utilization"], spread, ambiguous
    _, ser, size, _ = positions(book)
    u = w.underlying[s]
    old = np.bincount(w.underlying[ser], weights=size * w.delta[ser] * w.spot[ser],
                      minlength=w.n_underlyings)[u]
    new = old + dn * w.delta[s] * w.spot[s]
    cap = cfg.max_net_delta_fraction * nav
    ambiguous |= near(abs(new), cap, scale.usd) or \
        (abs(new) > cap and near(abs(new), abs(old), scale.usd))
    if abs(new) > abs(old) and abs(new) > cap:
        return CODE["delta_cap"], spread, ambiguous
    oi = np.bincount(w.underlying[ser], weights=np.abs(size) * w.spot[ser],
                     minlength=w.n_underlyings)[u] + abs(dn) * w.spot[s]
    ambiguous |= near(oi, cfg.oi_cap_usd, scale.usd)
    if oi > cfg.oi_cap_usd:
        return CODE["oi_cap"], spread, ambiguous
    cost = abs(dn) * (w.mark[s] * spread + w.spot[s] * cfg.notional_fee) / book.price_in
    eq, _, ir = margin_of_book(book, w, cfg, (s, dn, w.mark[s]), -cost, a)
    ambiguous |= near(eq[a], buffer * ir[a], scale.usd)
    if eq[a] < buffer * ir[a]:
        return CODE["margin"], spread, ambiguous
    return 0, spread, ambiguous


def normalize_links(book) -> None:
    """Walk every account's list once, unlinking closed slots, so that a later margin walk
    (which also unlinks) cannot change ``acct_head`` / ``pos_next``."""
    for a in range(book.n_accounts):
        book.positions_of(a)


def snapshot(book) -> dict:
    """Every array (whole capacity) and scalar of the book."""
    out = {name: getattr(book, name).copy() for name in
           ("collateral", "acct_head", "net_size", "abs_size", "losses", "delta_usd", "oi_usd",
            *POSITION_FIELDS)}
    for name in ("n_accounts", "n_positions", "entry_notional", "last_pool_tokens",
                 "last_insurance_tokens", "last_spread_usd", "last_fee_usd", "last_notional_usd"):
        out[name] = getattr(book, name)
    return out


def assert_unchanged(before: dict, book, what: str) -> None:
    after = snapshot(book)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=f"{what} changed {name}")


def assert_conserved(q0: float, dq: float, book, what: str) -> None:
    """Tokens leaving the trader's collateral (``q0`` before, ``dq`` change) are exactly those
    the pool and insurance get, to rounding of the balances involved."""
    total = dq + book.last_pool_tokens + book.last_insurance_tokens
    scale = abs(q0) + abs(dq) + abs(book.last_pool_tokens) + abs(book.last_insurance_tokens)
    assert abs(total) <= 1e-12 * scale, f"{what}: dq {dq} + pool {book.last_pool_tokens} + " \
        f"insurance {book.last_insurance_tokens} = {total}"


def check_open(book, w, cfg, op, scale: Scale) -> int:
    """Run one open on the Cython book and hold it to ``expected_open``; returns the slot."""
    _, a, s, dn, buffer, pool = op
    make_room(book)
    normalize_links(book)
    code, spread, ambiguous = expected_open(book, w, cfg, a, s, dn, buffer, pool, scale)
    before, k = snapshot(book), book.n_positions
    slot = book.open(a, s, dn, buffer, pool)
    got = 0 if slot >= 0 else -slot
    if not ambiguous:
        assert got == code, f"open{op[1:]}: got {Refusal(got)!r}, rules say {Refusal(code)!r}"
    if slot < 0:
        assert_unchanged(before, book, f"refused open{op[1:]}")
        return slot
    assert slot == k and book.n_positions == k + 1
    assert (book.pos_account[slot], book.pos_series[slot], book.pos_size[slot],
            book.pos_entry[slot]) == (a, s, dn, w.mark[s])
    if spread is not None:
        util_tol = RULE_RTOL * scale.usd / abs(recomputed(book, w, pool)[1] or 1.0)
        usd = abs(dn) * w.mark[s]
        assert book.last_spread_usd == pytest.approx(usd * spread, rel=RULE_RTOL,
                                                     abs=usd * cfg.skew * util_tol)
    assert book.last_fee_usd == pytest.approx(abs(dn) * w.spot[s] * cfg.notional_fee, rel=1e-14)
    assert book.last_notional_usd == pytest.approx(dn * w.spot[s], rel=1e-14)
    fee_tokens = book.last_fee_usd / book.price_in
    assert book.last_insurance_tokens == pytest.approx(fee_tokens * (1 - cfg.lp_share),
                                                       rel=1e-12, abs=1e-12 * fee_tokens)
    dq = book.collateral[a] - before["collateral"][a]
    assert dq == pytest.approx(-(book.last_spread_usd + book.last_fee_usd) / book.price_in,
                               rel=1e-12, abs=1e-12 * abs(before["collateral"][a]))
    assert_conserved(before["collateral"][a], dq, book, f"open{op[1:]}")
    return slot


def check_close(book, w, cfg, op, scale: Scale) -> None:
    """Run one close on the Cython book: realized PnL, spread, fee, new size, conservation."""
    _, p, fraction, pool = op
    a, s, n, entry = (int(book.pos_account[p]), int(book.pos_series[p]), float(book.pos_size[p]),
                      float(book.pos_entry[p]))
    net, nav = recomputed(book, w, pool)
    q0 = float(book.collateral[a])
    realized = book.close(p, fraction, pool)
    if n == 0.0:
        assert realized == 0.0 and book.collateral[a] == q0
        assert (book.last_pool_tokens, book.last_insurance_tokens, book.last_spread_usd,
                book.last_fee_usd) == (0.0, 0.0, 0.0, 0.0)
        return
    f = min(max(fraction, 0.0), 1.0)
    assert realized == pytest.approx(f * n * (w.mark[s] - entry), rel=1e-12,
                                     abs=1e-12 * abs(n) * (w.mark[s] + entry))
    assert book.pos_size[p] == (0.0 if f == 1.0 else pytest.approx(n * (1 - f), rel=1e-12))
    util = kpool.utilization_after_trade(net, w.mark, w.stress_pool, nav, s, -f * n)
    util_tol = RULE_RTOL * scale.usd / max(abs(nav), 1e-300)
    assert book.last_spread_usd == pytest.approx(
        f * abs(n) * w.mark[s] * option_spread(cfg, w, s, util), rel=RULE_RTOL,
        abs=f * abs(n) * w.mark[s] * cfg.skew * util_tol)
    assert book.last_fee_usd == pytest.approx(f * abs(n) * w.spot[s] * cfg.notional_fee, rel=1e-12)
    pnl_tokens = realized / (book.price_out if realized > 0 else book.price_in)
    dq = float(book.collateral[a]) - q0
    costs = (book.last_spread_usd + book.last_fee_usd) / book.price_in
    assert dq == pytest.approx(pnl_tokens - costs, rel=1e-12,
                               abs=1e-12 * (abs(q0) + abs(pnl_tokens)))
    assert_conserved(q0, dq, book, f"close{op[1:]}")


def assert_rules_hold(book, w: World, cfg: BookConfig, pool_tokens: float, scale: Scale,
                      rng) -> None:
    """The book's running aggregates and readings equal their definitions recomputed from the
    positions; its margin equals margin_pass over the whole book; positions_of is exact."""
    def close(name, got, want, sc):
        assert_close(name, got, want, RULE_RTOL, RULE_RTOL * sc)

    acct, ser, size, entry = positions(book)
    und = w.underlying[ser]
    net, nav = recomputed(book, w, pool_tokens)
    close("net_size", book.net_size[: w.n], net, scale.size)
    close("abs_size", book.abs_size[: w.n], np.bincount(ser, np.abs(size), minlength=w.n),
          scale.size)
    close("entry_notional", book.entry_notional, float(np.sum(size * entry)), scale.usd)
    close("losses", book.losses, kpool.stress_losses(net, w.mark, w.stress_pool), scale.usd)
    close("delta_usd", book.delta_usd,
          np.bincount(und, size * w.delta[ser] * w.spot[ser], minlength=w.n_underlyings), scale.usd)
    close("oi_usd", book.oi_usd,
          np.bincount(und, np.abs(size) * w.spot[ser], minlength=w.n_underlyings), scale.usd)
    close("nav_usd", book.nav_usd(pool_tokens), nav, scale.usd)
    close("utilization", book.utilization(pool_tokens),
          kpool.utilization(net, w.mark, w.stress_pool, nav), scale.usd / max(abs(nav), 1e-300))

    close("margin", [book.margin(a) for a in range(book.n_accounts)],
          np.column_stack(margin_of_book(book, w, cfg)), scale.usd)
    for a in range(book.n_accounts):
        mine = set(np.flatnonzero((acct == a) & (size != 0.0)).tolist())
        slots = book.positions_of(a)
        assert set(slots) == mine and len(slots) == len(mine), f"positions_of({a})"
        assert slots == sorted(slots, reverse=True), f"positions_of({a}) is not newest first"
        p = int(book.acct_head[a])           # the raw list no longer holds closed slots
        while p >= 0:
            assert book.pos_size[p] != 0.0, f"closed slot {p} still linked to account {a}"
            p = int(book.pos_next[p])

    a = int(rng.integers(0, book.n_accounts))
    s, dn = random_trade(rng, w)
    dn = dn if math.isfinite(dn) and dn != 0.0 else 1.0
    e, dq = float(w.mark[s] * rng.uniform(0.5, 1.5)), float(rng.normal(0.0, 100.0))
    eq, mr, ir = margin_of_book(book, w, cfg, (s, dn, e), dq, a)
    close(f"margin({a}, {s}, {dn}, {e}, {dq})", book.margin(a, s, dn, e, dq), (eq[a], mr[a], ir[a]),
          scale.usd)


@SETTINGS
@given(seed=seeds)
def test_book_obeys_the_pool_and_margin_rules(seed: int) -> None:
    """Random operations on the Cython book alone. Every open's outcome is the refusal code
    the rules give (or acceptance), computed from the positions with kernels.pool and
    margin_pass; a refused open changes nothing; an accepted one is charged the spread
    ``base_spread + skew x utilization after`` (perp_spread for perpetuals) and the fee; every
    close realizes ``f n (mark - entry)``; tokens are conserved between the trader and the
    pool + insurance; and after each op the running aggregates, margin and positions_of
    match their definitions."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng)
    book, w, pool, scale = make_book(kbook.TradeBook, sc), sc.world, sc.pool_tokens, Scale()
    for _ in range(N_OPS):
        scale.update(book, w, pool)
        op = random_op(rng, book, w, pool)
        if op[0] == "open":
            if check_open(book, w, sc.cfg, op, scale) >= 0:
                pool += book.last_pool_tokens
        elif op[0] == "close":
            check_close(book, w, sc.cfg, op, scale)
            pool += book.last_pool_tokens
        else:
            apply_op(book, op)
            w = op[1] if op[0] == "reprice" else w
        assert_rules_hold(book, w, sc.cfg, pool, scale, rng)


# ---------------------------------------------------------------- refusals one by one

def plain_book(seed: int, n_underlyings: int = 2, **cfg):
    """A Cython book with 3 accounts of ample collateral (1e9 USD), a 1e6 USD pool, no
    perpetuals, all caps but those in ``cfg`` out of the way; returns (book, world, pool)."""
    rng = np.random.default_rng(seed)
    params = MarginParams()
    underlying = np.arange(8) % n_underlyings
    w = make_world(rng, params, underlying, np.zeros(8, np.uint8),
                   rng.uniform(50.0, 3000.0, n_underlyings), rng.uniform(0.01, 0.3, 8), 5, 3)
    defaults = dict(max_utilization=0.8, max_net_delta_fraction=1e9, oi_cap_usd=math.inf)
    book = kbook.TradeBook(BookConfig(**{**defaults, **cfg}), 5)
    price = 2.0
    for _ in range(3):
        book.collateral[book.add_account()] = 1e9 / price
    book.set_prices(price, price, price)
    bind(book, w)
    return book, w, 1e6 / price


def losing_size(w: World, s: int, loss_usd: float) -> float:
    """Size of series ``s`` whose worst pool stress loss is ``loss_usd``."""
    move = w.stress_pool[:, s] - w.mark[s]
    return loss_usd / move.max() if move.max() > 0 else loss_usd / move.min()


@FEW
@given(seed=seeds, s=st.integers(0, 7))
def test_utilization_cap_refuses_only_trades_that_raise_utilization(seed: int, s: int) -> None:
    """From an empty book, a trade whose worst stress loss is 2x max_utilization x NAV is
    refused with code 2 and changes nothing; a quarter of it is accepted. Then, with a pool so
    small that the book is over the cap, a trade cutting the position (utilization falls but
    stays above the cap) is accepted while one adding to it is refused."""
    book, w, _ = plain_book(seed)
    cap, price = book.cfg.max_utilization, book.price
    nav = 1e5
    dn = losing_size(w, s, 2 * cap * nav)
    pool = nav / price
    assert book.quote(s, dn, pool)[2] == CODE["utilization"]
    assert book.quote(s, dn, pool)[1] == pytest.approx(2 * cap, rel=1e-12)
    before = snapshot(book)
    assert book.open(0, s, dn, 1.0, pool) == -CODE["utilization"]
    assert_unchanged(before, book, "refused open")
    assert book.open(0, s, dn / 4, 1.0, pool) == 0          # utilization cap / 2
    small = pool / 6                       # utilization now 3 x cap (marks unchanged: nav = pool)
    assert book.utilization(small) == pytest.approx(3 * cap, rel=1e-9)
    before = snapshot(book)
    assert book.open(1, s, dn / 10, 1.0, small) == -CODE["utilization"]
    assert_unchanged(before, book, "refused open")
    slot = book.open(1, s, -dn / 8, 1.0, small)
    assert slot == 1, "a trade lowering utilization (still above the cap) must be accepted"
    assert book.utilization(small) == pytest.approx(1.5 * cap, rel=1e-9)


@FEW
@given(seed=seeds)
def test_oi_cap_counts_gross_open_interest_per_underlying(seed: int) -> None:
    """With oi_cap_usd = 10,000: 6,000 USD of notional in a series of underlying 0 is
    accepted; another 6,000 in a series of the same underlying is refused with code 4 even
    when it is the opposite side (open interest is gross); 6,000 in underlying 1 is fine."""
    book, w, pool = plain_book(seed, oi_cap_usd=1e4, max_utilization=1e9)
    s0, s0b, s1 = 0, 2, 1                      # underlyings 0, 0, 1
    assert book.open(0, s0, 6000.0 / w.spot[s0], 1.0, pool) >= 0
    for s, sign in ((s0b, 1.0), (s0b, -1.0), (s0, -1.0)):
        before = snapshot(book)
        assert book.open(1, s, sign * 6000.0 / w.spot[s], 1.0, pool) == -CODE["oi_cap"]
        assert_unchanged(before, book, "refused open")
    assert book.open(1, s0b, 3000.0 / w.spot[s0b], 1.0, pool) >= 0
    assert book.open(2, s1, -6000.0 / w.spot[s1], 1.0, pool) >= 0
    np.testing.assert_allclose(book.oi_usd, [9000.0, 6000.0], rtol=1e-12)


@FEW
@given(seed=seeds, s=st.integers(0, 7))
def test_net_delta_cap_refuses_growing_delta_only(seed: int, s: int) -> None:
    """With max_net_delta_fraction = 0.01 and NAV 1e6 USD, a trade adding more than 10,000
    USD of delta is refused with code 3 and changes nothing; 5,000 USD is accepted, and so
    is the opposite trade of 10,000 from there (it flips the delta without enlarging it)."""
    book, w, pool = plain_book(seed, max_net_delta_fraction=0.01, max_utilization=1e9)
    d = w.delta[s] * w.spot[s]                 # delta USD per unit
    dn = 20_000.0 / d
    before = snapshot(book)
    assert book.open(0, s, dn, 1.0, pool) == -CODE["delta_cap"]
    assert_unchanged(before, book, "refused open")
    assert book.open(0, s, dn / 4, 1.0, pool) >= 0          # 5,000 USD of delta
    assert book.open(1, s, -dn / 2, 1.0, pool) >= 0         # to -5,000: |delta| not larger
    assert book.delta_usd[w.underlying[s]] == pytest.approx(-5000.0, rel=1e-9)


@FEW
@given(seed=seeds, s=st.integers(0, 7), notional=st.floats(10.0, 1e6))
def test_empty_account_is_refused_for_margin(seed: int, s: int, notional: float) -> None:
    """An account without collateral cannot open anything (code 5: the spread and fee alone
    put its equity below 0 <= the initial requirement); nothing changes. The same trade by a
    funded account is accepted."""
    book, w, pool = plain_book(seed, max_utilization=1e9)
    a = book.add_account()
    before = snapshot(book)
    for sign in (1.0, -1.0):
        assert book.open(a, s, sign * notional / w.spot[s], 1.0, pool) == -CODE["margin"]
        assert_unchanged(before, book, "refused open")
    assert book.open(0, s, notional / w.spot[s], 1.0, pool) >= 0


@pytest.mark.parametrize("dn", [0.0, -0.0, math.nan, math.inf, -math.inf])
def test_zero_or_non_finite_size_is_refused(dn: float) -> None:
    """dn = 0, NaN or +-inf is refused with code 6 and changes nothing."""
    book, _, pool = plain_book(7)
    book.open(0, 1, 0.5, 1.0, pool)
    before = snapshot(book)
    assert book.open(0, 1, dn, 1.0, pool) == -CODE["size"]
    assert_unchanged(before, book, "refused open")


@FEW
@given(seed=seeds)
def test_round_trip_costs_exactly_two_spreads_and_two_fees(seed: int) -> None:
    """Open then close the whole position at unchanged marks (entry = mark, so no PnL): the
    trader's collateral falls by exactly the two spreads and two fees converted at price_in,
    each spread following the utilization after its own trade, and the pool plus insurance
    receive exactly that. Other accounts' positions make the utilization term non-zero."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6, max_net_delta_fraction=1e6, oi_cap_usd=math.inf)
    book, w, pool, cfg = make_book(kbook.TradeBook, sc), sc.world, sc.pool_tokens, sc.cfg
    for _ in range(10):                       # background positions from funded accounts
        s, dn = random_trade(rng, w)
        a = int(rng.integers(0, book.n_accounts))
        book.collateral[a] = max(book.collateral[a], 1e7)
        if book.open(a, s, dn, 1.0, pool) >= 0:
            pool += book.last_pool_tokens
    a = book.add_account()
    book.collateral[a] = q0 = 1e5 / book.price
    s = int(rng.integers(0, w.n))
    dn = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 3.0) * 1000.0 / w.spot[s])
    net, nav = recomputed(book, w, pool)
    util_open = kpool.utilization_after_trade(net, w.mark, w.stress_pool, nav, s, dn)
    spread_open = option_spread(cfg, w, s, util_open)
    p = book.open(a, s, dn, 1.0, pool)
    assert p >= 0
    received = book.last_pool_tokens + book.last_insurance_tokens
    pool += book.last_pool_tokens
    net, nav = recomputed(book, w, pool)
    util_close = kpool.utilization_after_trade(net, w.mark, w.stress_pool, nav, s, -dn)
    spread_close = option_spread(cfg, w, s, util_close)
    assert book.close(p, 1.0, pool) == 0.0
    received += book.last_pool_tokens + book.last_insurance_tokens
    paid_usd = abs(dn) * (w.mark[s] * (spread_open + spread_close)
                          + 2 * w.spot[s] * cfg.notional_fee)
    paid = q0 - book.collateral[a]            # exact up to the rounding of q0
    assert paid == pytest.approx(paid_usd / book.price_in, rel=1e-9, abs=1e-12 * q0)
    assert received == pytest.approx(paid, rel=1e-12, abs=1e-12 * q0)
    assert book.positions_of(a) == [] and book.pos_size[p] == 0.0


# ---------------------------------------------------------------- lists and compaction

@FEW
@given(seed=seeds)
def test_compact_keeps_open_positions_and_their_fields(seed: int) -> None:
    """After random operations: compact() returns exactly the old slots of open positions, in
    order; each kept position keeps all its fields; slots past the end are reset; each
    account's positions_of is its old list renumbered; aggregates and margins are unchanged."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng)
    book, w, pool = make_book(kbook.TradeBook, sc), sc.world, sc.pool_tokens
    for _ in range(N_OPS):
        op = random_op(rng, book, w, pool)
        if op[0] != "compact":
            apply_op(book, op)
        w = op[1] if op[0] == "reprice" else w
    k = book.n_positions
    old = {name: getattr(book, name).copy() for name in POSITION_FIELDS}
    lists = {a: book.positions_of(a) for a in range(book.n_accounts)}
    margins = [book.margin(a) for a in range(book.n_accounts)]
    aggregates = {name: np.copy(getattr(book, name)) for name in
                  ("net_size", "abs_size", "losses", "delta_usd", "oi_usd", "entry_notional")}
    live = book.compact()
    np.testing.assert_array_equal(live, np.flatnonzero(old["pos_size"][:k] != 0.0))
    m = live.size
    assert book.n_positions == m
    for name in POSITION_FIELDS[:-1]:
        np.testing.assert_array_equal(getattr(book, name)[:m], old[name][live], err_msg=name)
    fill = {"pos_account": 0, "pos_series": 0, "pos_size": 0.0, "pos_entry": 0.0,
            "pos_take_profit": math.inf, "pos_stop_loss": math.inf, "pos_next": -1}
    for name, value in fill.items():
        assert np.all(getattr(book, name)[m:] == value), f"{name} past the end not reset"
    new_slot = {int(p): i for i, p in enumerate(live)}
    for a in range(book.n_accounts):
        assert book.positions_of(a) == [new_slot[p] for p in lists[a]], f"positions_of({a})"
        np.testing.assert_allclose(book.margin(a), margins[a], rtol=1e-12, err_msg=f"margin({a})")
    for name, value in aggregates.items():
        np.testing.assert_array_equal(getattr(book, name), value, err_msg=name)


# ---------------------------------------------------------------- bad arguments

def test_out_of_range_indices_raise_index_error() -> None:
    """Accounts, series and slots outside the book raise IndexError (not a silent read past
    the arrays), in open, close, quote, margin and positions_of."""
    book, w, pool = plain_book(3)
    assert book.open(0, 0, 1.0, 1.0, pool) == 0
    na, n, k = book.n_accounts, w.n, book.n_positions
    calls = [
        lambda: book.open(-1, 0, 1.0, 1.0, pool), lambda: book.open(na, 0, 1.0, 1.0, pool),
        lambda: book.open(0, -1, 1.0, 1.0, pool), lambda: book.open(0, n, 1.0, 1.0, pool),
        lambda: book.open(na, 0, 0.0, 1.0, pool),
        lambda: book.close(-1, 1.0, pool), lambda: book.close(k, 1.0, pool),
        lambda: book.quote(-1, 1.0, pool), lambda: book.quote(n, 1.0, pool),
        lambda: book.margin(-1), lambda: book.margin(na), lambda: book.margin(0, n, 1.0, 1.0, 0.0),
        lambda: book.positions_of(-1), lambda: book.positions_of(na),
    ]
    for call in calls:
        with pytest.raises(IndexError):
            call()
    # A full book refuses to open until it is compacted or grown.
    while book.n_positions < book.position_capacity:
        assert book.open(0, 0, 1.0, 1.0, pool) >= 0
    with pytest.raises(IndexError, match="full"):
        book.open(0, 0, 1.0, 1.0, pool)
    book.grow_positions()
    assert book.open(0, 0, 1.0, 1.0, pool) == book.position_capacity // 2


def _broken(w: World, what: str) -> dict:
    args = dict(mark=w.mark, delta=w.delta, spot=w.spot, underlying=w.underlying,
                is_perp=w.is_perp, stress_pool=w.stress_pool, table=w.table,
                token_moves=w.token_moves, n_underlyings=w.n_underlyings)
    if what == "stress_pool_points":
        args["stress_pool"] = np.vstack([w.stress_pool, w.stress_pool[:1]])
    elif what == "stress_pool_series":
        args["stress_pool"] = w.stress_pool[:, :-1]
    elif what == "table":
        args["table"] = w.table[:-1]
    elif what == "underlying_range":
        args["n_underlyings"] = int(w.underlying.max())
    else:
        args[what] = args[what][:-1]
    return args


@pytest.mark.parametrize("what, name", [
    ("delta", "delta"), ("spot", "spot"), ("underlying", "underlying"), ("is_perp", "is_perp"),
    ("stress_pool_points", "stress_pool"), ("stress_pool_series", "stress_pool"),
    ("table", "table"), ("underlying_range", "underlying"),
])
def test_bind_series_rejects_mismatched_shapes(what: str, name: str) -> None:
    """bind_series with an array of the wrong length or shape (or an underlying index past
    n_underlyings) raises ValueError naming the argument, and keeps the old series."""
    book, w, pool = plain_book(5)
    book.open(0, 1, 1.0, 1.0, pool)
    before = snapshot(book)
    with pytest.raises(ValueError, match=name):
        book.bind_series(**_broken(w, what))
    assert_unchanged(before, book, "a rejected bind_series")
    assert book.quote(1, 1.0, pool)[2] == 0


@pytest.mark.parametrize("name", [f.name for f in fields(BookConfig)])
@pytest.mark.parametrize("value", [-1.0, -1e-9, math.nan])
def test_book_config_rejects_negative_or_nan_fields(name: str, value: float) -> None:
    """Every BookConfig field refuses a negative or NaN value with a ValueError naming it."""
    with pytest.raises(ValueError, match=rf"book\.{name}\b"):
        BookConfig(**{name: value})


def test_book_rejects_a_config_that_is_not_a_book_config() -> None:
    with pytest.raises(ValueError, match="cfg"):
        kbook.TradeBook(MarginParams(), 3)


@pytest.mark.parametrize("cls", [kbook.TradeBook, rbook.TradeBook], ids=["cython", "twin"])
@pytest.mark.parametrize("fraction", [math.nan, math.inf, -math.inf])
def test_close_with_a_non_finite_fraction_is_an_error(cls, fraction: float) -> None:
    """A NaN or infinite fraction is a caller's bug: both books raise and change nothing."""
    sc = scenario(np.random.default_rng(3), max_utilization=1e6)
    book = make_book(cls, sc)
    book.collateral[0] = 1e6
    p = book.open(0, 0, 1.0, 1.0, sc.pool_tokens)
    assert p >= 0
    before = snapshot(book)
    with pytest.raises(ValueError, match="fraction"):
        book.close(p, fraction, sc.pool_tokens)
    assert_unchanged(before, book, "close with a non-finite fraction")


def test_step_log_lists_each_order_once_with_its_signed_notional() -> None:
    """The step's log has one row per accepted open or close, in order, with the signed
    underlying notional (size x spot), the close flag, the series, the signed size and the
    trader's PnL from the order (realized less spread and fee); the totals match the rows."""
    sc = scenario(np.random.default_rng(8), max_utilization=1e6)
    w = sc.world
    book = make_book(kbook.TradeBook, sc)
    book.collateral[0] = 1e9
    book.take_step_log()
    p = book.open(0, 0, 2.0, 1.0, sc.pool_tokens)
    q = book.open(0, 1, -3.0, 1.0, sc.pool_tokens, 120.0, 45.0)          # with its orders
    assert p >= 0 and q >= 0
    assert (book.pos_take_profit[p], book.pos_stop_loss[p]) == (math.inf, math.inf)
    assert (book.pos_take_profit[q], book.pos_stop_loss[q]) == (120.0, 45.0)
    charges = [-(book.last_spread_usd + book.last_fee_usd)]        # the second open's
    realized = book.close(p, 0.5, sc.pool_tokens)
    charges.append(realized - book.last_spread_usd - book.last_fee_usd)
    is_close, account, usd, series, size, pnl = book.take_step_log()
    np.testing.assert_array_equal(is_close, [0, 0, 1])
    np.testing.assert_array_equal(account, [0, 0, 0])
    np.testing.assert_allclose(usd, [2.0 * w.spot[0], -3.0 * w.spot[1], -1.0 * w.spot[0]], rtol=1e-15)
    np.testing.assert_array_equal(series, [0, 1, 0])
    np.testing.assert_array_equal(size, [2.0, -3.0, -1.0])     # a close of half a long: -1
    assert pnl[0] < 0 and pnl[1:] == pytest.approx(charges, rel=1e-15)
    assert book.step_trades == 0 and book.take_step_log()[0].size == 0


@SETTINGS
@given(seed=seeds, shock=st.floats(-0.6, 0.6))
def test_needs_liquidation_agrees_with_the_liquidation_pass(seed: int, shock: float) -> None:
    """``needs_liquidation`` (the quiet-step shortcut) is True whenever ``run_liquidations``
    would liquidate or fill a deficit, and False otherwise unless an account sits within the
    tolerance of its maintenance requirement; the twin agrees."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng)
    cy, py = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    w = sc.world
    for _ in range(40):
        op = random_op(rng, cy, w, sc.pool_tokens)
        if op[0] in ("open", "close"):
            apply_op(cy, op), apply_op(py, op)
    # Move collateral by the shock (a token move) and push a few accounts into deficit.
    for book in (cy, py):
        book.collateral[: book.n_accounts] *= 1.0 + shock
    if rng.random() < 0.3:
        a = int(rng.integers(cy.n_accounts))
        for book in (cy, py):
            book.collateral[a] = -abs(book.collateral[a]) - 1.0
    need = cy.needs_liquidation()
    assert need == py.needs_liquidation()
    k, na = cy.n_positions, cy.n_accounts
    q, size = cy.collateral[:na].copy(), cy.pos_size[:k].copy()
    res = kliq.run_liquidations(q, cy.price_in, sc.cfg.haircut, cy.pos_account[:k], cy.pos_series[:k], size,
                                cy.pos_entry[:k], w.mark, w.delta, w.spot, w.is_perp, w.stress_margin,
                                w.token_moves, w.params, 0.0, 1e12)
    acts = len(res.liq_account) > 0 or len(res.wf_account) > 0
    if acts:
        assert need
    elif need:
        holding = np.zeros(na, dtype=bool)
        holding[cy.pos_account[:k][cy.pos_size[:k] != 0.0]] = True
        eq, mr = res.equity_usd[holding], res.maint_req_usd[holding]
        assert np.any(eq < mr * (1 + 2e-9) + 1e-9), "shortcut asked for a pass nobody needed"


@pytest.mark.parametrize("cls", [kbook.TradeBook, rbook.TradeBook], ids=["cython", "twin"])
def test_the_book_reads_no_ledger_and_needs_finite_pool_assets(cls) -> None:
    """The book is handed the pool's assets on every call that needs the NAV; it has no ledger
    to read or write (the caller settles ``last_*_tokens`` through the ledger's API)."""
    sc = scenario(np.random.default_rng(4))
    book = make_book(cls, sc)
    assert not hasattr(book, "bind_ledger") and not hasattr(book, "pool_assets")
    for bad in (math.nan, math.inf):
        for call in (lambda: book.open(0, 0, 1.0, 1.0, bad), lambda: book.quote(0, 1.0, bad),
                     lambda: book.nav_usd(bad), lambda: book.utilization(bad)):
            with pytest.raises(ValueError, match="pool_tokens"):
                call()


# ---------------------------------------------------------------- public functions run the book's cores

@SETTINGS
@given(seed=seeds, util=st.one_of(st.floats(0.0, 40.0), st.just(math.inf)))
def test_spread_for_is_the_books_quoted_spread_including_above_the_cap(seed: int, util: float):
    """``kernels.pool.spread_for`` and the book quote with one core: for the book's utilization
    after a trade (and for any utilization, above SPREAD_UTILIZATION_CAP too) the public
    function gives the book's spread to the last bit; the twins agree to rounding."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6)
    book, twin = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    cfg, w = sc.cfg, sc.world
    for book_ in (book, twin):
        book_.collateral[: book_.n_accounts] = 1e9
    options = np.flatnonzero(w.is_perp == 0)
    if options.size == 0:
        return
    s = int(rng.choice(options))
    # A pool so small that this trade's utilization after is ``util`` (inf: NAV <= 0 is refused,
    # so push it through the public functions alone).
    dn = 50.0 / w.spot[s] * (1.0 if rng.random() < 0.5 else -1.0)
    pool_tokens = sc.pool_tokens * float(rng.uniform(0.001, 1.0))
    spread, after, why = book.quote(s, dn, pool_tokens)
    assert spread == kpool.spread_for(cfg.base_spread, cfg.skew, after)                  # same bits
    assert spread == pytest.approx(rpool.spread_for(cfg.base_spread, cfg.skew, after), rel=1e-15)
    assert twin.quote(s, dn, pool_tokens)[0] == pytest.approx(spread, rel=1e-12)
    capped = cfg.base_spread + cfg.skew * SPREAD_UTILIZATION_CAP
    got = kpool.spread_for(cfg.base_spread, cfg.skew, util)
    assert got == kpool.spread_for(np.array([cfg.base_spread]), cfg.skew, np.array([util]))[0]
    assert got == pytest.approx(rpool.spread_for(cfg.base_spread, cfg.skew, util), rel=1e-15)
    if util >= SPREAD_UTILIZATION_CAP:
        assert got == pytest.approx(capped, rel=1e-15)
    if after >= SPREAD_UTILIZATION_CAP:
        assert spread == pytest.approx(capped, rel=1e-15)


def test_the_book_quotes_the_capped_spread_when_the_pool_is_nearly_gone() -> None:
    """A pool whose NAV is a sliver: utilization after the trade is far above the cap, and the
    book's quote is base + skew x SPREAD_UTILIZATION_CAP, as ``spread_for`` says."""
    sc = scenario(np.random.default_rng(21), max_utilization=1e9, max_net_delta_fraction=1e9)
    book, w, cfg = make_book(kbook.TradeBook, sc), sc.world, sc.cfg
    s = int(np.flatnonzero(w.is_perp == 0)[0])
    dn = 5_000.0 / w.spot[s]
    if np.max(dn * (w.stress_pool[:, s] - w.mark[s])) <= 0.0:
        dn = -dn                                          # the side that loses the pool money
    loss = float(np.max(dn * (w.stress_pool[:, s] - w.mark[s])))
    tiny = 1e-3 * loss / book.price            # NAV 1/1000 of the loss: utilization ~1000
    spread, after, why = book.quote(s, dn, tiny)
    assert after > 10 * SPREAD_UTILIZATION_CAP and why == Refusal.ACCEPTED
    assert spread == kpool.spread_for(cfg.base_spread, cfg.skew, after)
    assert spread == pytest.approx(cfg.base_spread + cfg.skew * SPREAD_UTILIZATION_CAP, rel=1e-15)


@SETTINGS
@given(seed=seeds, dt=st.floats(1e-5, 0.05))
def test_pool_accrue_funding_is_the_books_funding_per_account(seed: int, dt: float) -> None:
    """One position per account: ``kernels.pool.accrue_funding`` and the book's funding walk
    run the same core, so each account's funding is the same to the last bit."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e9, max_net_delta_fraction=1e9)
    book, w = make_book(kbook.TradeBook, sc), sc.world
    book.collateral[: book.n_accounts] = 1e9
    while book.position_capacity < book.n_accounts:
        book.grow_positions()
    for a in range(book.n_accounts):
        s, dn = random_trade(rng, w)
        if math.isfinite(dn) and dn != 0.0:
            book.open(a, s, dn, 1.0, 1e12)
    k, na = book.n_positions, book.n_accounts
    payoff = w.mark * rng.uniform(0.0, 1.0, w.n)
    want = kpool.accrue_funding(book.pos_account[:k], book.pos_series[:k], book.pos_size[:k],
                                w.mark, payoff, dt, 1.0, book.price_in, na)
    want[want < 0.0] *= book.price_in / book.price_out     # receipts go out at price_out
    q0 = book.collateral[:na].copy()
    total, _, _ = book.accrue_funding(payoff, dt)
    # Compare the debits as the book makes them (q - f): same core, same bits.
    np.testing.assert_array_equal(book.collateral[:na], q0 - want)
    scale = float(np.abs(want).sum())
    assert total == pytest.approx(float(want.sum()), rel=1e-12, abs=1e-12 * scale)


@SETTINGS
@given(seed=seeds)
def test_triggered_accounts_are_those_whose_orders_crossed(seed: int) -> None:
    """Take-profit / stop-loss crossings: the Cython book, its twin and a NumPy statement of
    the rule (open positions with PnL >= take-profit or <= -stop-loss) name the same accounts;
    and after some closes, the same accounts are flagged as holding a position."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6)
    cy, py = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    w = sc.world
    for book in (cy, py):
        book.collateral[: book.n_accounts] = 1e9
    for _ in range(40):
        s, dn = random_trade(rng, w)
        a = int(rng.integers(cy.n_accounts))
        if cy.n_positions == cy.position_capacity:
            cy.grow_positions(), py.grow_positions()
        p, q = cy.open(a, s, dn, 1.0, sc.pool_tokens), py.open(a, s, dn, 1.0, sc.pool_tokens)
        assert p == q
        if p >= 0 and rng.random() < 0.7:
            tp, sl = rng.exponential(50.0), rng.exponential(50.0)
            cy.set_triggers(p, tp, sl), py.set_triggers(p, tp, sl)
    w2 = reprice(rng, w)                                # marks move: some orders cross
    bind(cy, w2), bind(py, w2)
    k = cy.n_positions
    size = cy.pos_size[:k]
    pnl = size * (w2.mark[cy.pos_series[:k]] - cy.pos_entry[:k])
    hit = (size != 0) & ((pnl >= cy.pos_take_profit[:k]) | (pnl <= -cy.pos_stop_loss[:k]))
    want = np.unique(cy.pos_account[:k][hit])
    np.testing.assert_array_equal(cy.triggered_accounts(), want)
    np.testing.assert_array_equal(py.triggered_accounts(), want)
    # Holding flags: the accounts with an open position, by the same definition.
    for p in rng.choice(k, size=k // 3, replace=False):     # some closes first
        cy.close(int(p), 1.0, sc.pool_tokens), py.close(int(p), 1.0, sc.pool_tokens)
    holding = np.zeros(cy.n_accounts, dtype=np.uint8)
    holding[cy.pos_account[:k][cy.pos_size[:k] != 0.0]] = 1
    np.testing.assert_array_equal(cy.holding_flags(), holding)
    np.testing.assert_array_equal(py.holding_flags(), holding)


@SETTINGS
@given(seed=seeds, dt=st.floats(1e-5, 0.05))
def test_funding_walk_matches_the_pool_kernel_and_the_margin_check(seed: int, dt: float) -> None:
    """``accrue_funding`` debits exactly ``kernels.pool.accrue_funding``'s amounts from each
    account and returns their total (the pool's, which the caller settles), reports what payers
    paid (USD), and its flag is ``needs_liquidation`` after the funding; the twin agrees."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6)
    cy, py = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    w = sc.world
    trade_randomly(rng, (cy, py), sc)
    payoff = w.mark * rng.uniform(0.0, 1.0, w.n)
    k, na = cy.n_positions, cy.n_accounts
    want = kpool.accrue_funding(cy.pos_account[:k], cy.pos_series[:k], cy.pos_size[:k], w.mark, payoff,
                                dt, 1.0, cy.price_in, na)
    want[want < 0.0] *= cy.price_in / cy.price_out     # payments in at price_in, receipts out at price_out
    q0 = cy.collateral[:na].copy()
    got_c, got_p = cy.accrue_funding(payoff, dt), py.accrue_funding(payoff, dt)
    scale = float(np.abs(want).sum()) + 1e-300
    ulp_q = 4 * np.finfo(float).eps * float(np.abs(q0).max(initial=0.0))    # q0 - q1 cancels
    np.testing.assert_allclose(q0 - cy.collateral[:na], want, rtol=1e-12, atol=1e-13 * scale + ulp_q)
    np.testing.assert_allclose(cy.collateral[:na], py.collateral[:na], rtol=1e-12, atol=1e-13 * scale)
    assert got_c[0] == pytest.approx(want.sum(), rel=1e-12, abs=1e-13 * scale)
    assert got_c[1] == pytest.approx(want[want > 0].sum() * cy.price_in, rel=1e-12,
                                     abs=1e-13 * scale * cy.price_in)
    assert got_c[2] == got_p[2] == cy.needs_liquidation() == py.needs_liquidation()
    assert got_p[0] == pytest.approx(got_c[0], rel=1e-12, abs=1e-13 * scale)


@SETTINGS
@given(seed=seeds)
def test_book_margin_is_the_liquidation_kernels_margin_to_the_last_bit(seed: int) -> None:
    """The book's one-account check and ``kernels.liquidation.margin_from_table`` run one margin
    core: fed the account's positions in the book's order (newest first), they agree exactly."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6)
    book, w = make_book(kbook.TradeBook, sc), sc.world
    trade_randomly(rng, (book,), sc)
    for a in range(book.n_accounts):
        slots = np.array(book.positions_of(a), dtype=np.int64)
        got = book.margin(a)
        want = kliq.margin_from_table(
            book.collateral[a:a + 1].copy(), book.price_in, sc.cfg.haircut,
            np.zeros(slots.size, dtype=np.int64), book.pos_series[slots], book.pos_size[slots],
            book.pos_entry[slots], w.table, w.token_moves, sc.cfg.stress_maint_mult,
            sc.cfg.stress_initial_mult)
        assert got == tuple(float(x[0]) for x in want)
