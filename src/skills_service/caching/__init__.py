"""The cache: principals' snapshots, data versions and stored responses, in one place.

The rules (docs/architecture.md, "The cache", says why):

* **Keys.** A principal's snapshot is keyed by its credential (a token's hash, a
  session's store key); a stored response by its route, the version of the data it
  shows, its query string, its path arguments and script root, and whatever else the
  route declares it varies by.
* **Versions.** Data carries versions (``versions``) bumped in the transaction that
  changes it. A snapshot records the epochs of its person and of every principal, read
  in the same statement as the person; it is served only while both are current. A
  response is stored under the version read before its data, so it can only be
  fresher than its key, never older.
* **Invalidation.** A write bumps the versions (in the database, and in Redis before
  and again after the commit; a rollback withdraws what it published) and forgets the
  snapshots of the people it changed. A missed forget is caught by the epochs, a
  missed epoch by ``SNAPSHOT_SECONDS``.
* **What may be shared.** A stored response is served to anyone the route's policy
  lets read it; a route whose representation depends on who asks declares ``varies``.
* **Failure.** When Redis cannot be reached a request reads the database as if
  nothing were cached (never a snapshot it cannot check), and a change whose versions
  cannot be published is refused (503) rather than committed unseen.

The embedded default keeps snapshots and responses in each process and reads the
versions with one statement; with ``SKILLS_REDIS_URL`` snapshots and versions are in
Redis, read in one script, and responses stay in each process under those versions.

The same read spends the request's rate-limit windows (``Window``, which
``rate_limits`` chooses): in the Redis script when the counters live in the cache's
Redis, else in ``Counters`` of their own (this process's, or
``SKILLS_RATELIMIT_STORAGE_URL``'s), so that a request's budgets never cost a round
trip of their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from flask import Flask, Response, current_app, g, request
from limits.storage import MemoryStorage, Storage, storage_from_string

from skills_service import errors, redis_client
from skills_service.caching.versions import (
    CATALOGUE,
    PERSON,
    PRINCIPALS,
    VersionKey,
    person_key,
    read_versions,
    track,
)
from skills_service.database import database_sessions
from skills_service.extensions import db
from skills_service.security import problems

if TYPE_CHECKING:
    from redis import Redis

__all__ = [
    "CATALOGUE",
    "Cache",
    "Count",
    "Counters",
    "Snapshot",
    "VersionKey",
    "Window",
    "current",
    "init_app",
    "person_key",
    "stored",
]

log = logging.getLogger(__name__)

EXTENSION_KEY = "skills_service.cache"
SNAPSHOT_SECONDS = 300
"""The longest a snapshot lives, whatever else failed."""
SNAPSHOT_ENTRIES = 10_000
RESPONSE_ENTRIES = 256
COUNTERS_RETRY_SECONDS = 5
"""How long counters that lost their storage count in this process before trying it again."""
UNPUBLISHED = "The change cannot be made visible to every replica right now; try again shortly."
_READING = "cache_reading"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A thread-safe least-recently-used map of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True)
class Snapshot:
    """What a principal is made of, as read from the database at ``person_epoch``."""

    person_id: int
    role: str
    scopes: tuple[str, ...]
    managed_team_ids: tuple[int, ...]
    person_epoch: int
    principals_epoch: int
    session_epoch: int = 0
    required_step: str | None = None
    token_id: int | None = None
    expires_at: float | None = None
    used_at: float = field(default_factory=time.time)
    made_at: float = field(default_factory=time.time)

    @property
    def epochs(self) -> dict[VersionKey, int]:
        return {person_key(self.person_id): self.person_epoch, PRINCIPALS: self.principals_epoch}

    def current(self, versions: Mapping[VersionKey, int], now: float) -> bool:
        """Its epochs are the current ones, it is young enough and its token unexpired."""
        return (
            all(versions.get(key) == epoch for key, epoch in self.epochs.items())
            and now - self.made_at < SNAPSHOT_SECONDS
            and (self.expires_at is None or now < self.expires_at)
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        raw = json.loads(text)
        raw["scopes"] = tuple(raw["scopes"])
        raw["managed_team_ids"] = tuple(raw["managed_team_ids"])
        return cls(**raw)


@dataclass(frozen=True)
class Window:
    """A fixed-window counter a request spends one from: it starts at the first hit."""

    key: str
    seconds: int


@dataclass(frozen=True)
class Count:
    """A window's hits so far, this request's included, and the seconds until it ends."""

    hits: int
    reset_in: int


@dataclass(frozen=True)
class Reading:
    """One round trip's answer: the credential's snapshot if current, the versions, and
    the count of each window spent."""

    credential: str | None
    snapshot: Snapshot | None
    versions: Mapping[VersionKey, int]
    counts: tuple[Count, ...] = ()


class Counters(Protocol):
    def spend(self, windows: Sequence[Window]) -> tuple[Count, ...]: ...


def _spend_in(storage: Storage, windows: Sequence[Window]) -> tuple[Count, ...]:
    counts = []
    for window in windows:
        hits = storage.incr(window.key, window.seconds)
        ends = storage.get_expiry(window.key)
        counts.append(Count(hits, min(window.seconds, max(0, math.ceil(ends - time.time())))))
    return tuple(counts)


class ProcessCounters:
    """Windows counted in this process (thread-safe, as ``limits``' memory storage is)."""

    def __init__(self) -> None:
        self.storage = MemoryStorage()

    def spend(self, windows: Sequence[Window]) -> tuple[Count, ...]:
        return _spend_in(self.storage, windows)


class StorageCounters:
    """Windows counted in a ``limits`` storage; in this process while it is unreachable,
    which is logged once per outage, trying it again every ``COUNTERS_RETRY_SECONDS``."""

    def __init__(self, uri: str, **options: Any) -> None:
        storage = storage_from_string(uri, **options)
        if not isinstance(storage, Storage):
            raise TypeError(f"{uri.split(':', 1)[0]}: not a synchronous rate-limit storage")
        self.storage = storage
        self.fallback = ProcessCounters()
        self._lost_at: float | None = None

    def _trying(self) -> bool:
        return self._lost_at is None or time.monotonic() - self._lost_at >= COUNTERS_RETRY_SECONDS

    def storage_in_use(self) -> Storage:
        """The storage, unless it was found out of reach in the last retry period."""
        return self.storage if self._trying() else self.fallback.storage

    def spend(self, windows: Sequence[Window]) -> tuple[Count, ...]:
        if self._trying():
            try:
                counts = _spend_in(self.storage, windows)
            except Exception as error:
                if not problems.is_outage(error):
                    raise
                if self._lost_at is None:
                    log.warning(
                        "rate-limit storage unreachable (%s); falling back to in-memory counters",
                        type(error).__name__,
                    )
                self._lost_at = time.monotonic()
            else:
                self._lost_at = None
                return counts
        return self.fallback.spend(windows)


class Backend(Protocol):
    def read(
        self, credential: str | None, wanted: Sequence[VersionKey], windows: Sequence[Window]
    ) -> Reading: ...
    def remember(self, credential: str, snapshot: Snapshot) -> None: ...
    def observed(self, versions: Mapping[VersionKey, int]) -> None: ...
    def bumped(self, versions: Mapping[VersionKey, int]) -> None: ...
    def committed(self, versions: Mapping[VersionKey, int]) -> None: ...
    def rolled_back(self, keys: Iterable[VersionKey]) -> None: ...


class EmbeddedBackend:
    """Snapshots in this process; versions read from the database, one statement."""

    def __init__(self, counters: Counters) -> None:
        self.snapshots: Bounded[str, Snapshot] = Bounded(SNAPSHOT_ENTRIES)
        self.counters = counters

    def read(
        self, credential: str | None, wanted: Sequence[VersionKey], windows: Sequence[Window]
    ) -> Reading:
        snapshot = self.snapshots.get(credential) if credential is not None else None
        keys = [*wanted, *(snapshot.epochs if snapshot is not None else ())]
        versions = read_versions(db.session, keys) if keys else {}
        if snapshot is not None and not snapshot.current(versions, time.time()):
            self.snapshots.pop(credential or "")
            snapshot = None
        return Reading(credential, snapshot, versions, self.counters.spend(windows))

    def remember(self, credential: str, snapshot: Snapshot) -> None:
        self.snapshots.put(credential, snapshot)

    def observed(self, versions: Mapping[VersionKey, int]) -> None:
        """The database is where versions are read: nothing to copy."""

    def bumped(self, versions: Mapping[VersionKey, int]) -> None:
        """The bump is the database row itself."""

    def committed(self, versions: Mapping[VersionKey, int]) -> None:
        """Other processes see the new epochs; this one's snapshots go at their next read."""

    def rolled_back(self, keys: Iterable[VersionKey]) -> None:
        """Nothing was published."""


READ_SCRIPT = """
local snapshot = redis.call('GET', KEYS[1])
local epoch = false
if snapshot then
  epoch = redis.call('GET', ARGV[1] .. cjson.decode(snapshot)['person_id'])
end
local answer = {snapshot, epoch}
local first_window = tonumber(ARGV[2])
for index = 2, first_window - 1 do
  answer[#answer + 1] = redis.call('GET', KEYS[index])
end
for index = first_window, #KEYS do
  local hits = redis.call('INCR', KEYS[index])
  local ttl = redis.call('TTL', KEYS[index])
  if ttl < 0 then
    ttl = tonumber(ARGV[index - first_window + 3])
    redis.call('EXPIRE', KEYS[index], ttl)
  end
  answer[#answer + 1] = hits
  answer[#answer + 1] = ttl
end
return answer
"""
"""The snapshot, its person's epoch, each wanted version (``principals`` first), then
each window's hits and seconds left: ``INCR``, and ``EXPIRE`` for its length when it
has none (its first hit). ``ARGV``: the person epochs' prefix, the index of the first
window's key, each window's length."""

RAISE_SCRIPT = """
for index = 1, #KEYS do
  local known = redis.call('GET', KEYS[index])
  if not known or tonumber(known) < tonumber(ARGV[index]) then
    redis.call('SET', KEYS[index], ARGV[index])
  end
end
return #KEYS
"""
"""Each version up to (never down to) the given value: versions only move forward."""


class RedisBackend:
    """Snapshots and versions in Redis (shared by replicas), read in one script, which
    spends the windows too unless they are counted elsewhere (``counters``)."""

    def __init__(
        self, client: Redis, counters: Counters | None = None, prefix: str = "skills:cache:"
    ) -> None:
        self.client = client
        self.counters = counters
        self.fallback = ProcessCounters()
        self.prefix = prefix
        self._read = client.register_script(READ_SCRIPT)
        self._raise = client.register_script(RAISE_SCRIPT)
        self._reachable = True

    def _version(self, key: VersionKey) -> str:
        return f"{self.prefix}v:{key[0]}:{key[1]}"

    def _snapshot(self, credential: str) -> str:
        return f"{self.prefix}principal:{credential}"

    def _snapshots_of(self, person_id: int) -> str:
        return f"{self.prefix}principals-of:{person_id}"

    def _outage(self, error: Exception, doing: str) -> None:
        if not problems.is_outage(error):
            raise error
        if self._reachable:
            log.error("cache unreachable while %s (%s); reading the database", doing, error)
        self._reachable = False

    def read(
        self, credential: str | None, wanted: Sequence[VersionKey], windows: Sequence[Window]
    ) -> Reading:
        keys = [PRINCIPALS, *(key for key in wanted if key != PRINCIPALS)]
        snapshot_key = self._snapshot(credential) if credential is not None else self.prefix
        counted_here = () if self.counters is not None else windows
        try:
            answer = self._read(
                keys=[
                    snapshot_key,
                    *(self._version(key) for key in keys),
                    *(window.key for window in counted_here),
                ],
                args=[
                    self._version((PERSON, 0))[:-1],
                    len(keys) + 2,
                    *(window.seconds for window in counted_here),
                ],
            )
        except Exception as error:
            self._outage(error, "reading (rate limits counted in this process meanwhile)")
            return Reading(credential, None, {}, self.fallback.spend(windows))
        self._reachable = True
        raw_snapshot, raw_epoch, *raw_versions = answer[: len(keys) + 2]
        raw_counts = answer[len(keys) + 2 :]
        counts = (
            self.counters.spend(windows)
            if self.counters is not None
            else tuple(
                Count(int(hits), int(ttl))
                for hits, ttl in zip(raw_counts[::2], raw_counts[1::2], strict=True)
            )
        )
        versions = {key: int(raw) for key, raw in zip(keys, raw_versions, strict=True) if raw}
        snapshot = Snapshot.from_json(raw_snapshot) if raw_snapshot else None
        if snapshot is not None:
            if raw_epoch is not None:
                versions[person_key(snapshot.person_id)] = int(raw_epoch)
            if not snapshot.current(versions, time.time()):
                snapshot = None
        return Reading(credential, snapshot, versions, counts)

    def _raise_to(self, versions: Mapping[VersionKey, int], pipe: Any = None) -> None:
        ordered = sorted(versions.items())
        self._raise(
            keys=[self._version(key) for key, _ in ordered],
            args=[version for _, version in ordered],
            client=pipe,
        )

    def remember(self, credential: str, snapshot: Snapshot) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            self._raise_to(snapshot.epochs, pipe)
            pipe.set(self._snapshot(credential), snapshot.to_json(), ex=SNAPSHOT_SECONDS)
            pipe.sadd(self._snapshots_of(snapshot.person_id), credential)
            pipe.expire(self._snapshots_of(snapshot.person_id), SNAPSHOT_SECONDS)
            pipe.execute()
        except Exception as error:
            self._outage(error, "storing a snapshot")

    def observed(self, versions: Mapping[VersionKey, int]) -> None:
        try:
            self._raise_to(versions)
        except Exception as error:
            self._outage(error, "copying versions")

    def bumped(self, versions: Mapping[VersionKey, int]) -> None:
        try:
            self._raise_to(versions)
        except Exception as error:
            if not problems.is_outage(error):
                raise
            log.error("cache unreachable; a change is refused (%s)", type(error).__name__)
            raise errors.Unavailable(UNPUBLISHED) from error

    def committed(self, versions: Mapping[VersionKey, int]) -> None:
        people = [subject for kind, subject in versions if kind == PERSON]
        try:
            pipe = self.client.pipeline(transaction=False)
            self._raise_to(versions, pipe)
            for person_id in people:
                pipe.smembers(self._snapshots_of(person_id))
            credentials = [credential for members in pipe.execute()[1:] for credential in members]
            names = [self._snapshot(credential.decode()) for credential in credentials]
            names += [self._snapshots_of(person_id) for person_id in people]
            if names:
                self.client.delete(*names)
        except Exception as error:
            self._outage(error, "publishing a change")

    def rolled_back(self, keys: Iterable[VersionKey]) -> None:
        try:
            self.client.delete(*(self._version(key) for key in keys))
        except Exception as error:
            self._outage(error, "withdrawing a change")


@dataclass(frozen=True)
class StoredResponse:
    body: bytes
    content_type: str
    etag: str


Varies = Callable[[], Hashable]


@dataclass
class Cache:
    """The app's cache: its backend and the responses this process stored."""

    backend: Backend
    responses: Bounded[Hashable, StoredResponse] = field(
        default_factory=lambda: Bounded(RESPONSE_ENTRIES)
    )

    def read(self, credential: str | None, windows: Sequence[Window] = ()) -> Reading:
        """The request's one read: the credential's snapshot, the route's versions and
        its windows spent. Asked again for the same credential (and nothing to spend),
        it is the request's first read."""
        known: Reading | None = g.get(_READING)
        if known is not None and known.credential == credential and not windows:
            return known
        reading = self.backend.read(credential, served_versions(), windows)
        g.setdefault(_READING, reading)
        return reading

    def remember(self, credential: str, snapshot: Snapshot) -> None:
        self.backend.remember(credential, snapshot)


def current(app: Flask | None = None) -> Cache:
    cache: Cache = (app or current_app).extensions[EXTENSION_KEY]
    return cache


def served_versions() -> tuple[VersionKey, ...]:
    """The versions the request's route serves from (``stored``), if any."""
    view = current_app.view_functions.get(request.endpoint or "")
    served: tuple[VersionKey, ...] = getattr(view, "served_versions", ())
    return served


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _answer(stored: StoredResponse) -> Response:
    if _matches(request.headers.get("If-None-Match"), stored.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(stored.body, content_type=stored.content_type)
    response.headers["ETag"] = stored.etag
    return response


Served = VersionKey | Callable[[], VersionKey]
"""The version a stored response is kept under: fixed, or the request's (its person's)."""


def _representation_tag(version: int, body: bytes) -> str:
    """An ``ETag`` for a response without one: its data version and a digest of its
    bytes, so that two representations under one version never share a tag."""
    return f'"{version}.{hashlib.sha256(body).hexdigest()[:16]}"'


def stored(version: Served, *, varies: Varies | None = None) -> Callable[[Any], Any]:
    """A GET view served from stored bytes while ``version`` and its request are unchanged.

    Put it between ``route`` and the view's own decorators: a stored answer skips
    argument parsing and serialisation. The response's ``ETag`` is the view's own
    (a resource's version), else its data version's with a digest of its bytes;
    ``If-None-Match`` on it is 304. Only 200 answers are stored, under the version
    read before the view's data.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def serve(*args: Any, **kwargs: Any) -> Response:
            cache = current(None)
            reading: Reading | None = g.get(_READING)
            if reading is None:
                reading = cache.read(None)
            served = version() if callable(version) else version
            key = (
                request.endpoint,
                request.script_root,
                request.query_string,
                tuple(sorted(kwargs.items())),
                varies() if varies is not None else None,
            )
            known = reading.versions.get(served)
            hit = cache.responses.get((known, *key)) if known is not None else None
            if hit is not None:
                return _answer(hit)
            latest = read_versions(db.session, [served])[served]
            response: Response = current_app.make_response(view(*args, **kwargs))
            if response.status_code != 200:
                return response
            body = response.get_data()
            entry = StoredResponse(
                body=body,
                content_type=response.headers["Content-Type"],
                etag=response.headers.get("ETag") or _representation_tag(latest, body),
            )
            cache.responses.put((latest, *key), entry)
            cache.backend.observed({served: latest})
            return _answer(entry)

        serve.served_versions = () if callable(version) else (version,)  # type: ignore[attr-defined]
        return serve

    return decorate


def init_app(app: Flask, counters: Counters | None) -> None:
    """Redis when configured (shared by replicas), else this process and the database.

    ``counters`` count the rate-limit windows when they are not in the cache's Redis.
    """
    redis_connection = app.extensions.get(redis_client.EXTENSION_KEY)
    backend: Backend = (
        RedisBackend(redis_connection, counters)
        if redis_connection is not None
        else EmbeddedBackend(counters or ProcessCounters())
    )
    track(database_sessions(app), backend)
    app.extensions[EXTENSION_KEY] = Cache(backend)
