"""flywheel-sim: tokenized stocks as margin for coin-margined perpetual options.

``sim`` holds the model, the market world, the protocol, scenarios, runs, charts, benchmarks
and the CLI.
"""

__version__ = "0.1.0"
