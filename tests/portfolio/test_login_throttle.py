"""Sign-in throttling (portfolio_api/services/accounts.py, LoginLimiter): attempts are counted before the
password is checked, failures slow the next attempt down with a Retry-After, and nobody can lock a pupil
or a school out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.errors import AuthorizationError
from portfolio_api.services.limits import RateLimited
from tests.portfolio.helpers import PASSWORD, PEOPLE, env  # noqa: F401 - the fixture

MARIA = PEOPLE["maria"][0]


@pytest.fixture
def clock(env, monkeypatch):
    now = [2_000_000_000.0]
    monkeypatch.setattr(env.svc.ctx, "clock", lambda: now[0])
    return now


def _try(env, email, password, ip):
    try:
        env.svc.accounts.authenticate(email, password, ip)
        return "ok"
    except RateLimited as e:
        return ("wait", e.retry_after)
    except AuthorizationError:
        return "wrong"


def test_concurrent_guesses_are_counted_before_the_password_is_checked(env, clock):
    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(lambda n: _try(env, MARIA, f"guess-{n}", "203.0.113.9"), range(24)))
    assert outcomes.count("wrong") == 5  # the free failures of one (account, address) pair, no more
    assert all(o[0] == "wait" for o in outcomes if o != "wrong")


def test_waits_double_and_a_stranger_cannot_lock_the_pupil_out(env, clock):
    attacker = "198.51.100.7"
    assert [_try(env, MARIA, "x", attacker) for _ in range(5)] == ["wrong"] * 5
    assert _try(env, MARIA, "x", attacker) == ("wait", 1)
    clock[0] += 1
    assert _try(env, MARIA, "x", attacker) == "wrong"
    assert _try(env, MARIA, "x", attacker) == ("wait", 2)
    # Many addresses together push the account's own count over its 20 free failures ...
    for n in range(20):
        _try(env, MARIA, "x", f"192.0.2.{n}")
    result = _try(env, MARIA, PASSWORD, "10.1.2.3")
    assert result[0] == "wait" and 1 <= result[1] <= 60  # ... but she waits at most a minute, never 15
    clock[0] += 60
    assert _try(env, MARIA, PASSWORD, "10.1.2.3") == "ok"


def test_a_school_behind_one_address_still_signs_in(env, clock):
    school = "203.0.113.50"
    for n in range(30):
        assert _try(env, f"nobody{n}@example.org", "x", school) == "wrong"
    result = _try(env, MARIA, PASSWORD, school)
    assert result[0] == "wait" and result[1] <= 60
    clock[0] += result[1]
    assert _try(env, MARIA, PASSWORD, school) == "ok"


def test_the_web_429_says_when_to_try_again(env, clock):
    from tests.portfolio.helpers import form

    c = env.browser()
    for _ in range(5):
        assert form(c, "/login", {"email": MARIA, "password": "wrong"}).status_code == 401
    r = form(c, "/login", {"email": MARIA, "password": "wrong"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
