"""flywheel-sim: tokenized stocks as margin for coin-margined perpetual options.

``sim`` holds the model, scenarios, runs, sweeps, charts and the CLI.
"""

__version__ = "0.1.0"
