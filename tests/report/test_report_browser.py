"""The report in headless Chromium (Debian's ``chromium``, installed by .ci/run): the charts
drew, nothing was fetched from the network, the console holds no error, the page fits a phone
screen; screenshots are saved under reports/screenshots/ (gitignored).

This test fails — it does not skip — when Chromium is missing: install it with
``apt-get install chromium`` (or point TRAINLYTICS_CHROMIUM at a Chromium binary).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from tests.seeded import ALICE
from trainlytics.db.migrations import REPO_ROOT
from trainlytics.report import write_report
from trainlytics.report.data import ReportData
from trainlytics.report.formatting import family_of

CHROMIUM = Path(os.environ.get("TRAINLYTICS_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"

CHARTS_JS = """
() => Array.from(document.querySelectorAll('section .chart svg')).map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = Array.from(svg.querySelectorAll('path.mark')).map(p => {
    const b = p.getBBox();
    return [b.width, b.height];
  });
  const ticks = Array.from(svg.querySelectorAll('text.tick'))
    .map(t => t.getBoundingClientRect().height);
  return {section: svg.closest('section').id, width: box.width, height: box.height,
          marks: marks, tickHeights: ticks};
})
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install chromium "
            "(.ci/run does), or set TRAINLYTICS_CHROMIUM"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def report(
    report_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ReportData]:
    path = tmp_path_factory.mktemp("report") / "alice.html"
    with psycopg.connect(report_database_url, autocommit=True) as conn:
        data = write_report(conn, ALICE, path, weeks=8)
    return path, data


class Visit:
    """A page opened on the report, recording console messages and every request."""

    def __init__(self, browser: Browser, path: Path, width: int) -> None:
        self.page: Page = browser.new_page(viewport={"width": width, "height": 900})
        self.console: list[ConsoleMessage] = []
        self.page_errors: list[Any] = []
        self.requests: list[str] = []
        self.page.on("console", lambda message: self.console.append(message))
        self.page.on("pageerror", lambda error: self.page_errors.append(error))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri(), wait_until="load")

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    def problems(self) -> list[str]:
        return [f"{m.type}: {m.text}" for m in self.console if m.type in ("error", "warning")] + [
            str(e) for e in self.page_errors
        ]


def test_report_renders_its_charts_in_chromium(
    browser: Browser, report: tuple[Path, ReportData]
) -> None:
    path, data = report
    visit = Visit(browser, path, 1200)
    try:
        charts = visit.page.evaluate(CHARTS_JS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "report-desktop.png"
        visit.page.screenshot(path=str(shot), full_page=True)
    finally:
        visit.page.close()

    assert visit.problems() == []
    # Only the page itself was loaded: no font, image, script or style from anywhere.
    assert visit.requests == [path.as_uri()]
    by_section = {chart["section"]: chart for chart in charts}
    assert set(by_section) == {"weekly-volume", "training-load", "sports"}
    for chart in charts:
        assert chart["width"] > 600, chart
        assert chart["height"] > 100, chart
        assert chart["marks"], f"no data drawn in {chart['section']}"
        assert all(max(w, h) > 0 for w, h in chart["marks"]), chart
        assert any(w > 0 and h > 0 for w, h in chart["marks"]), chart
        # Axis labels are legible: no tick label shrunk below 10 CSS pixels.
        assert chart["tickHeights"], chart
        assert min(chart["tickHeights"]) >= 10, chart
    # One bar segment per week and sport family with training, in the weekly chart.
    segments = {(w.week_start, family_of(w.activity_type)[0]) for w in data.weekly}
    assert len(by_section["weekly-volume"]["marks"]) == len(segments)
    # One bar per sport in the sports chart.
    assert len(by_section["sports"]["marks"]) == len(data.sports)
    # Fitness and fatigue lines, daily load bars and the form area all drew.
    assert data.load is not None
    training_days = sum(1 for day in data.load if day.load > 0)
    assert len(by_section["training-load"]["marks"]) == training_days + 5
    assert shot.stat().st_size > 20_000


def test_report_fits_a_phone_screen(browser: Browser, report: tuple[Path, ReportData]) -> None:
    path, _ = report
    visit = Visit(browser, path, 390)
    try:
        overflow = visit.page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        headline = visit.page.evaluate(
            "() => getComputedStyle(document.querySelector('h1')).fontSize"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "report-phone.png"
        visit.page.screenshot(path=str(shot), full_page=True)
    finally:
        visit.page.close()

    assert visit.problems() == []
    assert overflow <= 0  # wide charts and tables scroll inside their cards, not the page
    assert float(headline.removesuffix("px")) >= 20
    assert shot.stat().st_size > 10_000
