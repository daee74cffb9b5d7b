"""`flywheel calibrate` (design 18): each row's estimator and target on numbers worked by hand,
and the short version of the whole table on real runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import calibration as cal
from sim.scenario import load_scenario

BASELINE = "scenarios/baseline.yaml"


def _market(ret=0.1, turnover=80.0, funding=0.1, drained=False):
    return {"lp_return_year": ret, "turnover_year": turnover, "perp_funding_abs": funding,
            "drained": drained}


def _base(seed, **kw):
    m = {"label": "baseline", "seed": seed, "markets": {"A": _market(), "B": _market()},
         "traders_lost_money_share": 0.7, "option_opens": 100, "option_opens_short": 25,
         "perp_leverage_use": [0.5, 0.95, 1.0], "band_inside": 995, "band_counted": 1000,
         "offhours_gap": {"A": 0.004}}
    m.update(kw)
    return m


def test_lp_return_row_uses_median_and_the_10th_to_90th_range():
    runs = {"baseline": [_base(s, markets={"A": _market(r)}) for s, r in
                         enumerate([0.05, 0.1, 0.12, 0.15, 0.2])]}
    assert cal.judge_lp_return(runs).passed
    runs["baseline"][4]["markets"]["A"]["lp_return_year"] = 0.9   # p90 above +40%
    v = cal.judge_lp_return(runs)
    assert not v.passed and v.note


def test_lp_return_row_names_drained_pools_beside_the_median():
    runs = {"baseline": [_base(0, markets={"A": _market(0.1), "B": _market(-0.95, drained=True)})]}
    assert "1 of 2 pools drained" in cal.judge_lp_return(runs).value


def test_short_share_is_pooled_over_seeds():
    runs = {"baseline": [_base(0, option_opens=100, option_opens_short=10),
                         _base(1, option_opens=100, option_opens_short=30)]}
    v = cal.judge_shorts(runs)
    assert v.passed and v.value.startswith("20.0%")
    runs["baseline"][1]["option_opens_short"] = 29
    assert not cal.judge_shorts(runs).passed


def test_leverage_row_takes_the_95th_percentile_of_pooled_entries():
    runs = {"baseline": [_base(0, perp_leverage_use=list(np.linspace(0, 1, 101)))]}
    assert cal.judge_leverage(runs).passed               # p95 = 0.95
    runs = {"baseline": [_base(0, perp_leverage_use=list(np.linspace(0, 0.9, 101)))]}
    assert not cal.judge_leverage(runs).passed           # p95 = 0.855


@pytest.mark.parametrize("judge,key,good,bad", [
    (cal.judge_lost_money, "traders_lost_money_share", 0.7, 0.5),
    (cal.judge_band, "band_inside", 995, 980),
])
def test_per_seed_rows_pass_and_miss(judge, key, good, bad):
    assert judge({"baseline": [_base(0, **{key: good})]}).passed
    assert not judge({"baseline": [_base(0, **{key: bad})]}).passed


def test_turnover_and_funding_rows_read_every_market():
    ok = {"baseline": [_base(0)]}
    assert cal.judge_turnover(ok).passed and cal.judge_perp_funding(ok).passed
    hot = {"baseline": [_base(0, markets={"A": _market(turnover=525.0, funding=0.3)})]}
    assert not cal.judge_turnover(hot).passed and not cal.judge_perp_funding(hot).passed


def test_offhours_row_needs_half_of_the_uninformed_twin():
    runs = {"baseline": [_base(0, offhours_gap={"A": 0.004})],
            "uninformed": [_base(0, offhours_gap={"A": 0.010})]}
    assert cal.judge_offhours(runs).passed
    runs["uninformed"][0]["offhours_gap"]["A"] = 0.007          # informed is more than half
    assert not cal.judge_offhours(runs).passed


def test_shock_rows_count_seeds():
    crash = [{"seed": s, "liq_24h": n, "bad_debt_usd": 0.0} for s, n in enumerate([3, 1, 0])]
    assert not cal.judge_crash({"crash": crash}).passed
    crash[2]["liq_24h"] = 2
    assert cal.judge_crash({"crash": crash}).passed
    bt = [{"bad_debt_usd": d, "bad_debt_lp_usd": d, "liq_24h": 1} for d in (1.0, 2.0, 0.0, 5.0, 0.0)]
    insured = [{"bad_debt_usd": 1.0, "bad_debt_lp_usd": 0.0}]
    assert cal.judge_black_thursday({"black_thursday": bt, "black_thursday_insured": insured}).passed
    bt[0]["bad_debt_usd"] = 0.0                                   # 2 of 5
    assert not cal.judge_black_thursday({"black_thursday": bt,
                                         "black_thursday_insured": insured}).passed
    peaks = [{"peak_premium": p} for p in (0.10, 0.15)]
    assert cal.judge_premium({"premium": peaks}).passed
    peaks.append({"peak_premium": 0.56})
    assert not cal.judge_premium({"premium": peaks}).passed


def test_pin_row_compares_each_seed_with_its_no_pin_twin():
    def r(seed, liq, hours=2.0):
        return {"seed": seed, "liq_6h": liq, "hours_to_5pct": hours, "gap_at_pin": 0.35}
    runs = {"pin_amm_spot": [r(0, 3), r(1, 2)], "nopin_amm_spot": [r(0, 0), r(1, 0)],
            "pin_nav": [r(0, 0), r(1, 1)], "nopin_nav": [r(0, 0), r(1, 1)]}
    assert cal.judge_pin(runs).passed
    runs["pin_amm_spot"][1]["hours_to_5pct"] = None              # never reverted
    assert not cal.judge_pin(runs).passed
    runs["pin_amm_spot"][1]["hours_to_5pct"] = 3.0
    runs["pin_nav"][0]["liq_6h"] = 1                              # nav liquidated more
    assert not cal.judge_pin(runs).passed


def test_premium_band_counts_steps_where_an_arbitrageur_acted_by_hand():
    sc = load_scenario(BASELINE)
    tok = sc.tokens["TSLA.M"]
    edge = sc.agents.arbitrageur.min_edge
    high = (1 + tok.issuer.mint_fee) / (1 - tok.amm.fee) * (1 + edge) - 1
    ts = pd.DataFrame({
        "burn_in": [True, False, False, False, False],
        "market_open": [True, True, True, False, True],
        "arbitrageurs_acted": [1, 1, 0, 1, 2],
        "premium_after_arb[TSLA.M]": [0.5, 0.0, 0.5, 0.5, high + 0.001],
        "premium_after_arb[NVDA.M]": [0.5, 0.0, 0.5, 0.5, 0.0],
    })
    assert cal.premium_band_counts(ts, sc) == (3, 4)    # steps 1 and 4, two tokens each


def test_offhours_gap_uses_the_latent_value_times_backing():
    sc = load_scenario(BASELINE)
    n = 4
    ts = pd.DataFrame({
        "burn_in": [False] * n, "market_open": [False, False, True, False],
        "price[TSLA]": [100.0] * n, "latent[TSLA]": [110.0, 100.0, 100.0, 100.0],
        "nav[TSLA.M]": [90.0] * n,                       # backing 0.9
        "amm_price[TSLA.M]": [99.0, 99.0, 50.0, 90.0],
        "price[NVDA]": [1.0] * n, "latent[NVDA]": [1.0] * n, "nav[NVDA.M]": [1.0] * n,
        "amm_price[NVDA.M]": [1.0] * n,
    })
    gaps = cal.offhours_gaps(ts, sc)
    # closed steps 0, 1, 3: |99/99 - 1| = 0, |99/90 - 1| = 0.1, |90/90 - 1| = 0 -> median 0
    assert gaps["TSLA.M"] == pytest.approx(0.0)
    ts.loc[3, "amm_price[TSLA.M]"] = 99.0
    assert cal.offhours_gaps(ts, sc)["TSLA.M"] == pytest.approx(0.1)


def test_write_doc_keeps_the_hand_written_findings(tmp_path):
    doc = tmp_path / "calibration.md"
    cal.write_doc(doc, "# table one\n")
    doc.write_text(doc.read_text() + "\nA finding written by hand.\n")
    cal.write_doc(doc, "# table two\n")
    text = doc.read_text()
    assert text.startswith("# table two") and "table one" not in text
    assert text.endswith("A finding written by hand.\n")


def test_one_step_override_sums_each_crypto_assets_jumps_at_the_first_time():
    """Black Thursday's day (-25% then four legs of -5.6%) becomes one -40% step per coin; the
    stocks' move is kept as it is."""
    path = "scenarios/black_thursday.yaml"
    before = load_scenario(path)
    after = load_scenario(path, (cal.one_step_crypto_override(path),))
    jumps = [e for e in after.events if e.kind == "crypto_jump"]
    assert sorted(e.asset for e in jumps) == ["BTC", "ETH"]
    for e in jumps:
        legs = [b for b in before.events if b.kind == "crypto_jump" and b.asset == e.asset]
        assert len(legs) == 5 and e.at == legs[0].at
        assert e.size == pytest.approx(sum(b.size for b in legs), abs=1e-6)
        assert np.exp(e.size) == pytest.approx(0.60, abs=1e-3)      # -40% within the day
    assert ([e for e in after.events if e.kind != "crypto_jump"]
            == [e for e in before.events if e.kind != "crypto_jump"])


def test_black_thursday_miss_names_the_one_step_fall_that_does_leave_bad_debt():
    bt = [{"bad_debt_usd": 0.0, "bad_debt_lp_usd": 0.0, "liq_24h": 90} for _ in range(5)]
    one = [{"bad_debt_usd": d} for d in (10.0, 20.0, 0.0, 30.0, 40.0)]
    v = cal.judge_black_thursday({"black_thursday": bt, "black_thursday_insured": bt,
                                  "black_thursday_one_step": one})
    assert not v.passed
    assert "in one step: bad debt in 4 of 5 (up to $40)" in v.value
    assert "in one liquidation step leaves bad debt in 4 of 5 seeds" in v.note


def test_loss_share_row_is_judged_on_the_baseline_and_shows_the_anchor_window_beside_it():
    base = [{"traders_lost_money_share": x} for x in (0.55, 0.58, 0.59)]
    year = [{"traders_lost_money_share": x, "days": 365.0} for x in (0.62, 0.63, 0.64)]
    v = cal.judge_lost_money({"baseline": base, "year": year})
    assert not v.passed                               # the year never rescues the 90-day row
    assert "over 365 days" in v.value and "63.0%" in v.value
    assert "inside it" in v.note
    v = cal.judge_lost_money({"baseline": year, "year": base})
    assert v.passed and v.note == "" and "58.0%" in v.value


def test_plan_runs_each_shock_with_its_twins():
    jobs = cal.plan(BASELINE, seeds=2, shock_seeds=1)
    labels = sorted(j.label for j in jobs)
    assert labels.count("baseline") == 2 and labels.count("uninformed") == 2
    assert labels.count("year") == 2 and labels.count("black_thursday_one_step") == 1
    year = [j for j in jobs if j.label == "year"][0]
    assert load_scenario(year.path, year.overrides).clock.days == 365
    short = cal.plan(BASELINE, seeds=2, shock_seeds=1, days=20)    # no year runs, none twice
    assert "year" not in {j.label for j in short}
    assert len({(j.path, j.overrides, j.seed) for j in short}) == len(short)
    nopin = [j for j in jobs if j.label == "nopin_nav"][0]
    assert "events=[]" in nopin.overrides and "markets.TSLA.M.oracle=nav" in nopin.overrides
    for j in jobs:                        # every override names a real field
        load_scenario(j.path, j.overrides)


def test_short_calibration_prints_and_writes_every_row_and_exits_by_its_verdict(tmp_path, capsys):
    """The short version of `make calibrate`: one seed per row, a 20-day baseline."""
    from sim.cli import main

    doc = tmp_path / "calibration.md"
    code = main(["calibrate", BASELINE, "--seeds", "1", "--shock-seeds", "1", "--days", "20",
                 "--out", str(tmp_path / "runs"), "--doc", str(doc), "--workers", "2"])
    printed = capsys.readouterr().out
    text = doc.read_text()
    table = printed.split("written:")[0]
    assert text.startswith(table) and cal.HAND_NOTES in text      # the doc is what was printed
    rows = [line for line in text.splitlines() if line.startswith("| ") and "moment" not in line]
    assert len(rows) == len(cal.ROWS)
    results = [line.rsplit("|", 2)[-2].strip() for line in rows]
    assert set(results) <= {"pass", "**miss**"}
    assert code == (0 if all(r == "pass" for r in results) else 1)
    assert "--days 20" in text          # a shortened table says so


def test_calibrate_rejects_bad_flags_in_one_line(capsys):
    from sim.cli import main

    assert main(["calibrate", "--seeds", "0"]) == 2
    assert main(["calibrate", "--days", "-1"]) == 2
    assert main(["calibrate", "no_such.yaml"]) == 2
    assert main(["calibrate", "--days", "7.01"]) == 2       # no day left after the burn-in
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
