"""``flywheel dashboard`` refuses what it cannot serve as one line (exit 2) before starting a
server, and Solara stays an optional extra: only sim/app.py imports it."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import sim.dashboard
from sim.cli import main
from tests.tiny import TINY

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("solara", "solara_assets", "altair", "mesa.visualization")


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    """What the command would exec, kept instead of serving (a check that let a bad input through
    fails the test rather than starting a server)."""
    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(sim.dashboard, "start_server",
                        lambda command, env: started.append((command, env)) or 0)
    return started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_what_it_serves_after_its_checks(no_server, tmp_path, capsys):
    port = _free_port()
    assert main(["dashboard", str(TINY), "--port", str(port), "--results", str(tmp_path)]) == 0
    [(command, env)] = no_server
    assert command == [sys.executable, "-m", "solara", "run", "sim.app", "--host", "127.0.0.1",
                       "--port", str(port), "--production", "--no-open", "--no-check-version",
                       "--log-level", "warning"]
    assert env["FLYWHEEL_DASHBOARD_SCENARIO"] == str(TINY)
    assert env["FLYWHEEL_DASHBOARD_RESULTS"] == str(tmp_path)
    assert env["SOLARA_KERNEL_CULL_TIMEOUT"] == sim.dashboard.SESSION_TIMEOUT
    assert capsys.readouterr().err == (f"flywheel dashboard: http://127.0.0.1:{port}/ (scenario "
                                       f"{TINY}, results {tmp_path}); Ctrl-C stops it\n")


def test_a_scenario_that_cannot_run_alone_is_refused_before_serving(no_server, tmp_path, capsys):
    data = yaml.safe_load(TINY.read_text())
    data["impulse"] = {"fraction": 0.1, "at": "day 1", "freeze_quality": True}
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["dashboard", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: impulse.freeze_quality") and err.count("\n") == 1
    assert no_server == []


def test_only_the_app_imports_solara_or_mesa_visualization():
    pattern = re.compile(r"^\s*(from|import)\s+(solara|altair|mesa\.visualization)\b", re.M)
    importers = sorted(str(p.relative_to(ROOT)) for folder in ("sim", "agents", "kernels")
                       for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text()))
    assert importers == ["sim/app.py"]


def test_without_the_extra_runs_work_and_the_dashboard_says_how_to_install_it(tmp_path: Path):
    # A module set to None in sys.modules cannot be imported (ImportError) and is not found.
    code = f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None
from sim.cli import main
assert main(["run", {str(TINY)!r}, "--set", "clock.days=1", "--out", {str(tmp_path)!r},
             "--quiet"]) == 0
assert main(["dashboard", {str(TINY)!r}]) == 2
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == ("error: flywheel dashboard needs the optional extra [dashboard] "
                         "(solara, solara_assets, altair missing): pip install -e '.[dashboard]' "
                         "(or: make dashboard)")
    assert len(list((tmp_path / "tiny").glob("*/charts/*.png"))) == 4


@pytest.mark.parametrize("args, message", [
    (["no/such.yaml"], "error: no/such.yaml: file not found"),
    ([str(TINY), "--port", "0"], "error: --port: must be from 1 to 65535, got 0"),
    ([str(TINY), "--port", "70000"], "error: --port: must be from 1 to 65535, got 70000"),
    ([str(TINY), "--host", "no-such-host.invalid"],
     "error: --host no-such-host.invalid: cannot be resolved"),
])
def test_what_cannot_be_served_is_one_line_and_exit_2(args, message, capsys, no_server):
    assert main(["dashboard", *args]) == 2
    assert no_server == []
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_port_that_is_not_a_number_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["dashboard", str(TINY), "--port", "nine"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.startswith(
        "error: flywheel dashboard: argument --port: invalid int value: 'nine'")


def test_a_port_in_use_is_refused_before_starting(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", str(TINY), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (f"error: --port {port}: already in use on 127.0.0.1 "
                                       "(another dashboard?); pick another with --port\n")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.skipif(importlib.util.find_spec("solara") is None,
                    reason="the [dashboard] extra is not installed (pip install -e '.[dev]')")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_no_server_outlives_the_command(stop):
    """SIGTERM (or Ctrl-C) stops the server; SIGKILL of the command takes the server with it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "dashboard", str(TINY), "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _answers(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the server never answered"
            time.sleep(0.5)
        os.kill(proc.pid, stop)
        assert proc.wait(timeout=30) == (128 + stop if stop == signal.SIGTERM else -stop)
        deadline = time.monotonic() + 15
        while _answers(url):
            assert time.monotonic() < deadline, "the server outlived the command"
            time.sleep(0.5)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
