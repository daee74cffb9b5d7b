"""``flywheel dashboard``: check what the dashboard needs, then serve ``sim/app.py`` with Solara.

Everything a user can get wrong is refused here as one line before the server starts: the
optional extra not installed, a scenario file that does not load or cannot run, a port that is
taken or out of range. Then this process becomes ``python -m solara run sim.app`` (exec:
Solara's own server in production mode, no reloader; signals reach it directly and nothing is
left behind when it is killed). The scenario and the results folder reach the page through the
environment (``sim.app``'s ``FLYWHEEL_DASHBOARD_*``).
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import sys
from pathlib import Path

from sim.errors import UserInputError

EXTRA_MODULES = ("solara", "solara_assets", "altair")   # what `.[dashboard]` installs
INSTALL_HINT = "pip install -e '.[dashboard]' (or: make dashboard)"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SESSION_TIMEOUT = "5m"     # a closed tab's model is freed after this (Solara's default: 24 h)


def missing_extra() -> list[str]:
    """The modules of the ``[dashboard]`` extra that cannot be imported here."""
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def check_port(host: str, port: int) -> None:
    """One line if ``port`` is out of range or already taken on ``host``."""
    if not 1 <= port <= 65535:
        raise UserInputError(f"--port: must be from 1 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserInputError(f"--host {host}: cannot be resolved ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserInputError(f"--port {port}: already in use on {host} (another "
                                     "dashboard?); pick another with --port") from None
            raise UserInputError(f"--host {host} --port {port}: cannot listen there "
                                 f"({exc.strerror})") from None


def server_command(host: str, port: int) -> list[str]:
    """The command line of Solara's server for the dashboard."""
    return [sys.executable, "-m", "solara", "run", "sim.app", "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version", "--log-level", "warning"]


def serve(scenario: str, host: str, port: int, results: str) -> int:
    """Check everything, then become the dashboard's server (returns only if the exec fails)."""
    missing = missing_extra()
    if missing:
        raise UserInputError(f"flywheel dashboard needs the optional extra [dashboard] "
                             f"({', '.join(missing)} missing): {INSTALL_HINT}")
    from sim.live import Controls, check_runnable

    check_runnable(Controls(scenario))            # the page starts on it: refuse it here first
    check_port(host, port)
    env = {**os.environ, "FLYWHEEL_DASHBOARD_SCENARIO": scenario,
           "FLYWHEEL_DASHBOARD_RESULTS": str(Path(results)),
           "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",          # no calls home
           "SOLARA_KERNEL_CULL_TIMEOUT": SESSION_TIMEOUT,
           # Solara warns of samesite cookies on plain http at every connection
           "PYTHONWARNINGS": "ignore::UserWarning:solara.server.starlette"}
    shown = f"[{host}]" if ":" in host else host
    print(f"flywheel dashboard: http://{shown}:{port}/ (scenario {scenario}, results {results}); "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    if host not in LOOPBACK:
        print(f"note: listening on {host} with no login: anyone who reaches this port can run "
              "simulations and read any file this user can read through the scenario box",
              file=sys.stderr, flush=True)
    return start_server(server_command(host, port), env)


def start_server(command: list[str], env: dict[str, str]) -> int:
    """Replace this process by the server (tests replace this function)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 1  # pragma: no cover - execve does not return
