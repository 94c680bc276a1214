"""The report in a real headless browser: it loads offline, without errors, and draws.

Chromium comes from the distribution's packages (``.ci/run`` installs ``chromium``);
Playwright drives it without downloading a browser of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from searchengine.report import build_report

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p is not None), None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_report_loads_and_draws_in_chromium(multi_run: Path, tmp_path: Path) -> None:
    report = build_report(multi_run, tmp_path / "browser.html", png=False)
    title, drawn = _open(report.html, len(report.figures))
    assert title == "searchengine report: multi"
    assert [d[0] for d in drawn] == [f"figure-{k}" for k in report.figures]
    for figure_id, svgs, marks in drawn:
        assert svgs >= 1 and marks >= 1, f"{figure_id} drew nothing"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_architecture_figures_draw_in_chromium(tmp_path: Path) -> None:
    from tests.report.test_report import _hook_study

    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    _hook_study(url)
    report = build_report(storage=url, out=tmp_path / "hooks.html", png=False)
    assert {"entity_sizes", "gates", "groups", "dag"} <= set(report.figures)
    _, drawn = _open(report.html, len(report.figures))
    for figure_id, svgs, marks in drawn:
        assert svgs >= 1 and marks >= 1, f"{figure_id} drew nothing"


def _open(html: Path, figures: int) -> tuple[str, list]:
    """Load the page in Chromium; its title and, per figure, (id, svgs, marks drawn)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
                ),
            )
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length == {figures}",
                timeout=30_000,
            )
            drawn = page.eval_on_selector_all(
                ".js-plotly-plot",
                "els => els.map(e => [e.id, e.querySelectorAll('svg.main-svg').length, "
                "e.querySelectorAll('.point, .scatterlayer .trace, .hm, .bars').length])",
            )
            title = page.title()
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith("file://") for url in requests), requests  # offline
    return title, drawn
