"""Sign-in budgets that only failures spend, so that nobody can lock a person out.

The request budgets of ``rate_limits.BUDGETS`` run before a sign-in step: per
address for both steps, and per (account, address) for passwords. One address
cannot guess at one account quickly, and its failures never refuse another
address. Guessing spread over many addresses is bounded here, per account, by
budgets that failures spend and that the sign-in steps check themselves:

* wrong passwords (``SKILLS_LOGIN_ACCOUNT_RATE_LIMIT``). Once spent, the password
  alone no longer signs in from an address unfamiliar to the account: the same
  request must carry a valid second factor, else it is refused with 429 whatever the
  password, so the answer tells a guesser nothing;
* wrong second-factor codes (``SKILLS_MFA_ACCOUNT_RATE_LIMIT``); and, for each
  pending sign-in, ``CODE_TRIES_PER_SIGN_IN``: then that sign-in is dropped and the
  password step starts again.

An address is familiar to an account for ``FAMILIAR_DAYS`` after a sign-in from it;
the per-account budgets do not apply to it (its own budgets still do), so a person
keeps signing in from where they usually do while someone guesses from elsewhere.

Counters live in the rate limits' storage (``rate_limits.init_app`` puts it in
``app.extensions[LIMITER_KEY]``): Redis when configured (shared by replicas), this
process while a storage of their own is out of reach.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse, parse_many
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from skills_service.errors import InvalidInput
from skills_service.services.people import normalise_email
from skills_service.settings import Settings

LIMITER_KEY = "skills_service.limiter"
KEY_PREFIX = "skills"
FAMILIAR_DAYS = 30
CODE_TRIES_PER_SIGN_IN = 5


@dataclass(frozen=True)
class FailureBudget:
    """A per-account budget: which failures spend it, and how many a window allows."""

    scope: str
    rate: Callable[[Settings], str]


WRONG_PASSWORDS = FailureBudget("password-failures", lambda s: s.login_account_rate_limit)
WRONG_CODES = FailureBudget("code-failures", lambda s: s.mfa_account_rate_limit)
PENDING_SIGN_IN_CODES = parse(f"{CODE_TRIES_PER_SIGN_IN} per 5 minutes")


def account_key(email: str) -> str:
    """The account an email names, as sign-in sees it, whether or not it exists."""
    try:
        return "account:" + normalise_email(email[:320])
    except InvalidInput:
        return "account:invalid"


def _strategy() -> FixedWindowRateLimiter:
    storage: Callable[[], Storage] = current_app.extensions[LIMITER_KEY]
    return FixedWindowRateLimiter(storage())


def _items(budget: FailureBudget) -> list[RateLimitItem]:
    settings: Settings = current_app.config["SKILLS_SETTINGS"]
    return parse_many(budget.rate(settings))


def _familiar_key(account: str) -> str:
    return f"{KEY_PREFIX}/familiar/{account}/{get_remote_address()}"


def is_familiar(account: str) -> bool:
    return _strategy().storage.get(_familiar_key(account)) > 0


def remember_address(account: str) -> None:
    """A sign-in succeeded from this address: familiar for the next ``FAMILIAR_DAYS``."""
    storage = _strategy().storage
    key = _familiar_key(account)
    storage.clear(key)
    storage.incr(key, FAMILIAR_DAYS * 86400)


def guarded(budget: FailureBudget, account: str) -> bool:
    """The account's budget is spent and this address is not familiar to it."""
    strategy = _strategy()
    spent = any(
        not strategy.test(item, KEY_PREFIX, budget.scope, account) for item in _items(budget)
    )
    return spent and not is_familiar(account)


def record_failure(budget: FailureBudget, account: str) -> None:
    for item in _items(budget):
        _strategy().hit(item, KEY_PREFIX, budget.scope, account)


def seconds_until_refilled(budget: FailureBudget, account: str) -> int:
    """When every window of the budget has room again."""
    strategy = _strategy()
    resets = [
        strategy.get_window_stats(item, KEY_PREFIX, budget.scope, account).reset_time
        for item in _items(budget)
        if not strategy.test(item, KEY_PREFIX, budget.scope, account)
    ]
    return max(1, math.ceil(max(resets, default=time.time()) - time.time()))


def try_code(pending_id: str) -> bool:
    """Spend one of a pending sign-in's tries before its code is checked; False if none
    was left (counted first, so that parallel requests cannot try more)."""
    return _strategy().hit(PENDING_SIGN_IN_CODES, KEY_PREFIX, "pending-sign-in", pending_id)


def has_tries_left(pending_id: str) -> bool:
    return _strategy().test(PENDING_SIGN_IN_CODES, KEY_PREFIX, "pending-sign-in", pending_id)
