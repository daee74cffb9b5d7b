"""Numbers in, numbers out: the Cython kernels of flywheel-sim (no Mesa, no pandas, no YAML).

Modules: ``pricing`` (Black-Scholes and everlasting options), ``amm`` (constant-product
spot market), ``pool`` (the options pool's arithmetic), ``liquidation`` (margin, liquidation
and the deficit waterfall). ``kernels.reference`` holds a plain-Python twin of each.
"""
