"""A real headless browser for the dashboard tests: Debian's chromium driven by Selenium
through chromium-driver. The test setup installs both with apt-get when they are missing
and the machine allows it (root, apt-get present); otherwise the tests are skipped with
the reason. Selenium is given both paths, so it never downloads a driver."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
APT_TIMEOUT_SECONDS = 900
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2200",
)


@dataclass(frozen=True)
class Chromium:
    browser: Path
    driver: Path


def _installed() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


def _apt_get(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *arguments],
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT_SECONDS,
        env=environment,
        check=False,
    )


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    if not _installed():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(
                f"the dashboard's browser test needs {CHROMIUM} and {CHROMEDRIVER} "
                f"(apt-get install {' '.join(PACKAGES)}); not root or no apt-get, so not installed here"
            )
        installed = _apt_get("install", "-y", "--no-install-recommends", *PACKAGES)
        if installed.returncode != 0:
            _apt_get("update")
            installed = _apt_get("install", "-y", "--no-install-recommends", *PACKAGES)
        if not _installed():
            last = (installed.stderr or installed.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"apt-get install {' '.join(PACKAGES)} failed: {last[0]}")
    return Chromium(CHROMIUM, CHROMEDRIVER)


@pytest.fixture
def browser(chromium: Chromium, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=str(chromium.driver)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
