"""Scheduled shocks (scenario ``events:``, design section 10), applied in phase 1 of a step."""

from __future__ import annotations


class ShockSchedule:
    """Fires each event at its step and undoes the temporary ones when their duration ends."""

    def __init__(self, model) -> None:
        self.model = model
        sc = model.spec
        self.by_step: dict[int, list[tuple[int, object]]] = {}
        self.pending_end: dict[int, list] = {}
        self.premium_flows: list[list] = []   # [token, usd_per_step, steps_left]
        for i, ev in enumerate(sc.events):
            step = sc.event_step(ev)
            if ev.kind in ("crypto_jump", "weekend_gap"):
                model.world.add_log_move(step, ev.asset, ev.size)
            self.by_step.setdefault(step, []).append((i, ev))

    def _duration_steps(self, duration) -> int | None:
        if duration is None:
            return None
        return max(1, int(self.model.spec.duration_steps(duration)))

    def apply(self, step: int) -> None:
        m = self.model
        for undo in self.pending_end.pop(step, []):
            undo()
        for token, usd, left in list(self.premium_flows):
            m.world.tokens[token].amm.buy_tokens(m.world_holder, usd)
        self.premium_flows = [[t, u, n - 1] for t, u, n in self.premium_flows if n > 1]
        for i, ev in self.by_step.get(step, []):
            getattr(self, f"_{ev.kind}")(step, i, ev)
            m.record_event(kind="shock", market=getattr(ev, "token", getattr(ev, "market", "")) or "",
                           detail=f"{ev.kind} {getattr(ev, 'token', '') or getattr(ev, 'asset', '') or getattr(ev, 'market', '')}")

    def _later(self, step: int, duration, undo) -> None:
        n = self._duration_steps(duration)
        if n is not None:
            self.pending_end.setdefault(step + n, []).append(undo)

    def _depeg(self, step, i, ev) -> None:
        tok = self.model.world.tokens[ev.token]
        before_backing, before_halt = tok.backing, tok.issuer.halted_redeem
        tok.backing = ev.backing
        if ev.halt_redemptions:
            tok.issuer.halted_redeem = True
        if ev.panic_sell_fraction > 0:
            self.model.panic_sell(ev.token, ev.panic_sell_fraction)

        def undo() -> None:
            tok.backing = before_backing
            tok.issuer.halted_redeem = before_halt
        self._later(step, ev.duration, undo)

    def _premium(self, step, i, ev) -> None:
        tok = self.model.world.tokens[ev.token]
        n = self._duration_steps(ev.duration) or 1
        self.premium_flows.append([ev.token, ev.size_usd / n, n])
        if ev.cap_mint:
            tok.issuer.halted_mint = True

            def undo() -> None:
                tok.issuer.halted_mint = False
            self.pending_end.setdefault(step + n, []).append(undo)

    def _pin(self, step, i, ev) -> None:
        m = self.model
        amm = m.world.tokens[ev.token].amm
        if ev.side == "sell":
            amm.sell_tokens(m.world_holder, ev.size_usd / amm.price)
        else:
            amm.buy_tokens(m.world_holder, ev.size_usd)

    def _crypto_jump(self, step, i, ev) -> None:
        """Applied by the world's price path (scheduled at start); here only recorded."""

    def _weekend_gap(self, step, i, ev) -> None:
        """Applied to the stock's latent value by the world (scheduled at start)."""

    def _oracle_outage(self, step, i, ev) -> None:
        self.model.world.tokens[ev.token].oracle.set_outage(self._duration_steps(ev.duration) or 1)

    def _lp_run(self, step, i, ev) -> None:
        self.model.lp_run(ev.market, ev.fraction, i)

    def _mm_withdrawal(self, step, i, ev) -> None:
        self.model.mm_withdrawal(ev.token, ev.fraction)
