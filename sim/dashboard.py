"""``flywheel dashboard``: check what the dashboard needs, then serve ``sim/app.py`` with Solara.

Everything a user can get wrong is refused here as one line before the server starts: the
optional extra not installed, a scenario file that does not load or cannot run, a port that is
taken or out of range. Then it runs ``python -m solara run sim.app`` (Solara's own server in production
mode, no reloader) as its child and waits. Ctrl-C or SIGTERM stops the child, killing it if it
has not stopped within ``STOP_GRACE_S`` (Solara waits for Mesa's play threads), and the child is
killed by the kernel if this process dies (``PR_SET_PDEATHSIG``), so no server outlives the
command. The scenario and the results folder reach the page through the environment
(``sim.app``'s ``FLYWHEEL_DASHBOARD_*``).
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
SESSION_TIMEOUT = "5m"     # a closed tab's model is freed after this (Solara's default: 24 h)
STOP_GRACE_S = 5.0         # seconds the server gets to stop before it is killed


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
    """Check everything, then serve the dashboard from a child process until it exits or this
    process is stopped (Ctrl-C, SIGTERM); its exit status."""
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
           "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"),
                                                    "ignore::UserWarning:solara.server.starlette")))}
    shown = f"[{host}]" if ":" in host else host
    print(f"flywheel dashboard: http://{shown}:{port}/ (scenario {scenario}, results {results}); "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    if host not in LOOPBACK:
        print(f"note: listening on {host} with no login: anyone who reaches this port can run "
              "simulations and read any file this user can read through the scenario box",
              file=sys.stderr, flush=True)
    return start_server(server_command(host, port), env)


# Run by the child's own interpreter, which then execs the server: the kernel sends SIGKILL to
# the server when this command's process dies (PR_SET_PDEATHSIG = 1; Linux; elsewhere the
# call fails quietly and Ctrl-C and SIGTERM still stop it). A preexec_fn would do the same
# between fork and exec, where a multi-threaded parent must not run Python.
_DIE_WITH_PARENT = ("import ctypes, os, sys\n"
                    "try:\n    ctypes.CDLL(None).prctl(1, 9)\n"
                    "except (OSError, AttributeError):\n    pass\n"
                    "os.execv(sys.argv[1], sys.argv[1:])")


def start_server(command: list[str], env: dict[str, str]) -> int:
    """Run the server until it exits or this command is stopped; its exit status (tests replace
    this function)."""
    server = subprocess.Popen([sys.executable, "-c", _DIE_WITH_PARENT, *command], env=env)
    try:
        return server.wait()
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
