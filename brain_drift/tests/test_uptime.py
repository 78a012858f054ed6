"""The Uptime Kuma pusher against a fake push endpoint served over real HTTP."""

import logging
import time

import httpx
import pytest

from brain_drift.uptime import KumaPusher, redact_url

pytestmark = pytest.mark.integration


class Status:
    """What the monitor would say; tests change it."""

    def __init__(self) -> None:
        self.value = ("up", "no drift")

    def __call__(self) -> tuple[str, str]:
        return self.value


@pytest.fixture
def pushers():
    started = []

    def make(url, current, **kwargs):
        kwargs = {"interval_s": 3600.0, "timeout_s": 2.0, "max_backoff_s": 0.5} | kwargs
        pusher = KumaPusher(url, current, **kwargs)
        pusher.start()
        started.append(pusher)
        return pusher

    yield make
    for pusher in started:
        pusher.stop()


def test_the_fake_follows_the_push_contract(kuma):
    ok = httpx.get(kuma.url, params={"status": "up", "msg": "OK", "ping": ""})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    wrong = httpx.get(kuma.url.replace(kuma.token, "nope"), params={"status": "up"})
    assert wrong.status_code == 404
    assert wrong.json() == {"ok": False, "msg": "Monitor not found or not active."}
    assert [(p.status, p.msg, p.ping) for p in kuma.pushes] == [("up", "OK", "")]
    assert len(kuma.rejected) == 1


def test_heartbeats_carry_the_current_status_and_changes_go_out_at_once(kuma, pushers):
    status = Status()
    # Kuma's copy-paste URL comes with a query; ours replaces it.
    pusher = pushers(kuma.url + "?status=up&msg=OK&ping=", status, interval_s=0.2)
    assert kuma.wait_for(lambda k: len(k.pushes) >= 3, 10)
    assert set(kuma.statuses()) == {"up"} and kuma.pushes[0].msg == "no drift"
    status.value = ("down", "DRIFT: 3 of 62 features")
    pusher.notify("down", "DRIFT: 3 of 62 features")
    assert kuma.wait_for(lambda k: "down" in k.statuses(), 5)
    time.sleep(0.5)  # heartbeats go on, now down with the drift message
    downs = [p for p in kuma.pushes if p.status == "down"]
    assert len(downs) >= 2 and all(p.msg == "DRIFT: 3 of 62 features" for p in downs)
    assert kuma.transitions() == ["up", "down"]
    health = pusher.health()
    assert health["last_ok"]["status"] == "down" and health["consecutive_failures"] == 0


def test_changes_during_an_outage_are_delivered_in_order_afterwards(kuma, pushers):
    status = Status()
    pusher = pushers(kuma.url, status)
    assert kuma.wait_for(lambda k: k.statuses() == ["up"], 5)
    kuma.stop()
    pusher.notify("down", "DRIFT: loose electrode")
    pusher.notify("up", "no drift")
    time.sleep(1.0)
    health = pusher.health()
    assert health["pending"] == 2 and health["consecutive_failures"] >= 1
    assert health["last"]["ok"] is False and "ConnectError" in health["last"]["error"]
    kuma.start()  # same port
    assert kuma.wait_for(lambda k: len(k.statuses()) >= 3, 10)
    assert kuma.statuses()[:3] == ["up", "down", "up"]
    assert kuma.pushes[1].msg == "DRIFT: loose electrode"
    assert pusher.health()["pending"] == 0


def test_an_unknown_token_is_retried_and_never_logged(kuma, pushers, caplog):
    caplog.set_level(logging.DEBUG)
    url = kuma.url.replace(kuma.token, "WrongToken123")
    pusher = pushers(url, Status())
    assert kuma.wait_for(lambda k: len(k.rejected) >= 2, 10)  # retried
    health = pusher.health()
    assert health["last"]["http_status"] == 404
    assert "Monitor not found" in health["last"]["error"]
    assert health["target"] == f"http://127.0.0.1:{kuma.port}/api/push/Wr***"
    assert kuma.pushes == []
    assert "WrongToken123" not in caplog.text and "Wr***" in caplog.text


def test_without_a_url_nothing_is_sent(kuma):
    pusher = KumaPusher(None, Status())
    pusher.start()
    pusher.notify("down", "DRIFT")
    assert pusher.health()["configured"] is False and pusher.health()["pending"] == 0
    pusher.stop()


def test_redaction():
    assert redact_url("https://kuma.example:3001/api/push/AbCdEf1234?status=up&msg=x") == \
        "https://kuma.example:3001/api/push/Ab***"
    assert redact_url("http://user:pw@host/api/push/tok/") == "http://host/api/push/to***/"
