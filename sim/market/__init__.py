"""The market world (design sections 3-4): plain classes and functions the model wires up.

- ``calendar``: NYSE session calendar and the UTC step clock
- ``paths``: correlated GBM with compensated Merton jumps
- ``replay``: prices read from a CSV/Parquet file instead
- ``amm``: a constant-product token/USDC AMM whose reserves are ledger balances
- ``issuer``: mint and redeem at NAV, in market hours, within a daily capacity
- ``oracle``: the price margin uses (nav, amm_spot, amm_twap, guarded)
- ``vol``: EWMA realized volatility
- ``world``: the one run's prices and tokens, built from the Scenario, advanced a step at a time

All but ``world`` take plain parameters, not the Scenario; ``world`` builds them from it.
"""
