"""Debian's Chromium driven by Playwright, shared by the browser tests.

Importing this module skips the importing test module when Chromium (`/usr/bin/chromium`,
`apt-get install chromium`) or the `playwright` package is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000
#: Where browser tests save screenshots: $TTM_BENCH_ARTEFACTS, else a temporary folder.
ARTEFACTS_ENV = "TTM_BENCH_ARTEFACTS"


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[object]:
    """A headless Chromium; import `browser_fixture` into a test module to use `browser`."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def artefacts_dir() -> Path:
    """The folder for screenshots and other artefacts a browser test keeps (created)."""
    default = Path(tempfile.gettempdir()) / "ttm-bench-artefacts"
    folder = Path(os.environ.get(ARTEFACTS_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
