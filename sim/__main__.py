"""``python -m sim`` is the ``flywheel`` command."""

from sim.cli import main

raise SystemExit(main())
