"""Playwright (sync API) driving Debian's Chromium, for browser tests and screenshots.

Never downloads a browser: it launches ``/usr/bin/chromium``. One browser per test module
(``browser`` fixture, module scope); each test opens its own pages in a fresh context.

    from tests.browser import browser  # noqa: F401  (the fixture)
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

# Debian's package installs /usr/bin/chromium; Raspberry Pi OS's installs /usr/bin/chromium-browser
CHROMIUM = os.environ.get("QMS_CHROMIUM") or next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required", "--force-device-scale-factor=1"]
WALL = {"width": 1920, "height": 1080}
DESK = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = launch(pw)
        try:
            yield b
        finally:
            b.close()


def new_page(browser, viewport: dict = DESK, **kwargs):
    """A page in its own context (own cookies and storage), with console errors collected."""
    context = browser.new_context(viewport=viewport, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **kwargs)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def sign_in(page, username: str, password: str = "matkhau-123") -> None:
    """Fill the pages' sign-in form (``_sign_in.html``) and send it."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
