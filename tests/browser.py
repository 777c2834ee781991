"""Debian's headless Chromium driven by selenium, for the tests of web pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps trying hosts this closed network
# refuses.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000")


@contextmanager
def headless_chromium(profile: Path, *extra_flags: str) -> Iterator:  # type: ignore[type-arg]
    """A browser with a fresh profile in `profile` and its console log kept; skips the test
    when Chromium or ChromeDriver is not installed."""
    binary = shutil.which("chromium")
    if binary is None or not CHROMEDRIVER.exists():
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/system-deps.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
