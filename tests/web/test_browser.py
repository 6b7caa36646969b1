"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against a real server.

A uvicorn server (tests/web/server.py) serves the whole application (`create_app`, as
`beslut serve` does) over an SQLite file holding the Mini-Maria demo and the open 2026
round (tests/web/data.py), with the clock at 2026-02-02 so Ragunda is overdue; the
token is made with `beslut token create --role auditor`, as a user would. The tests sign in through the form, read the
matrix (states, colours, the overdue mark), open a recommendation (every audit
event in the timeline, an allocation that adds up, diagrams that load), read the
same pages with JavaScript switched off, and save screenshots in
``$BESLUT_TEST_ARTIFACTS`` (default ``test-artifacts/`` at the repository root).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from beslut.api import create_app
from beslut.clock import FixedClock
from beslut.persistence import Store, open_store
from beslut.workflow import Engine
from tests.cli.helpers import ok
from tests.web.data import KEY_2022, OPEN_KEY, OPEN_TITLE, PARTIES, TODAY, load_file
from tests.web.png import read_png
from tests.web.server import serving

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def artifacts() -> Path:
    """Where screenshots go: $BESLUT_TEST_ARTIFACTS, or test-artifacts/ at the repository root."""
    folder = Path(os.environ.get("BESLUT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the demo played into it and the open round added."""
    path = tmp_path_factory.mktemp("browser") / "demo.db"
    load_file(path)
    return path


@pytest.fixture(scope="module")
def token(demo_path: Path) -> str:
    """A reader's token, from `beslut token create --role auditor` (printed alone on stdout)."""
    secret = ok("token", "create", "--role", "auditor", db=str(demo_path)).stdout.strip()
    assert secret
    assert 1 == len(secret.split())
    return secret


@pytest.fixture(scope="module")
def demo_file(demo_path: Path) -> Iterator[Store]:
    """The demo file's store, for the server and for reading what the page should show."""
    store = open_store(str(demo_path))
    yield store
    store.close()


@pytest.fixture(scope="module")
def base_url(demo_file: Store, token: str) -> Iterator[str]:
    """The base URL of a real uvicorn server running the whole application over the demo file."""
    with serving(create_app(demo_file, clock=FixedClock(TODAY))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=os.environ.get("BESLUT_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


JS: dict[int, bool] = {}  # whether JavaScript is on in a context, by the context's id


@pytest.fixture(params=["javascript", "no-javascript"])
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies), with JavaScript on or off; checks that the switch works."""
    enabled = request.param == "javascript"
    opened = browser.new_context(java_script_enabled=enabled, viewport={"width": 1400, "height": 900}, locale="sv-SE")
    opened.set_default_timeout(15_000)
    probe = opened.new_page()
    probe.set_content("<title>före</title><script>document.title = 'efter'</script>")
    assert ("efter" if enabled else "före") == probe.title()
    probe.close()
    JS[id(opened)] = enabled
    yield opened
    JS.pop(id(opened))
    opened.close()


def sign_in(page: Page, base_url: str, token: str) -> None:
    """Open the dashboard, get sent to the login form, and sign in with the token."""
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/logga-in?next=%2F")
    page.fill("#token", token)
    page.click("#inloggning button[type=submit]")
    expect(page).to_have_url(f"{base_url}/")


class TestSignIn:
    def test_a_wrong_token_is_refused_and_the_cookie_is_httponly_and_strict(
        self, context: BrowserContext, base_url: str, token: str
    ) -> None:
        """The form refuses a wrong token on the page; a right one sets a session (not the token) HttpOnly, Strict."""
        page = context.new_page()
        page.goto(f"{base_url}/logga-in")
        page.fill("#token", "fel-nyckel")
        page.click("#inloggning button[type=submit]")
        expect(page.locator("#fel")).to_have_text("Nyckeln är inte giltig.")
        assert [] == context.cookies()
        sign_in(page, base_url, token)
        (cookie,) = context.cookies()
        assert "beslut_token" == cookie["name"]
        assert token != cookie["value"]  # the cookie carries a session of its own, never the API token
        assert 43 == len(cookie["value"])
        assert cookie["httpOnly"] is True
        assert "Strict" == cookie["sameSite"]
        page.click(".utloggning button")
        expect(page).to_have_url(f"{base_url}/logga-in")
        assert [] == context.cookies()
        page.goto(f"{base_url}/")
        expect(page).to_have_url(f"{base_url}/logga-in?next=%2F")


class TestMatrix:
    def test_cells_colours_and_the_overdue_party(self, context: BrowserContext, base_url: str, token: str) -> None:
        """Known parties show their state and colour; Ragunda is highlighted overdue, the Region is not."""
        page = context.new_page()
        sign_in(page, base_url, token)
        matrix = page.locator("#matris")
        expect(matrix).to_be_visible()
        expect(matrix.locator("thead th a")).to_have_text([OPEN_TITLE])
        expect(matrix.locator("tbody tr")).to_have_count(len(PARTIES))

        def cell(party: str) -> Locator:
            return matrix.locator(f'tr[data-part="{party}"] td[data-rekommendation="{OPEN_KEY}"]')

        expect(cell("2380")).to_contain_text("Anslaget")
        expect(cell("2380")).to_have_css("background-color", "rgb(255, 214, 102)")
        expect(cell("2309")).to_contain_text("Under beredning")
        expect(cell("2321")).to_have_css("background-color", "rgb(255, 236, 153)")
        expect(cell("region-jh")).to_have_css("background-color", "rgb(238, 238, 238)")
        expect(cell("region-jh")).not_to_contain_text("Försenad")
        ragunda = cell("2303")
        expect(ragunda).to_contain_text("Ej påbörjad")
        expect(ragunda).to_contain_text("Försenad")
        expect(ragunda).to_have_css("background-color", "rgb(255, 205, 210)")
        expect(ragunda).to_have_css("outline-color", "rgb(176, 0, 32)")
        expect(matrix.locator('tr[data-part="2303"] th .markering')).to_have_text("Försenad")
        expect(page.locator("#antal-forsenade")).to_have_text("6 försenade svar")
        expect(page.locator("#legend li")).to_have_count(11)
        expect(page.locator("#idag")).to_have_text("2026-02-02")
        save(page, "matris", context)

    def test_the_grid_screenshot_shows_each_decision(self, context: BrowserContext, base_url: str, token: str) -> None:
        """A screenshot of the grid, read pixel by pixel: Åre's rejection and Östersund's approval look different.

        Each cell's left edge is drawn in its decision's colour (rejected: dark red, approved: green);
        the undecided Region has none. The header names who is signed in. The grid is saved as an artifact.
        """
        page = context.new_page()
        sign_in(page, base_url, token)
        expect(page.locator("#inloggad")).to_have_text("Inloggad: granskare (nyckel " + token_id(page) + ")")
        grid = page.locator("#matris")
        save_element(grid, "matris-rutnat", context)

        def edge(party: str) -> tuple[int, int, int]:
            shot = page.locator(f'#matris tr[data-part="{party}"] td[data-rekommendation="{OPEN_KEY}"]').screenshot()
            image = read_png(shot)
            return image.pixel(3, image.height // 2)

        def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
            return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))

        assert near(edge("2321"), (120, 0, 60)), edge("2321")  # Avslag
        assert near(edge("2380"), (46, 125, 50)), edge("2380")  # Bifall
        assert not near(edge("region-jh"), (120, 0, 60))
        assert not near(edge("region-jh"), (46, 125, 50))
        expect(page.locator(f'#matris tr[data-part="2321"] td[data-rekommendation="{OPEN_KEY}"] .utfall')).to_have_text(
            "Avslag"
        )

    def test_all_recommendations_include_the_demo(self, context: BrowserContext, base_url: str, token: str) -> None:
        """The link to all recommendations adds the demo's 2022 and 2025 columns, everyone final there."""
        page = context.new_page()
        sign_in(page, base_url, token)
        page.click("text=Visa även avslutade")
        expect(page.locator("#matris thead th[data-rekommendation]")).to_have_count(3)
        final = page.locator(f'#matris td[data-rekommendation="{KEY_2022}"][data-tillstand="final"]')
        expect(final).to_have_count(len(PARTIES))
        save(page, "matris-alla", context)


class TestRecommendation:
    def test_timeline_allocation_and_diagrams(
        self, context: BrowserContext, base_url: str, token: str, demo_file: Store
    ) -> None:
        """From the matrix to the 2022 page: every audit event, shares adding up to 5 000 000, both diagrams drawn."""
        page = context.new_page()
        sign_in(page, base_url, token)
        page.click("text=Visa även avslutade")
        page.click(f'#matris th[data-rekommendation="{KEY_2022}"] a')
        expect(page).to_have_url(f"{base_url}/rekommendationer/{KEY_2022}")
        expect(page.locator("#rubrik")).to_have_text("Mini-Maria Jämtland: inriktningsbeslut och finansiering")
        expect(page.locator("#lage")).to_have_text("Ersatt (Antagen)")

        records = Engine(demo_file).audit_log(KEY_2022)
        rows = page.locator("#tidslinje tbody tr")
        expect(rows).to_have_count(len(records))
        seqs = [int(rows.nth(i).get_attribute("data-seq") or "0") for i in range(rows.count())]
        assert sorted(r.seq for r in records) == sorted(seqs)
        overdue = page.locator('#tidslinje tr[data-slag="party.overdue"] td')
        expect(overdue.nth(1)).to_have_text("2022-10-01")
        expect(overdue.nth(3)).to_have_text("Försenad")
        expect(overdue.nth(4)).to_have_text("Ragunda kommun")
        expect(overdue.nth(5)).to_have_text("scheduler")

        amounts = page.locator("#fordelning tbody td.belopp")
        expect(amounts).to_have_count(len(PARTIES))
        values = [Decimal(amounts.nth(i).get_attribute("data-belopp") or "x") for i in range(amounts.count())]
        assert Decimal("5000000") == sum(values)
        assert Decimal(page.locator("#summa").get_attribute("data-belopp") or "x") == sum(values)
        expect(page.locator("#budget")).to_have_text("5\u00a0000\u00a0000")

        for image in ("#diagram-rekommendation", "#diagram-part"):
            response = page.request.get(base_url + (page.locator(image).get_attribute("src") or ""))
            assert 200 == response.status
            assert "image/svg+xml" == response.headers["content-type"]
            box = page.locator(image).bounding_box()
            assert box is not None
            assert box["width"] > 200  # the image was loaded and laid out (a broken image is a small icon)
        save(page, "rekommendation-2022", context)

    def test_the_open_round_shows_its_next_deadlines(self, context: BrowserContext, base_url: str, token: str) -> None:
        """The open round's page: Ragunda overdue in the party table, the next deadlines after the clock."""
        page = context.new_page()
        sign_in(page, base_url, token)
        page.click(f'#matris th[data-rekommendation="{OPEN_KEY}"] a')
        expect(page.locator('#parter tr[data-part="2303"] td[data-forsenad="ja"]')).to_contain_text("Försenad")
        expect(page.locator('#parter tr[data-part="region-jh"] td[data-forsenad="nej"]')).to_have_count(1)
        expect(page.locator("#frister tbody tr").first).to_contain_text("Överklagandetiden löper ut")
        expect(page.locator("#ej-hanterade")).to_contain_text("24 tidsfrister")
        save(page, "rekommendation-oppen", context)


def token_id(page: Page) -> str:
    """The id of the signed-in token, as the header shows it (``… (nyckel ID)``)."""
    text = page.locator("#inloggad").inner_text()
    return text.rsplit("(nyckel ", 1)[-1].rstrip(")")


def save_element(element: Locator, name: str, context: BrowserContext) -> Path:
    """A screenshot of one element (the grid), named like :func:`save`'s; it must not be empty."""
    path = artifacts() / f"{name}-{'js' if JS[id(context)] else 'utan-js'}.png"
    element.screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    return path


def save(page: Page, name: str, context: BrowserContext) -> Path:
    """A full-page screenshot named by page and by whether JavaScript was on; it must not be empty."""
    path = artifacts() / f"{name}-{'js' if JS[id(context)] else 'utan-js'}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path
