"""The report in a real browser: headless Chromium (Debian's ``chromium``; ``make chromium`` installs it) renders
report.html offline, every plot draws its marks, the page logs nothing to the console and raises no script error,
and a screenshot is taken.

Chromium is driven from its command line (no driver, no network): ``--dump-dom`` returns the DOM after the page's
load handlers ran — the report's own check writes how many plots drew marks into ``<body data-plots-rendered>`` —
and ``--enable-logging=stderr`` prints every console message as an ``INFO:CONSOLE`` line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rlaif.report import build_report
from rlaif.testing.sample_run import write_sample_run

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--virtual-time-budget=5000",
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no chromium on this machine: run `make chromium` (apt-get install chromium) to enable this test"
    )


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "partial"])
def test_report_renders_in_chromium(tmp_path: Path, finished: bool) -> None:
    browser = _chromium()
    run = write_sample_run(tmp_path / "demo", rounds=2, finished=finished)
    html, _ = build_report(run)
    expected = html.read_text().count('<svg class="plot"')
    assert expected >= (12 if finished else 8)

    dom = _run(browser, tmp_path / "profile-dom", "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None, dom.stdout[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert "data-error" not in attrs, attrs.get("data-error")
    assert attrs.get("data-plots") == str(expected)
    assert attrs.get("data-plots-rendered") == str(expected), "some plots drew nothing"
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console

    shot = tmp_path / "report.png"
    result = _run(
        browser, tmp_path / "profile-shot", "--window-size=1100,3000", f"--screenshot={shot}", html.as_uri()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank page compresses to a few kB; charts and tables do not
