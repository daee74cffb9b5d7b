"""Parameter sweeps (design 2, 11, 13, 15): many runs of scenarios over points and seeds.

Modules: ``spec`` (sweep files, points, seeds), ``plan`` (every scenario checked at every
point; the runs and their keys), ``journal`` (the status log that makes a sweep resumable),
``runner`` (runs on any ``concurrent.futures.Executor``, streamed to disk), ``rows`` (a run as
one flat row), ``aggregate`` (estimators per point), ``report``, ``charts``, ``driver``
(``run_sweep``: the sweep's folder), ``sensitivity`` (Sobol indices with SALib).
"""

from sim.sweep.driver import SweepResult, run_sweep
from sim.sweep.spec import SweepSpec, load_sweep

__all__ = ["SweepResult", "SweepSpec", "load_sweep", "run_sweep"]
