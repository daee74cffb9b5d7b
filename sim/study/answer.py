"""The answer to design section 1's question, written from a study's numbers by fixed rules.

Nothing here is a finding typed by hand: every sentence is chosen by a rule on the verdicts and
intervals of ``sim.study.aggregate``, and every number in it comes from them, so the paragraph
changes when the numbers do. The first scenario of the study is the reference (the calm
baseline in the shipped study); the others are read as its shocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sim.study.aggregate import (
    AMPLIFIES,
    DECAYS,
    NEUTRAL,
    UNDECIDED,
    VERDICT_HORIZON_DAYS,
    VERDICT_IMPULSE,
    Estimate,
    MarginRow,
    ScenarioResult,
)
from sim.study.text import ci_words, names, num, pct, points, usd

# How each margin measure is named in a sentence.
_PHRASE = {
    "users": "the active users at the end",
    "volume": "volume",
    "capacity": "pool capacity",
    "margin_depth": "margin-token AMM depth",
    "lp_return": "the LPs' money-weighted USD return",
    "bad_debt": "bad debt",
}

# How each margin measure reads when stock-token margin is above / below its twin.
_MORE_LESS = {
    "users": ("more active users", "fewer"),
    "volume": ("more volume", "less"),
    "capacity": ("more pool capacity", "less"),
    "margin_depth": ("deeper margin-token AMMs", "shallower"),
    "lp_return": ("a higher LP return", "a lower one"),
    "bad_debt": ("more bad debt", "less"),
}


def potential_market(ratios: Mapping[str, float]) -> str:
    """The margin twins' potential market in words, from each scenario's
    ``twin.potential_ratio`` (design 1's assumption is 1: the same M)."""
    values = set(ratios.values())
    if len(values) == 1:
        ratio = values.pop()
        same = "the same potential market M" if ratio == 1 else "a potential market M scaled"
        return f"{same} (`twin.potential_ratio` = {ratio:g})"
    return ("the potential market M scaled by `twin.potential_ratio`: "
            + ", ".join(f"{n} {r:g}" for n, r in ratios.items()))


def answer(results: Sequence[ScenarioResult], seeds_planned: int,
           potential: str = "the same potential market M") -> list[str]:
    """Paragraphs (Markdown) answering the question from ``results``; ``potential`` is
    ``potential_market`` of the study's scenarios."""
    paragraphs = [_flywheel(results), _survival(results), _margin(results, potential),
                  _lps(results), _estimators(results, seeds_planned)]
    return [p for p in paragraphs if p]


def _by_label(results: Sequence[ScenarioResult], label: str) -> list[str]:
    return [r.name for r in results if r.verdict.label == label]


_VERB = {AMPLIFIES: "amplifies", DECAYS: "decays", NEUTRAL: "is neutral",
         UNDECIDED: "is undecided"}


def _n(items: list[str]) -> str:
    """``2 (`a` and `b`)``, or ``none``."""
    return f"{len(items)} ({names(items)})" if items else "none"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (plain)."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _scenarios(n: int) -> str:
    return "scenario" if n == 1 else f"{n} scenarios"


def _other(m: int) -> str:
    return "other scenario" if m == 1 else f"{m} other scenarios"


def _flywheel(results: Sequence[ScenarioResult]) -> str:
    n = len(results)
    k, h = VERDICT_IMPULSE, VERDICT_HORIZON_DAYS
    text = (f"**Does the loop start?** {h:g} days after an impulse of k = {k:.0%} more traders, "
            f"of the {_scenarios(n)} the flywheel amplifies in {_n(_by_label(results, AMPLIFIES))},"
            f" decays in {_n(_by_label(results, DECAYS))} and is neutral in "
            f"{_n(_by_label(results, NEUTRAL))}.")
    undecided = [r for r in results if r.verdict.label == UNDECIDED]
    if undecided:
        text += (" Undecided: " + "; ".join(f"`{r.name}` ({r.verdict.reason})"
                                              for r in undecided) + ".")
    decided = [r for r in results if r.verdict.label != UNDECIDED]
    if len(decided) == 1:
        p = decided[0].verdict.point
        text += (f" In `{decided[0].name}` G is {ci_words(p.gain)} and G - G_frozen is "
                 f"{ci_words(p.flywheel)}.")
    elif decided:
        lo, hi = _extremes(decided, lambda r: r.verdict.point.gain)
        flo, fhi = _extremes(decided, lambda r: r.verdict.point.flywheel)
        text += (f" G, the active users each added trader accounts for {h:g} days later (1: the "
                 f"added traders stay, and no more), ranges from {num(lo[1].mean)} in "
                 f"`{lo[0]}` to {num(hi[1].mean)} in `{hi[0]}`; G - G_frozen, what the impulse "
                 f"did through depth and spread beyond that, from {num(flo[1].mean)} in "
                 f"`{flo[0]}` to {num(fhi[1].mean)} in `{fhi[0]}`.")
    for r in undecided:
        p = _longest_inside(r)
        if p is not None:
            text += (f" In `{r.name}` at the longest horizon inside its run (H = "
                     f"{p.horizon_days:g} d, k = {p.fraction:.0%}) G is {ci_words(p.gain)} and "
                     f"G - G_frozen is {ci_words(p.flywheel)}.")
    flat = [r.name for r in results if r.verdict.label == NEUTRAL
            and not r.verdict.point.flywheel.above(0.0) and not r.verdict.point.flywheel.below(0.0)]
    if flat:
        text += (f" Where G - G_frozen's interval contains 0 ({names(flat)}), the users the "
                 "impulse brought are no more than the twin with market quality frozen also had: "
                 "depth and spread added none that the seeds can tell apart from 0.")
    return text


def _longest_inside(r: ScenarioResult):
    """The largest impulse at the longest horizon inside the run that has G and G - G_frozen."""
    usable = [p for p in r.points if p.inside_run and p.gain and p.flywheel]
    return max(usable, key=lambda p: (p.horizon_days, p.fraction)) if usable else None


def _extremes(results: Sequence[ScenarioResult], of: Callable[[ScenarioResult], Estimate | None]
              ) -> tuple[tuple[str, Estimate], tuple[str, Estimate]]:
    pairs = [(r.name, of(r)) for r in results if of(r) is not None]
    return min(pairs, key=lambda p: p[1].mean), max(pairs, key=lambda p: p[1].mean)


def _survival(results: Sequence[ScenarioResult]) -> str:
    if len(results) < 2:
        return ""
    ref, shocks = results[0], results[1:]
    m = len(shocks)
    if ref.verdict.label == AMPLIFIES:
        kept = [r.name for r in shocks if r.verdict.label == AMPLIFIES]
        lost = [r.name for r in shocks if r.verdict.label in (NEUTRAL, DECAYS)]
        text = (f"**Does it survive the shocks?** In the reference scenario `{ref.name}` the "
                f"flywheel amplifies; of the {_other(m)} it still amplifies in "
                f"{_n(kept)} and stops amplifying in {_n(lost)}.")
    else:
        so = ("so the shocks have no verdict to be compared with" if ref.verdict.label == UNDECIDED
              else "so there is no self-reinforcing loop for a shock to break")
        text = (f"**Does it survive the shocks?** In the reference scenario `{ref.name}` the "
                f"flywheel {_VERB[ref.verdict.label]} ({ref.verdict.reason}), {so}. Of the "
                f"{_other(m)}, it amplifies in {_n(_by_label(shocks, AMPLIFIES))}, decays in "
                f"{_n(_by_label(shocks, DECAYS))} and is neutral in "
                f"{_n(_by_label(shocks, NEUTRAL))}.")
    return text


def _row(r: ScenarioResult, key: str) -> MarginRow | None:
    return next((row for row in r.margin if row.measure.key == key), None)


def _change(row: MarginRow | None) -> str:
    """A margin row's effect in words: relative for counts and money, pp for a return."""
    if row is None or row.difference is None:
        return "not measured"
    if row.measure.unit == "return":
        return ci_words(row.difference, points)
    if row.relative is None:
        return ci_words(row.difference, usd if row.measure.unit == "USD" else num)
    return ci_words(row.relative, lambda x: pct(x, signed=True))


def _margin(results: Sequence[ScenarioResult], potential: str) -> str:
    if not results:
        return ""
    ref = results[0]
    changes = [f"{_PHRASE[row.measure.key]} by {_change(row)}" for row in ref.margin
               if row.difference is not None]
    unpaired = [_PHRASE[row.measure.key] for row in ref.margin
                if row.difference is None and row.base is not None]
    if not changes:
        return ""
    text = (f"**What does stock-token margin change?** Against its margin twin (the same "
            f"scenario with every market margined in USDC: same agents, same USD wealth, "
            f"{potential}), stock-token margin changes, in `{ref.name}`, "
            + _and(changes) + ".")
    if unpaired:
        what = _and(unpaired)
        text += f" ({what[0].upper()}{what[1:]} cannot be compared: the twin has no margin token.)"
    if len(results) > 1:
        n = len(results)
        parts = []
        for key, (more, less) in _MORE_LESS.items():
            rows = [(r.name, _row(r, key)) for r in results]
            if not any(row and row.difference for _, row in rows):
                continue
            up = [name for name, row in rows if row and row.difference and row.difference.above(0)]
            down = [name for name, row in rows
                    if row and row.difference and row.difference.below(0)]
            parts.append(f"{more} in {_n(up)}, {less} in {_n(down)}")
        text += (f" Across the {_scenarios(n)} (a difference counts when its whole interval "
                 "lies on one side of 0), stock-token margin gives " + "; ".join(parts) +
                 "; in the rest the seeds cannot tell the two apart.")
    return text


def _lps(results: Sequence[ScenarioResult]) -> str:
    have = [r for r in results if r.risk_base is not None]
    if not have:
        return ""
    n = len(have)
    lp = [(r.name, r.risk_base.lp_return_usd) for r in have]
    lose = [name for name, e in lp if e is not None and e.below(0)]
    gain = [name for name, e in lp if e is not None and e.above(0)]
    text = (f"**Are LPs wiped out?** Of the {_scenarios(n)}, the LPs' money-weighted USD return "
            f"lies below 0 (whole interval) in {_n(lose)} and above 0 in {_n(gain)}.")
    var = [(r.name, r.risk_base.var95_bad_debt_usd) for r in have
           if r.risk_base.var95_bad_debt_usd is not None]
    worst = max(var, key=lambda p: p[1]) if var else None
    if worst and worst[1] > 0:
        text += (f" VaR95 of bad debt (95th percentile over seeds) is highest in `{worst[0]}`, "
                 f"{usd(worst[1])}")
        clean = [nm for nm, v in var if v == 0]
        text += f"; bad debt was 0 in every seed of {_n(clean)}." if clean else "."
    else:
        text += " No scenario wrote off bad debt in any seed."
    depleted = [r for r in have if r.risk_base.insurance_depleted_runs > 0]
    if depleted:
        text += (" The insurance pool was depleted in at least one seed of "
                 + ", ".join(f"`{r.name}` (P = {pct(r.risk_base.insurance_depleted[0], 0)}, "
                             f"Wilson 95% CI {pct(r.risk_base.insurance_depleted[1], 0)} to "
                             f"{pct(r.risk_base.insurance_depleted[2], 0)})" for r in depleted)
                 + ": at these scenarios' insurance sizes it does not suffice there.")
    else:
        high = max(r.risk_base.insurance_depleted[2] for r in have)
        text += (f" No insurance pool was depleted in any seed, so at these scenarios' insurance "
                 f"sizes P(depleted) is at most {pct(high, 0)} (Wilson 95% upper bound).")
    text += (" How small the insurance pool may be is a sweep over `insurance.initial`, "
             "which this study does not run.")
    return text


def _estimators(results: Sequence[ScenarioResult], seeds_planned: int) -> str:
    done = sorted({r.seeds_done for r in results})
    seeds = f"{done[0]}" if len(done) == 1 else f"{done[0]}-{done[-1]}"
    return (f"Every interval above is a 95% paired percentile bootstrap over the {seeds} seeds "
            f"that finished per scenario (of {seeds_planned} planned; the same seeds in every "
            "scenario, and the base run and its twins share every random stream); VaR95 is the "
            "95th percentile over seeds; shares carry Wilson 95% intervals.")
