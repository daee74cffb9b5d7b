"""kernels.liquidation against its plain-Python twin and against design section 6."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import liquidation as kern
from kernels import pool
from kernels.params import LiquidationResult, MarginParams
from kernels.reference import liquidation as ref

RTOL = 1e-9
SETTINGS = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)
MOVES = np.array([0.0, -0.10, -0.25])  # design section 6: margin-token moves


def book(seed: int, n_accounts: int = 20, n: int = 60, n_series: int = 5, price: float = 40.0,
         debt: float = 5.0) -> dict:
    """A random market: collateral may be negative, marks move +-15% at the crypto stress rows."""
    rng = np.random.default_rng(seed)
    mark = rng.uniform(5.0, 300.0, n_series)
    is_perp = (rng.uniform(size=n_series) < 0.3).astype(np.uint8)
    spot = np.where(is_perp == 1, mark, rng.uniform(900.0, 1100.0, n_series))
    ser = rng.integers(0, n_series, n)
    size = rng.normal(0.0, 1.0, n) * (rng.uniform(size=n) < 0.9)  # some closed (0) positions
    return dict(
        collateral=rng.normal(debt, 10.0, n_accounts), oracle_price=price, haircut=0.25,
        pos_account=rng.integers(0, n_accounts, n), pos_series=ser, pos_size=size,
        pos_entry=mark[ser] * rng.uniform(0.6, 1.4, n), series_mark=mark,
        series_delta=rng.uniform(-1.0, 1.0, n_series), series_spot=spot, series_is_perp=is_perp,
        stress_marks=mark * (1.0 + np.array([[-0.15], [0.0], [0.15]]) * rng.uniform(0, 3, n_series)),
        token_moves=MOVES,
    )


def copy(args: dict) -> dict:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}


def scale_usd(a: dict) -> float:
    """Sum of |terms| of the account sums, the floor for comparing cancelling sums."""
    return float(a["oracle_price"] * np.abs(a["collateral"]).sum()
                 + (np.abs(a["pos_size"]) * (a["pos_entry"] + a["series_spot"][a["pos_series"]])).sum())


def close(x, y, scale: float) -> None:
    np.testing.assert_allclose(x, y, rtol=RTOL, atol=RTOL * scale)


def upnl_usd(a: dict) -> np.ndarray:
    pnl = a["pos_size"] * (a["series_mark"][a["pos_series"]] - a["pos_entry"])
    return np.bincount(a["pos_account"], weights=pnl, minlength=len(a["collateral"]))


def total(a: dict, r: LiquidationResult) -> float:
    return float(a["collateral"].sum() + r.pool_balance + r.insurance_balance + r.keeper_tokens)


def one_account(q, price, haircut, size, mark, entry, delta, spot, perp, stress_col, moves):
    """Margin of one account holding one position (USD)."""
    return kern.margin_pass(
        np.array([q]), price, haircut, np.array([0]), np.array([0]), np.array([size]),
        np.array([entry]), np.array([mark]), np.array([delta]), np.array([spot]),
        np.array([perp], np.uint8), np.array(stress_col, dtype=float).reshape(-1, 1),
        np.array(moves, dtype=float))


# ---------------------------------------------------------------- kernel == twin

@SETTINGS
@given(seed=seeds, n_accounts=st.integers(1, 25), n=st.integers(0, 80), n_series=st.integers(1, 6))
def test_margin_pass_matches_twin(seed: int, n_accounts: int, n: int, n_series: int) -> None:
    a = book(seed, n_accounts, n, n_series)
    for got, want in zip(kern.margin_pass(**a), ref.margin_pass(**a)):
        close(got, want, scale_usd(a))


@SETTINGS
@given(seed=seeds, n_accounts=st.integers(1, 25), n=st.integers(0, 80),
       pool_balance=st.sampled_from([-50.0, 0.0, 3.0, 1e4]), insurance=st.sampled_from([0.0, 2.0, 1e3]))
def test_run_liquidations_matches_twin(seed, n_accounts, n, pool_balance, insurance) -> None:
    a, b = book(seed, n_accounts, n), None
    b = copy(a)
    r1 = kern.run_liquidations(**a, insurance_balance=insurance, pool_balance=pool_balance)
    r2 = ref.run_liquidations(**b, insurance_balance=insurance, pool_balance=pool_balance)
    tokens = scale_usd(b) / b["oracle_price"] + abs(pool_balance) + insurance
    close(a["collateral"], b["collateral"], tokens)
    close(a["pos_size"], b["pos_size"], float(np.abs(b["pos_size"]).sum()))
    for name in ("liq_account", "wf_account", "adl_position", "adl_account"):
        np.testing.assert_array_equal(getattr(r1, name), getattr(r2, name), err_msg=name)
    for name in ("equity_usd", "maint_req_usd", "initial_req_usd"):
        close(getattr(r1, name), getattr(r2, name), scale_usd(b))
    for name in ("liq_close_fraction", "liq_realized_tokens", "liq_penalty_tokens",
                 "liq_keeper_tokens", "liq_insurance_tokens", "wf_deficit_tokens",
                 "wf_from_insurance", "wf_from_pool", "adl_profit_tokens", "adl_paid_tokens",
                 "insurance_balance", "pool_balance", "pool_delta_tokens",
                 "insurance_delta_tokens"):
        close(getattr(r1, name), getattr(r2, name), tokens)


# ---------------------------------------------------------------- margin by hand (design section 6)

def test_one_long_call_is_margined_by_the_delta_rule() -> None:
    # 10 USDC (no haircut, no token move); long 2 calls, S 1000, delta 0.5, mark 20, entry 15.
    e, m, i = one_account(10.0, 1.0, 0.0, 2.0, 20.0, 15.0, 0.5, 1000.0, 0, [5.0, 20.0, 45.0], [0.0])
    assert e[0] == pytest.approx(10.0 + 2 * 5.0)
    assert m[0] == pytest.approx(2 * 1000 * (0.10 * 0.5 + 0.01))   # 120 > stress loss 30
    assert i[0] == pytest.approx(2 * 1000 * (0.15 * 0.5 + 0.01))   # 170 > 1.5 x 30


def test_one_short_put_uses_the_short_ratios() -> None:
    # 50 USDC; short 3 puts, delta -0.4, mark 12, entry 10; at -15% the put is worth 80.
    e, m, i = one_account(50.0, 1.0, 0.0, -3.0, 12.0, 10.0, -0.4, 1000.0, 0, [80.0, 12.0, 2.0],
                          [0.0])
    assert e[0] == pytest.approx(50.0 - 3 * 2.0)
    assert m[0] == pytest.approx(3 * 1000 * (0.25 * 0.4 + 0.01))   # 330 > stress 204
    assert i[0] == pytest.approx(3 * 1000 * (0.33 * 0.4 + 0.01))   # 426 > 1.5 x 204 = 306


def test_quanto_short_perp_is_margined_by_the_joint_stress_rule() -> None:
    # 100 stock tokens at 300 USD, haircut 25%: CV 22,500. Short 0.1 BTC perp at 100k.
    # Worst point: BTC +15% (loss 1,500) and the token -25% (loss 5,625).
    e, m, i = one_account(100.0, 300.0, 0.25, -0.1, 1e5, 1e5, 1.0, 1e5, 1,
                          [85000.0, 1e5, 115000.0], MOVES)
    assert e[0] == pytest.approx(22500.0)
    assert m[0] == pytest.approx(1500.0 + 5625.0)                 # > delta rule 2,600
    assert i[0] == pytest.approx(1.5 * (1500.0 + 5625.0))         # > delta rule 3,400
    # A perpetual future uses the short ratios on the long side too.
    _, m_long, _ = one_account(1e6, 1.0, 0.0, 0.1, 1e5, 1e5, 1.0, 1e5, 1, [1e5], [0.0])
    assert m_long[0] == pytest.approx(0.1 * 1e5 * (0.25 + 0.01))


@SETTINGS
@given(seed=seeds, low=st.floats(0.01, 1e3), ratio=st.floats(1.0, 100.0))
def test_equity_is_monotone_in_the_oracle_price(seed: int, low: float, ratio: float) -> None:
    a = book(seed)
    e_low, *_ = kern.margin_pass(**{**a, "oracle_price": low})
    e_high, *_ = kern.margin_pass(**{**a, "oracle_price": low * ratio})
    long_tokens = a["collateral"] >= 0
    assert np.all(e_high[long_tokens] >= e_low[long_tokens])
    # A debt in tokens grows in USD with the token price: monotone the other way.
    assert np.all(e_high[~long_tokens] <= e_low[~long_tokens])


# ---------------------------------------------------------------- liquidation properties

@SETTINGS
@given(seed=seeds, insurance=st.sampled_from([0.0, 5.0, 1e4]))
def test_liquidation_never_enlarges_an_accounts_deficit(seed: int, insurance: float) -> None:
    a = book(seed)
    p = a["oracle_price"]
    before = np.maximum(-(a["collateral"] * p + upnl_usd(a)), 0.0)  # owed if all closed at mark
    r = kern.run_liquidations(**a, insurance_balance=insurance, pool_balance=1e9)  # no ADL
    assert r.adl_position.size == 0
    after = np.maximum(-(a["collateral"] * p + upnl_usd(a)), 0.0)
    assert np.all(after <= before + 1e-9 * scale_usd(a))
    assert r.liq_account.size > 0 or r.wf_account.size > 0 or np.all(before == 0)


@SETTINGS
@given(seed=seeds)
def test_penalty_never_creates_bad_debt(seed: int) -> None:
    a = book(seed, debt=3.0)
    q0, p = a["collateral"].copy(), a["oracle_price"]
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=1e9)
    q_after_close = q0[r.liq_account] + r.liq_realized_tokens
    assert np.all(r.liq_penalty_tokens >= 0)
    assert np.all(r.liq_penalty_tokens <= np.maximum(q_after_close, 0.0) * (1 + 1e-12))
    # Where the closed account still had collateral >= 0, nothing fell to the waterfall.
    healthy = r.liq_account[(q_after_close >= 0) & (r.liq_close_fraction == 1.0)]
    assert not np.intersect1d(healthy, r.wf_account).size
    np.testing.assert_allclose(r.liq_keeper_tokens + r.liq_insurance_tokens, r.liq_penalty_tokens)
    assert np.all(r.liq_penalty_tokens <= 0.05 * r.maint_req_usd[r.liq_account] / p * (1 + 1e-12))


def test_penalty_is_capped_by_positive_collateral_after_a_partial_close() -> None:
    # Long 10 calls (delta 0.5, S 1000): maintenance 600 USD. PnL +2000, q -1420: E = 580, a
    # partial close realizes 1000 and leaves q = -420 with equity 580. Without the cap by
    # positive collateral the penalty (15) would push q further below 0.
    a = dict(adl_book(), collateral=np.array([-1420.0]), pos_account=np.array([0]),
             pos_series=np.array([0]), pos_size=np.array([10.0]), pos_entry=np.array([100.0]),
             series_mark=np.array([300.0]), stress_marks=np.array([[300.0]]))
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=1e6)
    np.testing.assert_array_equal(r.liq_close_fraction, [0.5])
    np.testing.assert_allclose(r.liq_realized_tokens, [1000.0])
    np.testing.assert_array_equal(r.liq_penalty_tokens, [0.0])
    assert a["collateral"][0] == pytest.approx(-420.0) and a["pos_size"][0] == 5.0
    assert r.wf_account.size == 0                     # a position is still open


@SETTINGS
@given(seed=seeds, insurance=st.floats(0.0, 200.0))
def test_waterfall_pays_the_deficit_exactly_insurance_first(seed: int, insurance: float) -> None:
    a = book(seed, debt=-5.0)
    a["pos_size"][: len(a["pos_size"]) // 2] = 0.0   # accounts with nothing open
    q0 = a["collateral"].copy()
    r = kern.run_liquidations(**a, insurance_balance=insurance, pool_balance=1e9)
    np.testing.assert_allclose(r.wf_from_insurance + r.wf_from_pool, r.wf_deficit_tokens)
    assert np.all(r.wf_from_insurance >= 0) and np.all(r.wf_from_pool >= 0)
    assert np.all(a["collateral"][r.wf_account] == 0.0)
    untouched = np.setdiff1d(np.flatnonzero(q0 < 0), np.union1d(r.liq_account, r.wf_account))
    # A deficit is never overpaid: without a liquidation it is exactly -q before.
    plain = np.isin(r.wf_account, r.liq_account, invert=True)
    np.testing.assert_allclose(r.wf_deficit_tokens[plain], -q0[r.wf_account[plain]])
    assert np.all(a["collateral"][untouched] == q0[untouched])
    available = insurance + r.liq_insurance_tokens.sum()
    assert r.wf_from_insurance.sum() <= available * (1 + 1e-12) + 1e-12
    if np.any(r.wf_from_pool > 0):       # the pool pays only once insurance is empty
        first = np.flatnonzero(r.wf_from_pool > 0)[0]
        assert np.all(r.wf_from_insurance[first + 1:] == 0)
        assert r.insurance_balance == pytest.approx(0.0, abs=1e-9 * (available + 1))


@SETTINGS
@given(seed=seeds, n=st.integers(0, 80), pool_balance=st.floats(-100.0, 100.0),
       insurance=st.floats(0.0, 100.0), price=st.floats(0.5, 500.0))
def test_conservation_through_liquidation_waterfall_and_adl(seed, n, pool_balance, insurance,
                                                            price) -> None:
    a = book(seed, n=n, price=price)
    before = float(a["collateral"].sum() + pool_balance + insurance)
    r = kern.run_liquidations(**a, insurance_balance=insurance, pool_balance=pool_balance)
    scale = scale_usd(a) / price + abs(pool_balance) + insurance
    assert total(a, r) == pytest.approx(before, rel=1e-9, abs=1e-9 * scale)
    assert r.pool_delta_tokens == pytest.approx(r.pool_balance - pool_balance, abs=1e-12 * scale)
    assert r.insurance_delta_tokens == pytest.approx(r.insurance_balance - insurance,
                                                     abs=1e-12 * scale)


# ---------------------------------------------------------------- auto-deleveraging

def adl_book() -> dict:
    """Accounts 0-2 hold winners (+100, +300, +50 USD at mark), account 3 a loser (-20)."""
    return dict(
        collateral=np.array([100.0, 10.0, 1000.0, 100.0]), oracle_price=1.0, haircut=0.0,
        pos_account=np.array([0, 1, 2, 3]), pos_series=np.zeros(4, np.int64),
        pos_size=np.array([1.0, 3.0, 0.5, -0.2]), pos_entry=np.full(4, 100.0),
        series_mark=np.array([200.0]), series_delta=np.array([0.5]), series_spot=np.array([1e3]),
        series_is_perp=np.zeros(1, np.uint8), stress_marks=np.full((1, 1), 200.0),
        token_moves=np.zeros(1))


def pool_nav(a: dict, pool_balance: float) -> float:
    return pool_balance - upnl_usd(a).sum() / a["oracle_price"]


def test_adl_closes_the_most_profitable_and_leaves_nav_at_zero() -> None:
    a = adl_book()
    # NAV = 200 - 430 = -230: account 1 (300 / 10) ranks first and alone covers it.
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=200.0)
    np.testing.assert_array_equal(r.adl_account, [1])
    assert r.adl_profit_tokens[0] == pytest.approx(300.0)
    assert r.adl_paid_tokens[0] == pytest.approx(70.0)
    assert pool_nav(a, r.pool_balance) == pytest.approx(0.0, abs=1e-9)
    assert a["collateral"][1] == pytest.approx(80.0) and a["pos_size"][1] == 0.0


def test_adl_takes_winners_in_rank_order_and_pays_pro_rata() -> None:
    a = adl_book()
    # NAV = 0 - 430. Ranks: account 1 (300/10), 0 (100/100), 2 (50/1000). 300 + 100 < 430, so
    # account 2 is taken too: 450 covers 430, and each is paid 20/450 of its profit.
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=0.0)
    np.testing.assert_array_equal(r.adl_account, [1, 0, 2])
    np.testing.assert_allclose(r.adl_paid_tokens, np.array([300.0, 100.0, 50.0]) * 20 / 450)
    assert pool_nav(a, r.pool_balance) == pytest.approx(0.0, abs=1e-9)


def test_adl_pays_nothing_when_all_profits_cannot_cover_the_shortfall() -> None:
    a = adl_book()
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=-1000.0)
    np.testing.assert_array_equal(np.sort(r.adl_account), [0, 1, 2])
    np.testing.assert_array_equal(r.adl_paid_tokens, 0.0)
    assert pool_nav(a, r.pool_balance) == pytest.approx(-1000.0 + 20.0)  # stays negative
    assert a["pos_size"][3] == -0.2                                      # losers untouched


@pytest.mark.parametrize("engine", [kern, ref], ids=["cython", "reference"])
def test_adl_in_safe_mode_pays_winners_at_the_higher_outgoing_price(engine) -> None:
    a = adl_book()
    # Safe mode: collateral and losses at 1.0 (min(TWAP, NAV)), tokens paid out at 1.25
    # (max, design 4). Gains owed: 450 USD = 360 tokens at 1.25; the loser owes 20 tokens.
    # NAV = 0 - 360 + 20 = -340 tokens: account 1 (240 tokens) and 0 (80) fall short, 2 (40)
    # completes it; each is paid (360 - 340) / 360 of its profit in tokens at 1.25.
    r = engine.run_liquidations(**a, insurance_balance=0.0, pool_balance=0.0, price_out=1.25)
    np.testing.assert_array_equal(r.adl_account, [1, 0, 2])
    np.testing.assert_allclose(r.adl_profit_tokens, np.array([300.0, 100.0, 50.0]) / 1.25)
    np.testing.assert_allclose(r.adl_paid_tokens, np.array([300.0, 100.0, 50.0]) / 1.25 * 20 / 360)
    assert r.pool_balance == pytest.approx(-20.0, rel=1e-12)   # NAV ends at 0: -20 + 20 owed
    assert r.adl_paid_tokens.sum() == pytest.approx(20.0 * 450 / 360 / 1.25, rel=1e-12)


@pytest.mark.parametrize("engine", [kern, ref], ids=["cython", "reference"])
def test_adl_waits_when_the_shortfall_is_only_in_valuing_gains_at_the_lower_price(engine) -> None:
    a = adl_book()
    # At 1.0 the pool would be short (450 - 20 > 400); gains paid at 1.25 cost 360 tokens and
    # the pool's 400 tokens cover them: no ADL in safe mode.
    r = engine.run_liquidations(**a, insurance_balance=0.0, pool_balance=400.0, price_out=1.25)
    assert r.adl_account.size == 0
    # ... while outside safe mode (one price) the same book is short and ADL runs.
    assert engine.run_liquidations(**adl_book(), insurance_balance=0.0,
                                   pool_balance=400.0).adl_account.size > 0


def test_first_bad_debt_without_insurance_lowers_lp_share_price_by_its_amount() -> None:
    a = adl_book()
    a["pos_size"][:] = 0.0
    a["collateral"][2] = -7.5                     # a deficit of 7.5 tokens, nothing open
    shares, pool_balance = 1000.0, 2000.0
    price_before = pool.assets_for_shares(1.0, shares, pool_nav(a, pool_balance))
    r = kern.run_liquidations(**a, insurance_balance=0.0, pool_balance=pool_balance)
    price_after = pool.assets_for_shares(1.0, shares, pool_nav(a, r.pool_balance))
    assert r.wf_from_pool.tolist() == [7.5]
    assert (price_before - price_after) * shares == pytest.approx(7.5, rel=1e-12)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("name, change", [
    ("collateral", {"collateral": np.array([np.nan, 1.0, 1.0, 1.0])}),
    ("pos_size", {"pos_size": np.array([1.0, np.inf, 0.0, 0.0])}),
    ("pos_entry", {"pos_entry": np.array([1.0, -1.0, 1.0, 1.0])}),
    ("pos_entry", {"pos_entry": np.array([1.0, 1.0])}),
    ("pos_account", {"pos_account": np.array([0, 1, 2, 4])}),
    ("pos_account", {"pos_account": np.array([0, 1, 2])}),
    ("pos_series", {"pos_series": np.array([0, 0, 0, -1])}),
    ("series_delta", {"series_delta": np.array([0.5, 0.5])}),
    ("series_spot", {"series_spot": np.array([-1.0])}),
    ("series_is_perp", {"series_is_perp": np.array([0.5])}),
    ("stress_marks", {"stress_marks": np.ones((2, 2))}),
    ("token_moves", {"token_moves": np.array([-1.5])}),
    ("oracle_price", {"oracle_price": 0.0}),
    ("haircut", {"haircut": 1.0}),
    ("params", {"params": {"close_factor": 0.5}}),
])
def test_bad_arguments_raise_value_error_naming_them(name: str, change: dict) -> None:
    with pytest.raises(ValueError, match=name):
        kern.margin_pass(**{**adl_book(), **change})
    with pytest.raises(ValueError, match=name):
        kern.run_liquidations(**{**adl_book(), **change})


def test_in_place_arguments_and_balances_are_checked() -> None:
    with pytest.raises(ValueError, match="collateral"):
        kern.run_liquidations(**{**adl_book(), "collateral": [1.0, 1.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match="pos_size"):
        kern.run_liquidations(**{**adl_book(), "pos_size": np.ones(4, np.float32)})
    with pytest.raises(ValueError, match="insurance_balance"):
        kern.run_liquidations(**adl_book(), insurance_balance=-1.0)
    with pytest.raises(ValueError, match="pool_balance"):
        kern.run_liquidations(**adl_book(), pool_balance=math.nan)
    with pytest.raises(ValueError, match="params.close_factor"):
        MarginParams(close_factor=1.5)


# -- the hot path: margin from a per-series table -------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_acc=st.integers(1, 12), n_pos=st.integers(0, 40),
       n_series=st.integers(1, 8), n_crypto=st.integers(1, 4))
def test_margin_from_table_equals_margin_pass_and_its_twin(seed, n_acc, n_pos, n_series, n_crypto):
    from kernels import liquidation as fast
    from kernels.reference import liquidation as ref

    rng = np.random.default_rng(seed)
    q = rng.normal(50.0, 60.0, n_acc)
    acct = rng.integers(0, n_acc, n_pos).astype(np.int64)
    ser = rng.integers(0, n_series, n_pos).astype(np.int64)
    size = rng.normal(0.0, 2.0, n_pos)
    entry = rng.uniform(1.0, 500.0, n_pos)
    mark = rng.uniform(1.0, 500.0, n_series)
    delta = rng.uniform(-1.0, 1.0, n_series)
    spot = rng.uniform(100.0, 2000.0, n_series)
    perp = rng.integers(0, 2, n_series).astype(np.uint8)
    stress = np.ascontiguousarray(rng.uniform(1.0, 600.0, (n_crypto, n_series)))
    moves = np.array([0.0, -0.1, -0.25])
    params = MarginParams()
    price, h = 300.0, 0.25
    want = ref.margin_pass(q, price, h, acct, ser, size, entry, mark, delta, spot, perp, stress, moves, params)
    table = fast.margin_table(mark, delta, spot, perp, stress, params)
    np.testing.assert_allclose(table, ref.margin_table(mark, delta, spot, perp, stress, params), rtol=1e-12)
    got = fast.margin_from_table(q, price, h, acct, ser, size, entry, table, moves,
                                 params.stress_maint_mult, params.stress_initial_mult)
    twin = ref.margin_from_table(q, price, h, acct, ser, size, entry, table, moves,
                                 params.stress_maint_mult, params.stress_initial_mult)
    scale = 1.0 + np.abs(q).max() * price + np.abs(size).sum() * 2000.0
    for g, t, w in zip(got, twin, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(t, w, rtol=1e-9, atol=1e-9 * scale)
