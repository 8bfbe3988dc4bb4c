"""The Swagger UI at /api/docs/ renders in headless Chromium, entirely from the service itself.

Drives the system Chromium through Playwright (never a downloaded browser). Playwright runs
only inside the test: its event loop must not outlive it, or Django would refuse ORM calls.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Request, sync_playwright

from tests.support.backing_services import require
from tests.support.servers import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # 127.0.0.1 directly, whatever *_proxy variables say
]
RENDER_TIMEOUT_MS = 15_000
TODO_OPERATIONS = {
    ("GET", "/api/todos/"),
    ("POST", "/api/todos/"),
    ("GET", "/api/todos/{id}/"),
    ("PUT", "/api/todos/{id}/"),
    ("PATCH", "/api/todos/{id}/"),
    ("DELETE", "/api/todos/{id}/"),
}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The system Chromium; checked before the (session-scoped) server starts."""
    require("chromium", CHROMIUM.is_file())
    return CHROMIUM


def test_it_renders_the_todo_operations_in_swagger_ui_from_its_own_origin(
    chromium: Path, server: Server, tmp_path: Path
) -> None:
    """Every operation shows up, and no request leaves the server's origin (no CDN)."""
    requests: list[str] = []
    failures: list[str] = []
    bad_statuses: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.on("request", record)
            context.on("requestfailed", lambda request: failures.append(request.url))
            context.on(
                "response",
                lambda response: (
                    bad_statuses.append(f"{response.status} {response.url}")
                    if response.status >= 400
                    else None
                ),
            )
            page = context.new_page()
            page.set_default_timeout(RENDER_TIMEOUT_MS)
            page.goto(f"{server.url}/api/docs/")
            page.wait_for_selector(".opblock .opblock-summary-path")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=tmp_path / "swagger-ui.png", full_page=True)
            operations = page.eval_on_selector_all(
                ".opblock",
                """blocks => blocks.map(block => [
                    block.querySelector('.opblock-summary-method')?.textContent ?? '',
                    block.querySelector('.opblock-summary-path')?.textContent ?? '',
                ])""",
            )
        finally:
            browser.close()

    rendered = {(method.strip(), path.replace("\u200b", "").strip()) for method, path in operations}
    assert rendered >= TODO_OPERATIONS, sorted(rendered)

    origin = urlsplit(server.url)
    network = [url for url in requests if urlsplit(url).scheme not in {"data", "blob"}]
    assert f"{server.url}/api/schema/" in {url.split("?")[0] for url in network}, network
    elsewhere = [url for url in network if urlsplit(url)[:2] != origin[:2]]
    assert elsewhere == [], elsewhere
    assert failures == []
    assert bad_statuses == []
