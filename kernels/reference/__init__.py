"""Plain-Python twins of the Cython kernels: same signatures, same results, written for clarity.

Tests compare each kernel with its twin on random inputs; ``flywheel bench`` reports the speed
ratio. One module per kernel module (``pricing``, ``amm``, ``pool``, ``liquidation``,
``trade_book``); ``kernels.kernel_set("reference")`` runs a whole model on them.
"""
