"""The pure parts of scripts/soak.py: the outage schedule, the reconciliation of outbox rows
against the fake's per-event_id counts, and the log lines it reads (no Odoo needed)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
from convapi.testing import FakeAdServer, FaultSchedule

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_script"] = module
    spec.loader.exec_module(module)
    return module


def test_outage_schedule_is_a_valid_schedule_for_the_fake(soak) -> None:
    import json

    phases = soak.outage_schedule(300, 600)
    schedule = FaultSchedule.from_json(json.dumps(phases))
    FakeAdServer().set_schedule(schedule)  # validated like inject()
    labels = [schedule.label_at(t) for t in (10, 310, 460, 610, 760, 901)]
    assert labels == ["healthy", "5xx", "timeouts", "429", "throttled", "healthy"]
    assert schedule.fault_for("tiktok") is None  # not started
    assert {p.fault for p in schedule.phases if p.label == "throttled"} == {
        "meta_error",
        "tiktok_code",
    }
    assert schedule.duration == 900


class FakePg:
    def __init__(self, rows):
        self.rows = rows

    def query(self, dbname, sql, params=()):
        return self.rows


class FakeFake:
    def __init__(self, counts):
        self._counts = counts

    def counts(self):
        return Counter(self._counts)


def test_reconcile_counts_duplicates_losses_and_unexpected(soak) -> None:
    services = [
        {"id": 1, "platform": "meta", "pixel": "111"},
        {"id": 2, "platform": "tiktok", "pixel": "CT"},
    ]
    rows = [
        (1, "Purchase", "o-1", "sent", 1),  # received once
        (1, "Purchase", "o-2", "sent", 2),  # re-sent after a crash: received twice
        (1, "ViewContent", "v-1", "sent", 1),  # marked sent, never received
        (2, "ViewContent", "v-1", "queued", 0),  # still pending
        (2, "Purchase", "o-1", "failed", 6),  # failed, never received
    ]
    counts = {
        ("meta", "111", "Purchase", "o-1"): 1,
        ("meta", "111", "Purchase", "o-2"): 2,
        ("tiktok", "CT", "Purchase", "x-9"): 1,  # no outbox row
    }
    result = soak.reconcile(FakePg(rows), "db", FakeFake(counts), services)["counts"]
    assert result["rows"] == 5
    assert result["delivered"] == 2
    assert result["duplicates"] == 1
    assert result["sent but never received"] == 1
    assert result["pending"] == 1
    assert result["failed"] == 1
    assert result["received, no outbox row"] == 1


def test_tiktok_rows_match_the_names_tiktok_receives(soak, monkeypatch) -> None:
    monkeypatch.setattr(
        soak, "platform_event_name", lambda p, n: "Pageview" if n == "PageView" else n
    )
    services = [{"id": 2, "platform": "tiktok", "pixel": "CT"}]
    rows = [(2, "PageView", "p-1", "sent", 1)]
    counts = {("tiktok", "CT", "Pageview", "p-1"): 1}
    result = soak.reconcile(FakePg(rows), "db", FakeFake(counts), services)["counts"]
    assert result["delivered"] == 1 and "sent but never received" not in result


@pytest.mark.parametrize(
    ("line", "seconds"),
    [
        ("Job done: `Conversion APIs: send queued events` (1.117s).", 1.117),
        ("Job 'Conversion APIs: send queued events' (25) done in 1.392s", 1.392),
        (
            "Job 'Conversion APIs: send queued events' (23) fully done (#loop 1; done 0; "
            "remaining 0; duration 2.07s)",
            2.07,
        ),
    ],
)
def test_flush_job_lines_of_17_18_19(soak, line: str, seconds: float) -> None:
    match = soak.FLUSH_JOB_LINE.search(line)
    assert match and float(next(g for g in match.groups() if g)) == seconds


def test_sent_and_failed_lines_per_process(soak, tmp_path: Path) -> None:
    log = tmp_path / "server1.log"
    log.write_text(
        "2026-12-02 13:01:33,531 964 INFO db odoo.addons.conversions_api.models."
        "conversions_api_event: conversions_api: 55 meta event(s) sent (service 3) \n"
        "2026-12-02 13:01:34,531 965 WARNING db odoo.addons.conversions_api.models."
        "conversions_api_event: conversions_api: 10 tiktok event(s) not sent (service 4, "
        "will retry): [50002] Service temporarily unavailable.\n"
    )
    found = soak.sent_by_process([log])
    assert found["sent"] == Counter({("server1", 964): 55})
    assert found["failed"] == Counter({("server1", 965): 10})


def test_missing_modules_names_what_the_interpreter_cannot_import(soak) -> None:
    # Found by the kill scenario: without setproctitle every prefork worker is titled as its
    # master, and the scenario waited five minutes for a cron worker before giving up.
    assert soak.PREFORK_MODULES == ("gevent", "setproctitle")
    assert soak.missing_modules(sys.executable, ("json", "no_such_module_convapi")) == [
        "no_such_module_convapi"]
    expected = [m for m in soak.PREFORK_MODULES if importlib.util.find_spec(m) is None]
    assert soak.missing_modules(sys.executable) == expected
