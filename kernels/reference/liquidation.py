"""Plain-Python twin of ``kernels.liquidation`` (design section 6): same signatures and result
type, written for clarity. The stress rule is computed here by revaluing each account at every
joint grid point, an independent check of the kernel's faster algebra.

The twins trust their inputs; argument checks live in the Cython module's Python layer.
"""

from __future__ import annotations

import numpy as np

from kernels.params import ADL_REL_TOL, TINY_USD, LiquidationResult, MarginParams


def collateral_value_usd(q, price, haircut):
    """Margin value (USD) of q tokens: positive balances are haircut, debts are not."""
    return price * (max(q, 0.0) * (1.0 - haircut) + min(q, 0.0))


def _ratios(params, is_long, is_perp):
    """(maintenance, initial) ratio of the delta rule for one position."""
    if is_long and not is_perp:
        return params.long_maint, params.long_initial
    return params.short_maint, params.short_initial


def margin_pass(collateral, oracle_price, haircut, pos_account, pos_series, pos_size, pos_entry,
                series_mark, series_delta, series_spot, series_is_perp, stress_marks, token_moves,
                params=MarginParams()):
    """Per account: (equity_usd, maint_req_usd, initial_req_usd).

    Equity E = CV + sum n (mark - entry). Requirement = max of the delta rule and
    ``stress_*_mult x`` the largest loss over the grid (crypto rows of ``stress_marks``) x
    (``token_moves`` applied to the oracle price in CV), floored at 0.
    """
    n_accounts = len(collateral)
    upnl = [0.0] * n_accounts
    delta_maint = [0.0] * n_accounts
    delta_init = [0.0] * n_accounts
    positions_of = [[] for _ in range(n_accounts)]
    for i in range(len(pos_size)):
        a, s, n = pos_account[i], pos_series[i], pos_size[i]
        positions_of[a].append(i)
        upnl[a] += n * (series_mark[s] - pos_entry[i])
        maint_ratio, init_ratio = _ratios(params, n > 0, bool(series_is_perp[s]))
        notional = abs(n) * series_spot[s]
        delta_maint[a] += notional * (maint_ratio * abs(series_delta[s]) + params.floor)
        delta_init[a] += notional * (init_ratio * abs(series_delta[s]) + params.floor)

    equity = np.zeros(n_accounts)
    maint = np.zeros(n_accounts)
    init = np.zeros(n_accounts)
    for a in range(n_accounts):
        equity[a] = collateral_value_usd(collateral[a], oracle_price, haircut) + upnl[a]
        worst = 0.0
        for row in stress_marks:
            for move in token_moves:
                value = collateral_value_usd(collateral[a], oracle_price * (1.0 + move), haircut)
                for i in positions_of[a]:
                    value += pos_size[i] * (row[pos_series[i]] - pos_entry[i])
                worst = max(worst, equity[a] - value)
        maint[a] = max(delta_maint[a], params.stress_maint_mult * worst)
        init[a] = max(delta_init[a], params.stress_initial_mult * worst)
    return equity, maint, init


def margin_table(series_mark, series_delta, series_spot, series_is_perp, stress_marks,
                 params=MarginParams()):
    """Per series: [mark, maint long, maint short, initial long, initial short, mark - stress_c...]
    where the delta-rule columns are USD per unit of size, S (ratio |delta| + floor)."""
    table = []
    for s in range(len(series_mark)):
        perp = bool(series_is_perp[s])
        row = [float(series_mark[s])]
        for is_long, pick in ((True, 0), (False, 0), (True, 1), (False, 1)):
            ratio = _ratios(params, is_long, perp)[pick]
            row.append(series_spot[s] * (ratio * abs(series_delta[s]) + params.floor))
        row.extend(series_mark[s] - stress_marks[c][s] for c in range(len(stress_marks)))
        table.append(row)
    return np.array(table, dtype=float).reshape(len(series_mark), 5 + len(stress_marks))


def margin_from_table(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                      pos_entry, table, token_moves, stress_maint_mult, stress_initial_mult):
    """margin_pass from a margin_table: per account (equity, maint, initial) in USD."""
    n_accounts, n_crypto = len(collateral), len(table[0]) - 5 if len(table) else 0
    upnl = [0.0] * n_accounts
    d_maint = [0.0] * n_accounts
    d_init = [0.0] * n_accounts
    crypto_loss = [[0.0] * n_crypto for _ in range(n_accounts)]
    for i in range(len(pos_size)):
        a, row, n = pos_account[i], table[pos_series[i]], pos_size[i]
        side = 0 if n > 0 else 1
        upnl[a] += n * (row[0] - pos_entry[i])
        d_maint[a] += abs(n) * row[1 + side]
        d_init[a] += abs(n) * row[3 + side]
        for c in range(n_crypto):
            crypto_loss[a][c] += n * row[5 + c]
    equity, maint, init = np.zeros(n_accounts), np.zeros(n_accounts), np.zeros(n_accounts)
    for a in range(n_accounts):
        cv = collateral_value_usd(collateral[a], oracle_price, haircut)
        equity[a] = cv + upnl[a]
        worst = 0.0
        if n_crypto and len(token_moves):
            worst = max(max(crypto_loss[a]) + max(-t * cv for t in token_moves), 0.0)
        maint[a] = max(d_maint[a], stress_maint_mult * worst)
        init[a] = max(d_init[a], stress_initial_mult * worst)
    return equity, maint, init


def run_liquidations(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                     pos_entry, series_mark, series_delta, series_spot, series_is_perp,
                     stress_marks, token_moves, params=MarginParams(), insurance_balance=0.0,
                     pool_balance=0.0, price_out=None):
    """Liquidate, fill deficits (insurance, then pool) and auto-deleverage; see the kernel.

    ``collateral`` (tokens) and ``pos_size`` are modified in place. Realized gains leave the
    pool in tokens at ``price_out`` (default ``oracle_price``), losses come in at the oracle price.
    """
    P = oracle_price
    P_out = P if price_out is None else price_out
    equity, maint, init = margin_pass(
        collateral, P, haircut, pos_account, pos_series, pos_size, pos_entry, series_mark,
        series_delta, series_spot, series_is_perp, stress_marks, token_moves, params)
    n_accounts = len(collateral)
    insurance0, pool0 = insurance_balance, pool_balance

    has_position = [False] * n_accounts
    upnl = [0.0] * n_accounts
    for i in range(len(pos_size)):
        if pos_size[i] != 0.0:
            has_position[pos_account[i]] = True
        upnl[pos_account[i]] += pos_size[i] * (series_mark[pos_series[i]] - pos_entry[i])

    # 1. Liquidations: unhealthy accounts close a fraction of every position at mark.
    fraction = [0.0] * n_accounts
    for a in range(n_accounts):
        if has_position[a] and equity[a] < maint[a]:
            full = equity[a] < params.full_close_below * maint[a]
            fraction[a] = 1.0 if full else params.close_factor
    for i in range(len(pos_size)):
        f = fraction[pos_account[i]]
        if f > 0.0:
            pos_size[i] = pos_size[i] - f * pos_size[i] if f < 1.0 else 0.0
    liq = {k: [] for k in ("account", "fraction", "realized", "penalty", "keeper", "insurance")}
    for a in range(n_accounts):
        f = fraction[a]
        if f == 0.0:
            continue
        # closing at mark realizes f of the account's PnL
        realized_tokens = f * upnl[a] / (P_out if upnl[a] > 0.0 else P)
        collateral[a] += realized_tokens
        pool_balance -= realized_tokens
        equity_after = collateral_value_usd(collateral[a], P, haircut) + (1.0 - f) * upnl[a]
        # The penalty never exceeds what is left: it creates no bad debt and enlarges none.
        penalty = min(params.penalty_ratio * f * maint[a] / P,
                      max(equity_after, 0.0) / P,
                      max(collateral[a], 0.0))
        keeper = params.keeper_share * penalty
        collateral[a] -= penalty
        insurance_balance += penalty - keeper
        for key, value in zip(liq, (a, f, realized_tokens, penalty, keeper, penalty - keeper)):
            liq[key].append(value)

    # 2. Deficit waterfall: accounts with nothing left open and a negative balance.
    wf = {k: [] for k in ("account", "deficit", "insurance", "pool")}
    for a in range(n_accounts):
        still_open = has_position[a] and fraction[a] < 1.0
        if still_open or collateral[a] >= 0.0:
            continue
        deficit = -collateral[a]
        from_insurance = min(deficit, max(insurance_balance, 0.0))
        from_pool = deficit - from_insurance
        insurance_balance -= from_insurance
        pool_balance -= from_pool
        collateral[a] = 0.0
        for key, value in zip(wf, (a, deficit, from_insurance, from_pool)):
            wf[key].append(value)

    # 3. Auto-deleveraging when the pool's NAV (tokens) is negative.
    adl = {k: [] for k in ("position", "account", "profit", "paid")}
    pnl = [pos_size[i] * (series_mark[pos_series[i]] - pos_entry[i]) for i in range(len(pos_size))]
    account_pnl = [0.0] * n_accounts
    for i in range(len(pos_size)):
        account_pnl[pos_account[i]] += pnl[i]
    # Gains are tokens going out (at P_out), losses come in (at P): design 4's safe mode.
    nav_tokens = (pool_balance - sum(x for x in pnl if x > 0.0) / P_out
                  - sum(x for x in pnl if x < 0.0) / P)
    if nav_tokens < -ADL_REL_TOL * max(abs(pool_balance), abs(sum(pnl)) / P, 1.0):
        shortfall = -nav_tokens
        score = [account_pnl[a] / max(collateral_value_usd(collateral[a], P, haircut), TINY_USD)
                 for a in range(n_accounts)]
        order = sorted(range(len(pos_size)), key=lambda i: (-score[pos_account[i]],
                                                            pos_account[i], i))
        taken, covered = [], 0.0
        for i in order:
            if pnl[i] > 0.0 and covered < shortfall:
                taken.append(i)
                covered += pnl[i] / P_out
        # Pay pro rata so that NAV ends at 0; if all profits cannot cover it, pay nothing.
        keep = 1.0 - shortfall / covered if covered > shortfall else 0.0
        for i in taken:
            profit = pnl[i] / P_out
            paid = profit * keep
            a = pos_account[i]
            collateral[a] += paid
            pool_balance -= paid
            pos_size[i] = 0.0
            for key, value in zip(adl, (i, a, profit, paid)):
                adl[key].append(value)

    def ints(x):
        return np.array(x, dtype=np.int64)

    def floats(x):
        return np.array(x, dtype=np.float64)

    return LiquidationResult(
        equity_usd=equity, maint_req_usd=maint, initial_req_usd=init,
        insurance_balance=float(insurance_balance), pool_balance=float(pool_balance),
        pool_delta_tokens=float(pool_balance - pool0),
        insurance_delta_tokens=float(insurance_balance - insurance0),
        liq_account=ints(liq["account"]), liq_close_fraction=floats(liq["fraction"]),
        liq_realized_tokens=floats(liq["realized"]), liq_penalty_tokens=floats(liq["penalty"]),
        liq_keeper_tokens=floats(liq["keeper"]), liq_insurance_tokens=floats(liq["insurance"]),
        wf_account=ints(wf["account"]), wf_deficit_tokens=floats(wf["deficit"]),
        wf_from_insurance=floats(wf["insurance"]), wf_from_pool=floats(wf["pool"]),
        adl_position=ints(adl["position"]), adl_account=ints(adl["account"]),
        adl_profit_tokens=floats(adl["profit"]), adl_paid_tokens=floats(adl["paid"]),
    )
