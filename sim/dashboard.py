"""``flywheel dashboard``: check what the dashboard needs, then serve ``sim/app.py`` with Solara.

Everything a user can get wrong is refused here as one line before the server starts: the
optional extra not installed, a scenario file that does not load, a port that is taken or out
of range. The server runs as ``python -m solara run sim.app`` in a child process (Solara's own
server, in production mode: no reloader); the scenario and the results folder reach the page
through the environment (``sim.app``'s ``FLYWHEEL_DASHBOARD_*``). Stopping the command
(Ctrl-C, SIGTERM) stops the server.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from sim.errors import UserInputError

EXTRA_MODULES = ("solara", "solara_assets", "altair")   # what `.[dashboard]` installs
INSTALL_HINT = "pip install -e '.[dashboard]' (or: make dashboard)"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
    return [sys.executable, "-m", "solara", "run", "sim.app", "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version", "--log-level", "warning"]


def serve(scenario: str, host: str, port: int, results: str) -> int:
    """Serve the dashboard until stopped; the server's exit status."""
    missing = missing_extra()
    if missing:
        raise UserInputError(f"flywheel dashboard needs the optional extra [dashboard] "
                             f"({', '.join(missing)} missing): {INSTALL_HINT}")
    from sim.scenario import load_scenario

    load_scenario(scenario)                       # the page starts on it: refuse it here first
    check_port(host, port)
    env = {**os.environ, "FLYWHEEL_DASHBOARD_SCENARIO": scenario,
           "FLYWHEEL_DASHBOARD_RESULTS": str(Path(results)),
           "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}      # no calls home
    shown = f"[{host}]" if ":" in host else host
    print(f"flywheel dashboard: http://{shown}:{port}/ (scenario {scenario}, results {results}); "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    if host not in LOOPBACK:
        print(f"note: listening on {host}: anyone who reaches this machine there can run "
              "simulations on it", file=sys.stderr, flush=True)
    server = subprocess.Popen(server_command(host, port), env=env)
    try:
        return server.wait()
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
