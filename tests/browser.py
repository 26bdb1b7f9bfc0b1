"""Browser-test plumbing shared by every journey (registered as a pytest plugin in
tests/conftest.py): headless Debian Chromium, an ORM thread beside Playwright's loop,
numbered screenshots, and small page helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, Response, sync_playwright

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# --- plumbing ---------------------------------------------------------------------------


class Orm:
    """Runs Django ORM calls on one helper thread.

    Playwright's sync API keeps an asyncio loop running on the test's thread, where Django
    refuses database calls (SynchronousOnlyOperation); a plain thread has no loop.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orm")

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._pool.submit(fn, *args, **kwargs).result(timeout=60)

    def close(self) -> None:
        from django.db import connections

        self._pool.submit(connections.close_all).result(timeout=60)
        self._pool.shutdown(wait=True)


@pytest.fixture
def orm(transactional_db: Any) -> Iterator[Orm]:
    runner = Orm()
    yield runner
    runner.close()


@pytest.fixture
def browser(transactional_db: Any) -> Iterator[Callable[[], Browser]]:
    """Chromium, started lazily inside the test body: once Playwright's loop runs on this
    thread Django refuses ORM calls here, so database fixtures must have run already, and
    the browser stops before the flush on teardown."""
    state: dict[str, Any] = {}

    def launch() -> Browser:
        if "browser" not in state:
            state["playwright"] = sync_playwright().start()
            state["browser"] = state["playwright"].chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        return state["browser"]

    yield launch
    if "browser" in state:
        state["browser"].close()
        state["playwright"].stop()


class Screens:
    """Full-page screenshots named <test>-<nn>-<step>.png."""

    def __init__(self, folder: Path, test: str) -> None:
        self.folder = folder
        self.test = test
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.test}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(output_dir: Path, request: pytest.FixtureRequest) -> Screens:
    return Screens(output_dir / "screenshots", request.node.name)


def png_file(tmp_path: Path, name: str, colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    path = tmp_path / name
    Image.new("RGB", (64, 48), colour).save(path, "PNG")
    return path


def submit_and_wait(page: Page, button: str, path: str) -> Response:
    """Click a submit button and return the response of the POST it sends."""
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(path)) as info:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return info.value


def body_text(page: Page) -> str:
    return page.inner_text("body")[:2000]


def nav(page: Page, name: str) -> None:
    page.locator("header nav").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()
