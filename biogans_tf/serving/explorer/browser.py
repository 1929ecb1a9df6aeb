"""Headless Chromium through Selenium, shared by the explorer's test and its screenshot script.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`) and
`selenium` (requirements-dev.txt); both are imported lazily so the server itself never needs them.
"""

from __future__ import annotations

import os
import shutil
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_missing() -> str | None:
    """Why no browser can be driven here (a one-line reason), or None when one can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
            return f"{path} not found (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    return None


def make_driver(width: int = 1366, height: int = 900, download_dir: str | None = None):
    """A headless Chromium WebDriver whose console messages are readable with `console_entries`.

    Args:
        width, height: window size in CSS pixels (the default is a laptop screen).
        download_dir: folder for downloads (default: Chromium's own).

    Returns:
        `selenium.webdriver.Chrome`; call `.quit()` when done.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir:
        opts.add_experimental_option("prefs", {"download.default_directory": download_dir})
    driver_path = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    return webdriver.Chrome(options=opts, service=Service(driver_path))


def console_entries(driver, level: str = "SEVERE") -> list[str]:
    """Console messages of `level` logged since the last call (Chromium clears them when read)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == level]


def wait_for(driver, script: str, timeout: float = 60.0, poll: float = 0.1):
    """Run the JS expression `script` (e.g. `"return document.title"`) until it is truthy; return it.

    Raises:
        TimeoutError: with the page's status line and SEVERE console messages.
    """
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.time() > deadline:
            status = driver.execute_script(
                "const s = document.getElementById('status'); return s ? s.textContent : ''"
            )
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {script!r}; page status: {status!r}; "
                f"console errors: {console_entries(driver)}"
            )
        time.sleep(poll)


def open_explorer(driver, url: str, n_tiles: int, timeout: float = 120.0) -> None:
    """Load the explorer at `url` and wait until its grid shows `n_tiles` tiles."""
    driver.get(url)
    wait_for(
        driver,
        f"return document.querySelectorAll('#grid canvas').length >= {n_tiles} "
        "&& window.explorer && window.explorer.busy() === 0 "
        "&& document.getElementById('tile-mode').options.length > 0",
        timeout,
    )
