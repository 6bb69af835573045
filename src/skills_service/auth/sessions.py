"""Server-side browser sessions, in Redis when configured, else in the database.

The cookie carries only a random 256-bit id; the store keys records by its SHA-256,
so a copy of the store cannot be replayed as cookies. A record holds the person,
the person's ``session_epoch`` when it was made (bumping the epoch ends every
session of that person on every replica at once), and small per-session data
(the CSRF secret, pending sign-in steps).

Idle and absolute timeouts are enforced on load (see ``Timeouts``); the id is
rotated at sign-in, at every privilege change and at every step-up (``rotate``).

When the store cannot be reached, a request that relies on its session (it has no
bearer token) answers 503, and so does one that would store a new session; a request
with a bearer token never reads the session and goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, Request, Response, current_app
from flask.globals import request_ctx
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import CallbackDict

from skills_service import errors, pipeline, redis_client
from skills_service.database import database_sessions
from skills_service.models import WebSession
from skills_service.security import problems
from skills_service.settings import Settings

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

SECURE_COOKIE = "__Host-skills_session"
DEVELOPMENT_COOKIE = "skills_session"
LAST_SEEN_RESOLUTION = 60.0
MAX_COOKIE_LENGTH = 128
COOKIE_HEADER = "HTTP_COOKIE"
"""The WSGI environment's key for the ``Cookie`` header, checked before parsing cookies."""
STORE_KEY = "skills_service.session_store"
AUTHENTICATED_AT = "authenticated_at"
RECENT_AUTHENTICATION_SECONDS = 300
STORE_UNAVAILABLE = "Sign-in sessions cannot be read or stored right now; try again shortly."


def _store_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class SessionRecord:
    person_id: int | None = None
    epoch: int = 0
    created_at: float = field(default_factory=time.time)
    last_seen_at: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SessionRecord:
        raw = json.loads(text)
        return cls(
            person_id=raw.get("person_id"),
            epoch=int(raw.get("epoch", 0)),
            created_at=float(raw["created_at"]),
            last_seen_at=float(raw["last_seen_at"]),
            data=dict(raw.get("data", {})),
        )


class SessionStore(Protocol):
    def load(self, key: str) -> SessionRecord | None: ...
    def save(self, key: str, record: SessionRecord, ttl_seconds: int) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_for_person(self, person_id: int) -> None: ...


class RedisSessionStore:
    """Records as JSON strings with a TTL, plus a set of keys per person."""

    def __init__(self, client: Redis, prefix: str = "skills:session:") -> None:
        self.client = client
        self.prefix = prefix

    def _person_set(self, person_id: int) -> str:
        return f"{self.prefix}person:{person_id}"

    def load(self, key: str) -> SessionRecord | None:
        raw = self.client.get(self.prefix + key)
        return (
            SessionRecord.from_json(raw.decode() if isinstance(raw, bytes) else raw)
            if raw
            else None
        )

    def save(self, key: str, record: SessionRecord, ttl_seconds: int) -> None:
        pipe = self.client.pipeline()
        pipe.set(self.prefix + key, record.to_json(), ex=ttl_seconds)
        if record.person_id is not None:
            pipe.sadd(self._person_set(record.person_id), key)
            pipe.expire(self._person_set(record.person_id), ttl_seconds)
        pipe.execute()

    def delete(self, key: str) -> None:
        self.client.delete(self.prefix + key)

    def delete_for_person(self, person_id: int) -> None:
        keys = self.client.smembers(self._person_set(person_id))
        names = [self.prefix + (k.decode() if isinstance(k, bytes) else str(k)) for k in keys]
        self.client.delete(*names, self._person_set(person_id))


class DatabaseSessionStore:
    """Records in the ``web_session`` table, each call its own short transaction."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def load(self, key: str) -> SessionRecord | None:
        with self.session_factory() as session:
            row = session.get(WebSession, key)
            if row is None or row.expires_at <= datetime.now(UTC):
                return None
            return SessionRecord(
                person_id=row.person_id,
                created_at=row.created_at.timestamp(),
                last_seen_at=row.last_seen_at.timestamp(),
                **_split(row.data),
            )

    def save(self, key: str, record: SessionRecord, ttl_seconds: int) -> None:
        with self.session_factory.begin() as session:
            row = session.get(WebSession, key) or WebSession(id=key)
            row.person_id = record.person_id
            row.created_at = datetime.fromtimestamp(record.created_at, UTC)
            row.last_seen_at = datetime.fromtimestamp(record.last_seen_at, UTC)
            row.expires_at = datetime.fromtimestamp(time.time() + ttl_seconds, UTC)
            row.data = json.dumps({"epoch": record.epoch, "data": record.data})
            session.add(row)
            session.execute(delete(WebSession).where(WebSession.expires_at <= datetime.now(UTC)))

    def delete(self, key: str) -> None:
        with self.session_factory.begin() as session:
            session.execute(delete(WebSession).where(WebSession.id == key))

    def delete_for_person(self, person_id: int) -> None:
        with self.session_factory.begin() as session:
            session.execute(delete(WebSession).where(WebSession.person_id == person_id))


def _split(stored: str) -> dict[str, Any]:
    raw = json.loads(stored)
    return {"epoch": int(raw.get("epoch", 0)), "data": dict(raw.get("data", {}))}


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Flask's ``session``: a dict of per-session data plus the record around it."""

    def __init__(self, session_id: str | None, record: SessionRecord) -> None:
        def changed(_: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(record.data, changed)
        self.session_id = session_id
        self.record = record
        self.modified = False
        self.rotated_from: str | None = None
        self.ended = False
        self.saved = False
        self.unavailable = False

    @classmethod
    def unreadable(cls) -> ServerSession:
        """The session of a request whose store could not be reached; never saved."""
        web = cls(None, SessionRecord())
        web.unavailable = True
        return web

    @property
    def person_id(self) -> int | None:
        """Who the session belongs to; ``Unavailable`` when its store could not be read."""
        if self.unavailable:
            raise errors.Unavailable(STORE_UNAVAILABLE)
        return self.record.person_id


@dataclass(frozen=True)
class Timeouts:
    """The idle and absolute lifetimes of a session.

    Last-seen is renewed by a request only once it is ``renewal_seconds`` old (so
    that not every request writes to the store); it therefore lags the latest
    request by less than that, and the idle check allows exactly that lag. A person
    whose requests come less than ``idle_seconds`` apart is never signed out, and a
    session left alone ends within ``idle_seconds + renewal_seconds``.
    """

    idle_seconds: int
    absolute_seconds: int

    @property
    def renewal_seconds(self) -> float:
        return min(LAST_SEEN_RESOLUTION, self.idle_seconds / 10)

    def idle_expired(self, record: SessionRecord, now: float) -> bool:
        return now - record.last_seen_at > self.idle_seconds + self.renewal_seconds

    def stored_seconds(self, record: SessionRecord, now: float) -> int:
        """How long the store keeps a record saved at ``now``: its idle or absolute end."""
        idle_end = record.last_seen_at + self.idle_seconds + self.renewal_seconds
        absolute_end = record.created_at + self.absolute_seconds
        return int(max(1, min(idle_end, absolute_end) - now))


class ServerSessionInterface(SessionInterface):
    def __init__(
        self,
        store: SessionStore,
        timeouts: Timeouts,
        *,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.timeouts = timeouts
        self.secure = secure
        self.cookie_name = SECURE_COOKIE if secure else DEVELOPMENT_COOKIE
        self.clock = clock

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        """The cookie's session; a request without cookies gets a new one unread."""
        session_id = (
            request.cookies.get(self.cookie_name) if COOKIE_HEADER in request.environ else None
        )
        if session_id and len(session_id) <= MAX_COOKIE_LENGTH:
            try:
                record = self._live_record(session_id)
            except errors.Unavailable:
                return ServerSession.unreadable()
            if record is not None:
                return ServerSession(session_id, record)
        return ServerSession(
            None, SessionRecord(created_at=self.clock(), last_seen_at=self.clock())
        )

    def _live_record(self, session_id: str) -> SessionRecord | None:
        try:
            with _reachable_store():
                record = self.store.load(_store_key(session_id))
        except errors.Unavailable:
            raise
        except Exception:
            log.exception("unreadable session record; treating the request as signed out")
            return None
        if record is None:
            return None
        now = self.clock()
        if (
            self.timeouts.idle_expired(record, now)
            or now - record.created_at > self.timeouts.absolute_seconds
        ):
            with _reachable_store():
                self.store.delete(_store_key(session_id))
            return None
        return record

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Store the session, once more only if it changed since (see ``save_first``).

        A new session that nothing changed or ended is not stored and sets no cookie:
        the store is not touched.
        """
        if not isinstance(session, ServerSession):
            raise TypeError("the server session interface saves only its own sessions")
        if session.unavailable or (session.saved and not session.modified):
            return
        if session.session_id is None and not (session.modified or session.ended):
            return
        try:
            with _reachable_store():
                self._write(session, response)
        except errors.Unavailable:
            session.unavailable = True
            raise
        session.saved, session.modified = True, False

    def save_first(self, response: Response) -> Response:
        """The first step after the view: save the session before the other steps run.

        Flask saves it after them, once the response is logged and its headers are set;
        saved first, a store that fails turns the response into a 503 that is logged and
        carries every header. Flask's own save then writes only what changed since. The
        request's session object is read once, not through the ``session`` proxy.
        """
        try:
            self.save_session(current_app, request_ctx.session, response)
        except errors.Unavailable as error:
            return problems.from_domain_error(error)
        return response

    def _write(self, session: ServerSession, response: Response) -> None:
        if session.rotated_from is not None:
            self.store.delete(_store_key(session.rotated_from))
        if session.ended:
            if session.session_id is not None:
                self.store.delete(_store_key(session.session_id))
            self._clear_cookie(response)
            return
        now = self.clock()
        stale = now - session.record.last_seen_at >= self.timeouts.renewal_seconds
        empty = not session and session.person_id is None
        if not (session.modified or stale) or (session.session_id is None and empty):
            return
        if session.session_id is None:
            session.session_id = secrets.token_urlsafe(32)
        session.record.last_seen_at = now
        session.record.data = dict(session)
        ttl = self.timeouts.stored_seconds(session.record, now)
        self.store.save(_store_key(session.session_id), session.record, ttl)
        response.set_cookie(
            self.cookie_name,
            session.session_id,
            max_age=None,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )
        response.vary.add("Cookie")

    def _clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax"
        )


@contextmanager
def _reachable_store() -> Iterator[None]:
    """A store that is out of reach raises ``Unavailable``; any other error passes."""
    try:
        yield
    except Exception as error:
        if not problems.is_outage(error):
            raise
        log.error("session store unreachable (%s)", type(error).__name__)
        raise errors.Unavailable(STORE_UNAVAILABLE) from error


def now() -> float:
    """The session clock (the interface's, which tests can move)."""
    interface = current_app.session_interface
    return interface.clock() if isinstance(interface, ServerSessionInterface) else time.time()


def rotate(session: ServerSession, *, person_id: int | None, epoch: int) -> None:
    """A new id for a new privilege level (fixation defence); the old id dies.

    Every rotation follows an authentication (sign-in, password change, second-factor
    enrolment, step-up), so it also records when the person last proved who they are.
    """
    if session.session_id is not None:
        session.rotated_from = session.session_id
    session.session_id = None
    session.record = SessionRecord(person_id=person_id, epoch=epoch)
    data = dict(session)
    session.clear()
    session.update({key: value for key, value in data.items() if key == "next"})
    session[AUTHENTICATED_AT] = now()
    session.modified = True


def recently_authenticated(session: ServerSession) -> bool:
    """Whether the person authenticated within ``RECENT_AUTHENTICATION_SECONDS``."""
    at = session.get(AUTHENTICATED_AT)
    return isinstance(at, int | float) and now() - at <= RECENT_AUTHENTICATION_SECONDS


def cache_key(session: ServerSession) -> str | None:
    """The key of the session's principal in the cache: its store key, as the store's."""
    return None if session.session_id is None else "session:" + _store_key(session.session_id)


def end(session: ServerSession) -> None:
    session.ended = True


def init_app(app: Flask, settings: Settings) -> None:
    """Redis when configured (shared by replicas), else the database.

    After every other control has added its pipeline steps: the session's save is the
    last one added, so that it runs first on the response (see ``save_first``).
    """
    redis_connection = app.extensions.get(redis_client.EXTENSION_KEY)
    store: SessionStore = (
        RedisSessionStore(redis_connection)
        if redis_connection is not None
        else DatabaseSessionStore(database_sessions(app))
    )
    timeouts = Timeouts(
        idle_seconds=settings.session_idle_minutes * 60,
        absolute_seconds=settings.session_absolute_hours * 3600,
    )
    # `__Host-` cookies need HTTPS; plain-HTTP localhost is a development convenience.
    secure = settings.is_production
    interface = ServerSessionInterface(store, timeouts, secure=secure)
    app.session_interface = interface
    app.extensions[STORE_KEY] = store
    pipeline.after(app, interface.save_first)


def store_of(app: Flask) -> SessionStore:
    store: SessionStore = app.extensions[STORE_KEY]
    return store
