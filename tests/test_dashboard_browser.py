"""The dashboard in a real browser: ``flywheel dashboard`` on a free loopback port, driven by
Debian's headless Chromium through Playwright.

``make test`` installs Chromium (root and apt-get) and Playwright ([dev]); where either cannot
be installed, these tests are skipped and say which. Each test saves a screenshot under its
temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from tests.sweeps import stored_results
from tests.tiny import TINY, jump

CHROMIUM = os.environ.get("FLYWHEEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The flags of a headless Chromium on a machine without a network (no calls to Google's hosts).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 90_000               # a step of a day and four charts take seconds on a busy machine


def _why_not() -> str | None:
    if importlib.util.find_spec("solara") is None:
        return "the [dashboard] extra is not installed (pip install -e '.[dev]')"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM}: make test installs Debian's chromium when run as "
                "root with apt-get; or set FLYWHEEL_CHROMIUM")
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    """The dashboard on tiny.yaml with one shock, browsing a results folder with a run and a
    sweep; yields (its URL, its process)."""
    folder = tmp_path_factory.mktemp("dashboard")
    results = stored_results(folder / "results")
    a_run = next(p for p in (results / "tiny").iterdir() if (p / "summary.json").is_file())
    shutil.copytree(a_run, results / "broken" / a_run.name)       # a run nobody can read
    (results / "broken" / a_run.name / "summary.json").write_text("{broken")
    data = yaml.safe_load(TINY.read_text())
    data["events"] = [jump("BTC", 2.0, -0.2)]
    scenario = folder / "tiny_shock.yaml"
    scenario.write_text(yaml.safe_dump(data))
    data["impulse"] = {"fraction": 0.1, "at": "day 1", "freeze_quality": True}
    (folder / "frozen.yaml").write_text(yaml.safe_dump(data))     # loads, cannot run alone
    port = _free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "sim", "dashboard", str(scenario), "--port",
                             str(port), "--results", str(results)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited ({proc.returncode}): "
                        f"{(folder / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the dashboard did not answer within 120 s")
        time.sleep(0.5)
    yield url, proc, folder
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


def expect(locator):
    """Playwright's ``expect`` (imported late: the module is collected without Playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _row(page, label: str) -> str:
    """The value beside ``label`` in the headline table."""
    return page.locator("tr", has_text=label).locator("td").nth(1).inner_text()


def _wait_for_row(page, label: str, text: str) -> None:
    page.locator("tr", has_text=label).locator("td", has_text=text).wait_for()


def test_insurance_control_then_step_redraws_the_charts_and_the_table(page, server, tmp_path):
    url, _, _ = server
    page.goto(url)
    _wait_for_row(page, "insurance [TSLA.M]", "4,000 USD")      # 2% of a 200,000 USD pool
    assert page.get_by_label("shock: crypto_jump BTC at day 2.0 (log move -0.2)").is_checked()
    box = page.get_by_label("insurance seed, fraction of the main pool (0 to 1)")
    box.fill("0.1")
    box.press("Enter")
    page.get_by_role("button", name="Reset").click()
    _wait_for_row(page, "insurance [TSLA.M]", "20,000 USD")     # the table follows the control
    assert page.locator("img").count() == 0                      # no chart before a step

    page.get_by_role("button", name="Step").click()
    _wait_for_row(page, "simulated time", "step 24 of 72")
    page.locator("img").nth(3).wait_for()
    first = [page.locator("img").nth(i).get_attribute("src") for i in range(4)]
    insurance_day_1 = _row(page, "insurance [TSLA.M]")
    page.get_by_role("button", name="Step").click()
    _wait_for_row(page, "simulated time", "step 48 of 72")
    page.wait_for_function(                                     # all four redrawn
        "old => [...document.querySelectorAll('img')].every((img, i) => img.src !== old[i])",
        arg=first)
    assert _row(page, "days simulated") == "2.0 days"
    assert _row(page, "insurance [TSLA.M]") != insurance_day_1
    page.screenshot(path=tmp_path / "live.png", full_page=True)


def test_a_bad_control_is_one_line_on_the_page_and_the_server_goes_on(page, server, tmp_path):
    url, proc, folder = server
    page.goto(url)
    _wait_for_row(page, "insurance [TSLA.M]", "USD")
    box = page.get_by_label("insurance seed, fraction of the main pool (0 to 1)")
    box.fill("7")
    box.press("Enter")
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("insurance.initial: must be from 0 to 1 (a fraction of the initial main "
                     "pool), got 7").wait_for()
    page.get_by_role("button", name="Step").click()  # steps nothing (Mesa's Reset re-enables it)
    expect(page.get_by_role("button", name="Step")).to_be_disabled()
    assert page.locator("img").count() == 0

    scenario = page.get_by_label("scenario YAML")
    scenario.fill("no/such.yaml")
    page.get_by_role("button", name="Load").click()
    page.get_by_text("no/such.yaml: file not found").wait_for()
    scenario.fill(str(folder / "frozen.yaml"))
    page.get_by_role("button", name="Load").click()
    page.get_by_text(f"{folder / 'frozen.yaml'}: impulse.freeze_quality").wait_for()
    page.screenshot(path=tmp_path / "errors.png", full_page=True)

    assert proc.poll() is None
    page.reload()                                     # the server still serves a fresh page
    _wait_for_row(page, "insurance [TSLA.M]", "4,000 USD")


def test_the_results_browser_opens_a_finished_run_and_a_sweep(page, server, tmp_path):
    url, _, _ = server
    page.goto(url + "results")
    page.get_by_text("finished runs of broken: pick one").wait_for()
    page.locator(".v-select").nth(1).click()          # the run list
    page.locator(".v-list-item", has_text="unreadable summary · ").click()
    page.locator(".flywheel-error", has_text="summary.json").wait_for()   # one line, not a page
    page.locator(".v-select").nth(0).click()          # the scenario folders
    page.locator(".v-list-item", has_text="tiny").click()
    page.get_by_text("finished runs of tiny: pick one").wait_for()
    page.locator(".v-select").nth(1).click()
    page.locator(".v-list-item", has_text=re.compile(r"^seed 1 · ")).click()
    page.locator("img").nth(3).wait_for()
    assert _row(page, "days simulated") == "1.0 days"
    page.screenshot(path=tmp_path / "run.png", full_page=True)

    page.get_by_role("tab", name="Sweeps").click()
    page.get_by_text("Sweep browse_sweep").wait_for()         # its report's heading
    expect(page.get_by_text("days simulated")).to_be_hidden()  # the runs tab has slid away
    expect(page.locator("img:visible")).to_have_count(1)       # the overview chart
    page.screenshot(path=tmp_path / "sweep.png", full_page=True)
