"""`sgwatch history` against botocore Stubbers (moto has no LookupEvents): pages, regions, throttling, rate limit."""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sgwatch.core.events import monitored_event_names
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import tamper_event_names
from sgwatch.operator import history
from sgwatch.operator.history import RateLimiter, lookup_region, parse_since, run_history

from tests.conftest import FIXTURES, REAL_RECORDS, load

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
REVOKE = load(
    REAL_RECORDS / "rubysoho07-cloudtrail-watcher/revoke_ingress_terraform_v6_ssh_with_revokedSecurityGroupRuleSet.json"
)
CREATE = load(REAL_RECORDS / "wwalpha-aws-spotlight/create_security_group_console_iamuser.json")


class FakeTime:
    """A clock that sleeping advances: the rate limiter's waits are observable and cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def event(record: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "EventId": event_id,
        "EventName": record["eventName"],
        "CloudTrailEvent": json.dumps({**record, "eventID": event_id}),
    }


@pytest.fixture(autouse=True)
def names_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's Stubber answers in the order it was given: these tests read a region's names one after another
    (the side-by-side reading has its own test, with a client that answers in any order)."""
    monkeypatch.setattr(history, "NAME_WORKERS", 1)


def stubbed(
    region: str,
    pages: dict[str, list[list[dict[str, Any]]]],
    throttle_first: int = 0,
    names: list[str] | None = None,
) -> tuple[Any, Stubber]:
    """A CloudTrail client answering LookupEvents per event name, in the order sgwatch asks: one page list per name."""
    client = boto3.client("cloudtrail", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for _ in range(throttle_first):
        stubber.add_client_error("lookup_events", "ThrottlingException", "Rate exceeded", http_status_code=400)
    for name in names or monitored_event_names():
        name_pages = pages.get(name, [[]])
        for index, page in enumerate(name_pages):
            expected: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": START,
                "EndTime": NOW,
                "MaxResults": 50,
            }
            if index:
                expected["NextToken"] = f"{name}-{index}"
            response: dict[str, Any] = {"Events": page}
            if index < len(name_pages) - 1:
                response["NextToken"] = f"{name}-{index + 1}"
            stubber.add_response("lookup_events", response, expected)
    stubber.activate()
    return client, stubber


def test_every_page_is_read_and_every_record_classified() -> None:
    pages = {
        "AuthorizeSecurityGroupIngress": [[event(SSH_WORLD, "a1"), event(SSH_WORLD, "a2")], [event(SSH_WORLD, "a3")]],
        "RevokeSecurityGroupIngress": [[event(REVOKE, "r1")]],
    }
    client, stubber = stubbed("eu-west-1", pages)
    fake = FakeTime()
    result = lookup_region(client, "eu-west-1", START, NOW, RateLimiter(clock=fake.clock, sleep=fake.sleep))
    stubber.assert_no_pending_responses()
    assert [record["eventID"] for record in result.records] == ["a1", "a2", "a3", "r1"]
    assert result.requests == len(monitored_event_names()) + 1  # one name had two pages


def test_regions_in_parallel_most_severe_first() -> None:
    clients = {
        "eu-west-1": stubbed("eu-west-1", {"RevokeSecurityGroupIngress": [[event(REVOKE, "r1")]]}),
        "us-east-1": stubbed(
            "us-east-1",
            {
                "AuthorizeSecurityGroupIngress": [[event(SSH_WORLD, "a1")]],
                "CreateSecurityGroup": [[event(CREATE, "c1")]],
            },
        ),
    }
    fake = FakeTime()
    results, per_region = run_history(
        list(clients), lambda region: clients[region][0], START, NOW,
        limiter_for=lambda _region: RateLimiter(clock=fake.clock, sleep=fake.sleep),
    )  # fmt: skip
    for _, stubber in clients.values():
        stubber.assert_no_pending_responses()
    # most severe first; among equals, newest first (the revocation is from 2026, the creation from 2021)
    assert [(r.event_id, r.severity) for r in results] == [
        ("a1", Severity.CRITICAL),
        ("r1", Severity.INFO),
        ("c1", Severity.INFO),
    ]
    assert {r.region for r in per_region} == {"eu-west-1", "us-east-1"}
    assert results[0].reasons[0].startswith("SSH (22/tcp) opened to the whole internet")


def test_throttling_is_retried_with_backoff_and_nothing_is_lost() -> None:
    client, stubber = stubbed(
        "eu-west-1", {"AuthorizeSecurityGroupIngress": [[event(SSH_WORLD, "a1")]]}, throttle_first=3
    )
    waits: list[float] = []
    fake = FakeTime()

    def backoff_sleep(seconds: float) -> None:
        waits.append(seconds)
        fake.sleep(seconds)

    result = lookup_region(
        client, "eu-west-1", START, NOW, RateLimiter(clock=fake.clock, sleep=fake.sleep), sleep=backoff_sleep
    )
    stubber.assert_no_pending_responses()
    assert waits == [1.0, 2.0, 4.0]
    assert (result.throttled, result.error, [r["eventID"] for r in result.records]) == (3, "", ["a1"])


def test_throttling_that_never_ends_is_reported_not_hidden() -> None:
    client = boto3.client("cloudtrail", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        for _ in range(3):
            stubber.add_client_error("lookup_events", "ThrottlingException", "Rate exceeded", http_status_code=400)
        fake = FakeTime()
        result = lookup_region(
            client,
            "eu-west-1",
            START,
            NOW,
            RateLimiter(clock=fake.clock, sleep=fake.sleep),
            max_attempts=3,
            sleep=fake.sleep,
        )
    assert "LookupEvents for AuthorizeSecurityGroupIngress failed: ThrottlingException" in result.error


def test_the_rate_limit_is_never_exceeded() -> None:
    calls: list[float] = []
    fake = FakeTime()
    client, stubber = stubbed("eu-west-1", {"AuthorizeSecurityGroupIngress": [[], [], []]})
    original = client.lookup_events

    def timed(**kwargs: Any) -> Any:
        calls.append(fake.now)
        return original(**kwargs)

    client.lookup_events = timed
    lookup_region(client, "eu-west-1", START, NOW, RateLimiter(rate=2.0, clock=fake.clock, sleep=fake.sleep))
    stubber.assert_no_pending_responses()
    assert len(calls) == len(monitored_event_names()) + 2
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert min(gaps) >= 0.5 - 1e-9
    window_counts = [sum(1 for t in calls if start <= t < start + 1.0) for start in calls]
    assert max(window_counts) <= 2


def test_since_is_parsed_and_bounded() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="keeps 90 days"):
        parse_since("91d", NOW)
    with pytest.raises(ValueError, match="expected 7d, 12h, 30m or an ISO date"):
        parse_since("last week", NOW)


def test_cli_history_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from sgwatch.operator import cli
    from sgwatch.operator.commands import aws

    client, _ = stubbed(
        "eu-west-1",
        {
            "AuthorizeSecurityGroupIngress": [[event(SSH_WORLD, "a1")]],
            "RevokeSecurityGroupIngress": [[event(REVOKE, "r1")]],
        },
    )

    class Clients:
        default_region = "eu-west-1"

        def __call__(self, service: str, region: str) -> Any:
            return client

    monkeypatch.setattr(aws, "clients_for", lambda args: Clients())
    monkeypatch.setattr(history, "RateLimiter", lambda: RateLimiter(rate=1000.0))
    monkeypatch.setattr(aws, "regions", lambda text, clients, default_all: ["eu-west-1"])
    real_parse = history.parse_since
    monkeypatch.setattr(history, "parse_since", lambda text, now: real_parse(text, NOW))
    real_run = history.run_history
    monkeypatch.setattr(
        history,
        "run_history",
        lambda regions, client_for, start, end, **kw: real_run(regions, client_for, start, NOW, **kw),
    )
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["history", "--since", "7d", "--format", "text"], out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("SEVERITY  TIME")
    assert lines[1].startswith("CRITICAL  2026-01-24T03:45:49Z ap-northeast-2 AuthorizeSecurityGroupIngress")
    assert len(lines) == 2  # the INFO revocation is below the default LOW
    assert "2 records from 1 regions" in err.getvalue()


def test_tamper_asks_for_the_calls_that_blind_the_monitor_as_cloudtrail_names_them() -> None:
    stopped = json.loads((FIXTURES / "tamper" / "cloudtrail__stop_logging.json").read_text())
    zeroed = json.loads((FIXTURES / "tamper" / "lambda__put_function_concurrency__sgwatch_zero.json").read_text())
    names = [*monitored_event_names(), *tamper_event_names()]
    assert "PutFunctionConcurrency20171031" in names and "UpdateFunctionCode20150331v2" in names
    client, stubber = stubbed(
        "eu-west-1",
        {"StopLogging": [[event(stopped, "t1")]], "PutFunctionConcurrency20171031": [[event(zeroed, "t2")]]},
        names=names,
    )
    results, _ = run_history(
        ["eu-west-1"], lambda region: client, START, NOW, limiter_for=lambda _: RateLimiter(rate=1000.0), names=names
    )
    stubber.assert_no_pending_responses()
    assert sorted((r.event_name, r.severity.name) for r in results) == [
        ("PutFunctionConcurrency20171031", "CRITICAL"),
        ("StopLogging", "CRITICAL"),
    ]


def test_every_region_has_its_own_worker() -> None:
    """Seventeen regions look up at once: each region's first request waits until all seventeen have started one,
    which only one worker per region allows (fewer workers would leave the barrier short and break it)."""
    regions = [f"region-{index}" for index in range(17)]
    barrier = threading.Barrier(len(regions), timeout=20)

    class Client:
        def __init__(self) -> None:
            self.first = True

        def lookup_events(self, **_: Any) -> dict[str, Any]:
            if self.first:
                self.first = False
                barrier.wait()
            return {"Events": []}

    fake = FakeTime()
    _, per_region = run_history(
        regions, lambda _region: Client(), START, NOW,
        limiter_for=lambda _region: RateLimiter(clock=fake.clock, sleep=lambda _seconds: None),
    )  # fmt: skip
    assert [result.error for result in per_region] == [""] * len(regions)
    assert not barrier.broken


class AnyOrder:
    """LookupEvents answering each name's pages in any order, from several threads, after `latency` seconds (the
    wait the limiter must not waste)."""

    def __init__(self, pages: dict[str, int], latency: float) -> None:
        self.pages, self.latency = pages, latency
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        name = request["LookupAttributes"][0]["AttributeValue"]
        index = int(request.get("NextToken", f"{name}:0").rsplit(":", 1)[1])
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.latency)
        with self._lock:
            self.in_flight -= 1  # real time: the other chains' requests go out meanwhile
        page: dict[str, Any] = {"Events": [event(SSH_WORLD, f"{name}-{index}")]}
        if index + 1 < self.pages.get(name, 1):
            page["NextToken"] = f"{name}:{index + 1}"
        return page


def test_a_regions_names_are_read_side_by_side_behind_its_one_limit() -> None:
    """With slow answers, four names' chains keep several requests in flight, each in its slot of the region's one
    limiter, and the records come out in the names' order."""
    names = ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateSecurityGroup", "RunInstances"]
    client = AnyOrder(dict.fromkeys(names, 3), latency=0.05)
    sent: list[float] = []
    limiter = RateLimiter(rate=50.0)
    original = limiter.wait

    def wait() -> None:
        original()
        sent.append(time.monotonic())

    limiter.wait = wait  # type: ignore[method-assign]
    result = lookup_region(client, "eu-west-1", START, NOW, limiter, names=names, name_workers=4)
    assert result.error == "" and result.requests == 12
    assert [record["eventID"] for record in result.records] == [f"{name}-{i}" for name in names for i in range(3)]
    assert client.most_in_flight >= 2  # one after another, there is never more than one
    assert len(sent) == 12  # every request took its slot from the region's one limiter (its spacing: fake-clock test)
