"""The command counters of `/metrics` move with real commands and refusals sent over HTTP to the real app.

The app is :func:`beslut.api.create_app` on both stores (the ``api`` fixture of
tests/api/conftest.py); the figures are read back by parsing `/metrics` with
prometheus_client's own parser.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api
from tests.conftest import KEY

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
DECIDE = f"/recommendations/{KEY}/parties/2380/decide"


def scrape(api: Api) -> Samples:
    """/metrics needs no token (it is for the scraper); parsed into {(name, sorted labels): value}."""
    response = api.client.get("/metrics")
    assert 200 == response.status_code
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def commands(samples: Samples, kind: str, result: str) -> float:
    return samples.get(("beslut_commands_total", (("kind", kind), ("result", result))), 0.0)


def refusals(samples: Samples, reason: str) -> float:
    return samples.get(("beslut_refusals_total", (("reason", reason),)), 0.0)


def total_commands(samples: Samples) -> float:
    return sum(value for (name, _), value in samples.items() if name == "beslut_commands_total")


def decision(on: str = "2022-09-05", **extra: object) -> dict[str, object]:
    return {"outcome": "approved", "paragraph": "§ 164", "on": on, **extra}


class TestCommandCounters:
    def test_an_accepted_command_counts_ok_and_no_refusal(self, api: Api) -> None:
        """One decide: commands{decide,ok} +1; the refusal counters stay as they were."""
        before = scrape(api)
        assert 200 == api.post(DECIDE, decision(), who="clerk_2380").status_code
        after = scrape(api)
        assert commands(before, "decide", "ok") + 1 == commands(after, "decide", "ok")
        for reason in ("invalid", "not_found", "conflict", "unauthorized", "forbidden"):
            assert refusals(before, reason) == refusals(after, reason)

    def test_each_kind_of_refusal_counts_under_its_result(self, api: Api) -> None:
        """Stale version, wrong state, unknown party, bad input, no token, wrong clerk: each lands in its bucket."""
        before = scrape(api)
        api.refused("POST", DECIDE, decision(expected_version=1), status=409, who="clerk_2380")  # stale version
        api.refused("POST", f"/recommendations/{KEY}/recommend", {"on": "2022-06-03"}, status=409)  # wrong state
        api.refused("POST", f"/recommendations/{KEY}/parties/9999/decide", decision(), status=404)
        api.refused("POST", DECIDE, decision(on="not a date"), status=422, who="clerk_2380")
        api.refused("POST", DECIDE, decision(), status=401, who=None)
        api.refused("POST", DECIDE, decision(), status=403, who="clerk_2309")  # Krokom deciding for Östersund
        after = scrape(api)

        assert commands(before, "decide", "conflict") + 1 == commands(after, "decide", "conflict")
        assert commands(before, "recommend", "conflict") + 1 == commands(after, "recommend", "conflict")
        assert commands(before, "decide", "not_found") + 1 == commands(after, "decide", "not_found")
        assert commands(before, "decide", "invalid") + 1 == commands(after, "decide", "invalid")
        assert commands(before, "decide", "unauthorized") + 1 == commands(after, "decide", "unauthorized")
        assert commands(before, "decide", "forbidden") + 1 == commands(after, "decide", "forbidden")
        assert refusals(before, "conflict") + 2 == refusals(after, "conflict")
        for reason in ("not_found", "invalid", "unauthorized", "forbidden"):
            assert refusals(before, reason) + 1 == refusals(after, reason), reason
        assert commands(before, "decide", "ok") == commands(after, "decide", "ok")

    def test_reads_are_timed_but_not_counted_as_commands(self, api: Api) -> None:
        """A status read shows in the latency histogram under its route template, not in beslut_commands_total."""
        before = scrape(api)
        api.status()
        after = scrape(api)
        key = (
            "beslut_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/recommendations/{key}"), ("status", "200")),
        )
        assert before.get(key, 0.0) + 1 == after[key]
        assert total_commands(before) == total_commands(after)

    def test_the_audit_head_gauge_follows_accepted_commands_only(self, api: Api) -> None:
        """An accepted command appends one event, a refused one none: the gauge read from the database says so."""
        head = scrape(api)[("beslut_audit_head_seq", ())]
        api.refused("POST", DECIDE, decision(expected_version=1), status=409, who="clerk_2380")
        assert head == scrape(api)[("beslut_audit_head_seq", ())]
        assert 200 == api.post(DECIDE, decision(), who="clerk_2380").status_code
        assert head + 1 == scrape(api)[("beslut_audit_head_seq", ())]
