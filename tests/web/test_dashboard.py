"""The dashboard router over real stores, without a browser: sign-in, the matrix, a recommendation, escaping.

Every test that takes ``client`` runs on SQLite and on PostgreSQL with the Mini-Maria
demo plus the open 2026 round (tests/web/data.py), the dashboard's clock at 2026-02-02.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import quote

import pytest

from beslut.clock import FixedClock
from beslut.persistence import Store
from beslut.workflow import Engine
from tests.web.conftest import TOKEN, TestClient, make_app
from tests.web.data import BEFORE_REPLY, KEY_2022, KEY_2025, OPEN_KEY, OPEN_TITLE, PARTIES, TODAY, open_spec
from tests.web.html import Element, parse

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def page(client: TestClient, path: str, status: int = 200) -> Element:
    response = client.get(path)
    assert status == response.status_code, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]  # no script may run at all
    return parse(response.text)


class TestSigningIn:
    def test_pages_redirect_to_the_login_form_without_a_token(self, client: TestClient) -> None:
        """Without a token the matrix and a recommendation redirect (303) to /logga-in, keeping where to return."""
        response = client.get("/")
        assert 303 == response.status_code
        assert "/logga-in?next=%2F" == response.headers["location"]
        response = client.get(f"/rekommendationer/{OPEN_KEY}")
        assert 303 == response.status_code
        assert f"/logga-in?next=%2Frekommendationer%2F{OPEN_KEY}" == response.headers["location"]

    def test_a_diagram_without_a_token_is_401(self, client: TestClient) -> None:
        """An image cannot follow a login redirect usefully: 401 with a Bearer challenge."""
        response = client.get("/diagram/party.svg")
        assert 401 == response.status_code
        assert "Bearer" == response.headers["www-authenticate"]

    def test_an_unknown_token_is_refused_in_cookie_header_and_form(self, client: TestClient) -> None:
        """A wrong token reads nothing, however it is presented, and the form says so (401)."""
        assert 303 == client.get("/", headers={"Authorization": "Bearer nope"}).status_code
        assert 303 == client.get("/", headers={"Cookie": "beslut_token=nope"}).status_code
        response = client.post("/logga-in", content="token=nope&next=%2F", headers=FORM)
        assert 401 == response.status_code
        assert "Nyckeln är inte giltig." == parse(response.text).by_id("fel").words
        assert "set-cookie" not in response.headers

    def test_the_form_sets_an_httponly_strict_cookie_and_goes_back(self, client: TestClient) -> None:
        """A valid token posted by the form becomes an HttpOnly, SameSite=Strict cookie; the user returns to *next*."""
        response = client.post(
            "/logga-in", content=f"token={TOKEN}&next=%2Frekommendationer%2F{OPEN_KEY}", headers=FORM
        )
        assert 303 == response.status_code
        assert f"/rekommendationer/{OPEN_KEY}" == response.headers["location"]
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("beslut_token=")
        assert TOKEN not in cookie  # a session of its own, never the token
        assert "Max-Age=28800" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
        assert 200 == client.get("/").status_code

    def test_a_bearer_header_reads_too(self, client: TestClient) -> None:
        """The HTTP API's header works on the pages as well."""
        assert 200 == client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code

    def test_logging_out_forgets_the_cookie(self, signed_in: TestClient) -> None:
        """After /logga-ut the pages redirect to the login form again."""
        response = signed_in.post("/logga-ut")
        assert 303 == response.status_code
        assert "/logga-in" == response.headers["location"]
        assert 'beslut_token=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
        assert 303 == signed_in.get("/").status_code

    @pytest.mark.parametrize(
        "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
    )
    def test_next_never_leaves_the_site(self, client: TestClient, target: str) -> None:
        """An open redirect is refused: any *next* that is not a local path becomes /."""
        response = client.post("/logga-in", content=f"token={TOKEN}&next={quote(target, safe='')}", headers=FORM)
        assert 303 == response.status_code
        assert "/" == response.headers["location"]

    def test_a_login_posted_from_another_site_is_refused(self, client: TestClient) -> None:
        """Login CSRF: a form posted from another origin cannot sign the visitor in (403, no cookie)."""
        body = f"token={TOKEN}&next=%2F"
        for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
            response = client.post("/logga-in", content=body, headers={**FORM, "Origin": origin})
            assert 403 == response.status_code
            assert "set-cookie" not in response.headers
        response = client.post("/logga-in", content=body, headers={**FORM, "Origin": "http://testserver"})
        assert 303 == response.status_code

    def test_a_form_of_another_type_or_too_large_is_refused(self, client: TestClient) -> None:
        """Only a small urlencoded body is read: multipart is 415, over 8 KiB is 413; no cookie either way."""
        response = client.post(
            "/logga-in", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert 415 == response.status_code
        response = client.post("/logga-in", content=f"token={TOKEN}&pad={'a' * 9000}", headers=FORM)
        assert 413 == response.status_code
        assert "set-cookie" not in response.headers

    def test_the_login_page_and_stylesheet_need_no_token(self, client: TestClient) -> None:
        """The form (with a password field posting to /logga-in) and its stylesheet are public."""
        form = page(client, "/logga-in").by_id("inloggning")
        assert "post" == form.attrs["method"]
        assert "password" == form.find("input", name="token").attrs["type"]
        response = client.get("/stil.css")
        assert 200 == response.status_code
        assert response.headers["content-type"].startswith("text/css")
        assert ".forsenad" in response.text


def cell(document: Element, party: str, key: str = OPEN_KEY) -> Element:
    row = document.by_id("matris").find("tr", data_part=party)
    return row.find("td", data_rekommendation=key)


class TestMatrix:
    def test_open_recommendations_only_with_every_party(self, signed_in: TestClient) -> None:
        """The default matrix has one column (the open round) and a row per party, named from the spec."""
        document = page(signed_in, "/")
        table = document.by_id("matris")
        headers = table.find_all("th", scope="col")
        assert [OPEN_KEY] == [h.attrs["data-rekommendation"] for h in headers if "data-rekommendation" in h.attrs]
        assert PARTIES == [r.attrs["data-part"] for r in table.find_all("tr") if "data-part" in r.attrs]
        assert "Östersunds kommun" == table.find("tr", data_part="2380").find("th").words.split(" Försenad")[0]
        assert OPEN_TITLE in table.words

    def test_states_and_overdue_party_on_the_clock_of_the_request(self, signed_in: TestClient) -> None:
        """On 2026-02-02 Ragunda is overdue, the Region (own later date) is not; decided and preparing are shown."""
        document = page(signed_in, "/")
        expected = {
            "2380": ("announced", "nej", "Anslaget"),
            "2309": ("preparing", "ja", "Under beredning"),
            "2321": ("decided", "nej", "Beslutat"),
            "2303": ("pending", "ja", "Ej påbörjad"),
            "region-jh": ("pending", "nej", "Ej påbörjad"),
        }
        for party, (state, overdue, text) in expected.items():
            found = cell(document, party)
            assert (state, overdue) == (found.attrs["data-tillstand"], found.attrs["data-forsenad"]), party
            assert found.words.startswith(text)
            assert ("forsenad" in found.attrs["class"].split()) == (overdue == "ja")
        assert "forsenad-rad" == document.by_id("matris").find("tr", data_part="2303").attrs["class"]
        assert "class" not in document.by_id("matris").find("tr", data_part="region-jh").attrs
        overdue_parties = [p for p in PARTIES if cell(document, p).attrs["data-forsenad"] == "ja"]
        assert ["2309", "2313", "2361", "2326", "2305", "2303"] == overdue_parties
        assert "6 försenade svar" == document.by_id("antal-forsenade").words

    def test_legend_names_every_party_state_and_overdue(self, signed_in: TestClient) -> None:
        """The legend shows one swatch per party state plus the overdue mark."""
        legend = page(signed_in, "/").by_id("legend")
        swatches = [s.attrs["data-tillstand"] for s in legend.find_all("span") if "data-tillstand" in s.attrs]
        assert ["pending", "preparing", "proposed", "decided", "announced", "appealed", "final"] == swatches
        assert "Försenad" in legend.words

    def test_before_the_reply_date_nobody_is_overdue(self, demo_store: Store) -> None:
        """The clock is the app's: on 2026-01-29 the same data shows nobody overdue."""
        with TestClient(make_app(demo_store, FixedClock(BEFORE_REPLY)), follow_redirects=False) as c:
            response = c.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
            document = parse(response.text)
        assert all(cell(document, p).attrs["data-forsenad"] == "nej" for p in PARTIES)
        assert [] == document.find_all(None, id="antal-forsenade")
        assert "2026-01-29" == document.by_id("idag").words

    def test_all_shows_the_closed_recommendations_too(self, signed_in: TestClient) -> None:
        """?alla=1 adds the demo's superseded 2022 and in-force 2025 recommendations, final parties not overdue."""
        document = page(signed_in, "/?alla=1")
        keys = [h.attrs["data-rekommendation"] for h in document.by_id("matris").find_all("th", scope="col")[1:]]
        assert [KEY_2022, KEY_2025, OPEN_KEY] == keys
        assert "final" == cell(document, "2303", KEY_2022).attrs["data-tillstand"]
        assert "nej" == cell(document, "2303", KEY_2022).attrs["data-forsenad"]


    def test_each_cell_shows_the_decision_not_only_the_state(self, signed_in: TestClient) -> None:
        """Åre rejected and Östersund approved: the cells say so (text, data-utfall, class), undecided ones do not."""
        document = page(signed_in, "/")
        expected = {"2380": ("approved", "Bifall"), "2321": ("rejected", "Avslag"), "2303": ("", None)}
        for party, (outcome, word) in expected.items():
            found = cell(document, party)
            assert outcome == found.attrs["data-utfall"], party
            if word is None:
                assert not any(c.startswith("utfall-") for c in found.attrs["class"].split()), party
            else:
                assert word == found.find("strong", class_="utfall").words
                assert f"utfall-{outcome}" in found.attrs["class"].split()

    def test_a_final_rejection_does_not_look_like_a_final_approval(self, signed_in: TestClient) -> None:
        """In the closed 2022 round every party is final; the cells differ by their decision, and Ragunda was late."""
        document = page(signed_in, "/?alla=1")
        outcomes = {p: cell(document, p, KEY_2022).attrs["data-utfall"] for p in PARTIES}
        assert {"approved"} <= set(outcomes.values())
        ragunda = cell(document, "2303", KEY_2022)
        assert ("final", "10") == (ragunda.attrs["data-tillstand"], ragunda.attrs["data-sent"])
        assert "sent" in ragunda.attrs["class"].split()
        assert "10 dagar för sent" in ragunda.words
        in_time = [p for p in PARTIES if p != "2303"]
        assert all(cell(document, p, KEY_2022).attrs["data-sent"] == "0" for p in in_time)

    def test_the_header_names_who_is_signed_in(self, signed_in: TestClient) -> None:
        """Every page says which token it is read with: its role (the test token is an auditor's)."""
        assert "Inloggad: granskare" == page(signed_in, "/").by_id("inloggad").words
        assert "Inloggad: granskare" == page(signed_in, f"/rekommendationer/{KEY_2022}").by_id("inloggad").words


class TestRecommendationPage:
    def test_timeline_holds_every_audit_event(self, signed_in: TestClient, demo_store: Store) -> None:
        """One row per audit event of the stream, ordered by legal date then seq, with kind, party and actor."""
        records = Engine(demo_store).audit_log(KEY_2022)
        document = page(signed_in, f"/rekommendationer/{KEY_2022}")
        rows = document.by_id("tidslinje").find("tbody").find_all("tr")
        expected = sorted(records, key=lambda r: (r.valid_on, r.seq))
        assert [str(r.seq) for r in expected] == [row.attrs["data-seq"] for row in rows]
        assert [r.kind for r in expected] == [row.attrs["data-slag"] for row in rows]
        overdue = next(row for row in rows if row.attrs["data-slag"] == "party.overdue")
        cells = overdue.find_all("td")
        assert "2022-10-01" == cells[1].words  # tick on 2022-10-01 marked Ragunda
        assert "Ragunda kommun" == cells[4].words
        assert "scheduler" == cells[5].words
        assert "recommendation.superseded" == rows[-1].attrs["data-slag"]

    def test_a_late_decision_is_marked(self, signed_in: TestClient) -> None:
        """Ragunda decided on 2022-10-10, ten days after its reply date: marked; the parties in time are not."""
        rows = page(signed_in, f"/rekommendationer/{KEY_2022}").by_id("parter").find("tbody").find_all("tr")
        marked = {row.attrs["data-part"]: row.find_all("td", class_="sent-beslut") for row in rows}
        (late,) = marked.pop("2303")
        assert "10" == late.attrs["data-dagar-sent"]
        assert "2022-10-10 · 10 dagar för sent" == late.words
        assert [] == [cells for cells in marked.values() if cells]

    def test_allocation_adds_up_to_the_budget(self, signed_in: TestClient) -> None:
        """The 2022 split: Östersund 1 236 026 kr, the Region 2 462 500 kr, nine shares summing to 5 000 000."""
        table = page(signed_in, f"/rekommendationer/{KEY_2022}").by_id("fordelning")
        amounts = {
            row.attrs["data-part"]: Decimal(row.find("td", class_="tal belopp").attrs["data-belopp"])
            for row in table.find("tbody").find_all("tr")
        }
        assert Decimal("1236026") == amounts["2380"]
        assert Decimal("2462500") == amounts["region-jh"]
        assert set(PARTIES) == set(amounts)
        assert Decimal("5000000") == sum(amounts.values())
        assert Decimal(table.by_id("summa").attrs["data-belopp"]) == sum(amounts.values())
        assert "5\N{NO-BREAK SPACE}000\N{NO-BREAK SPACE}000" == table.by_id("budget").text.strip()

    def test_open_round_shows_overdue_parties_and_next_deadlines(self, signed_in: TestClient) -> None:
        """The open round: Ragunda marked overdue, the Region's own reply date among the pending deadlines."""
        document = page(signed_in, f"/rekommendationer/{OPEN_KEY}")
        parties = document.by_id("parter")
        assert "ja" == parties.find("tr", data_part="2303").find("td", data_tillstand="pending").attrs["data-forsenad"]
        region = parties.find("tr", data_part="region-jh")
        assert "nej" == region.find("td", data_tillstand="pending").attrs["data-forsenad"]
        assert "2026-03-31" == region.find_all("td")[1].words
        deadlines = document.by_id("frister").find("tbody").find_all("tr")
        assert deadlines
        assert any(d.attrs["data-slag"] == "reply_by" and "Region Jämtland Härjedalen" in d.words for d in deadlines)
        due = [d.find_all("td")[0].words for d in deadlines]
        assert sorted(due) == due
        assert all(d > "2026-02-02 12:00:00" for d in due)  # after the clock: the next ones, not the missed ones
        assert "2026-02-13 00:00:00" == due[0]  # Östersund's appeal period ends
        assert "24" == document.by_id("ej-hanterade").attrs["data-antal"]  # due, but no tick has run

    def test_diagrams_are_linked_and_served(self, signed_in: TestClient) -> None:
        """Both machine diagrams are images on the page; the recommendation's marks its current state."""
        document = page(signed_in, f"/rekommendationer/{OPEN_KEY}")
        source = document.by_id("diagram-rekommendation").attrs["src"]
        assert "/diagram/recommendation.svg?markera=recommended" == source
        response = signed_in.get(source)
        assert 200 == response.status_code
        assert "image/svg+xml" == response.headers["content-type"]
        assert "<title>recommended</title>" in response.text
        assert 200 == signed_in.get(document.by_id("diagram-part").attrs["src"]).status_code

    def test_unknown_recommendation_machine_or_state(self, signed_in: TestClient) -> None:
        """An unknown key is a 404 page naming it; an unknown machine 404, an unknown state 422."""
        assert "nope" in page(signed_in, "/rekommendationer/nope", 404).by_id("saknas").words
        assert 404 == signed_in.get("/diagram/nope.svg").status_code
        assert 422 == signed_in.get("/diagram/party.svg?markera=nowhere").status_code


HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_a_hostile_title_is_escaped(store: Store) -> None:
    """A spec title full of markup is shown as text on the matrix and on its page, never as markup."""
    engine = Engine(store, clock=FixedClock(TODAY), actor="test")
    engine.propose(open_spec("fientlig", HOSTILE), on=date(2026, 1, 12))
    engine.recommend("fientlig", on=date(2026, 1, 12))
    with TestClient(make_app(store, FixedClock(TODAY)), follow_redirects=False) as c:
        assert 303 == c.post("/logga-in", content=f"token={TOKEN}", headers=FORM).status_code
        for path in ("/", "/rekommendationer/fientlig"):
            response = c.get(path)
            assert 200 == response.status_code
            assert "<script>" not in response.text
            assert "<img src=x" not in response.text
            assert (
                "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
                in response.text
            )
            assert " ".join(HOSTILE.split()) in parse(response.text).words
