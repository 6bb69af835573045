"""The database extension: one engine per app, one session per app context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry

EXTENSION_KEY = "skills_service.database"
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: pre-ping for PostgreSQL, FK checks for SQLite.

    A pooled PostgreSQL connection is pinged before use, so connections that died with
    the server are replaced once it is back. A new connection gives up after
    ``CONNECT_TIMEOUT_SECONDS`` unless the URL sets ``connect_timeout``: psycopg would
    wait 130 s for a server that does not answer, holding the request all that time.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = (
        {}
        if "connect_timeout" in make_url(url).query
        else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True)
class _Bound:
    engine: Engine
    session_factory: sessionmaker[Session]


def database_sessions(app: Flask) -> sessionmaker[Session]:
    """The app's session factory, for stores that run their own short transactions."""
    bound: _Bound = app.extensions[EXTENSION_KEY]
    return bound.session_factory


class Database:
    """Binds an engine to each app and hands out a session per app context."""

    def init_app(self, app: Flask, url: str) -> None:
        engine = make_engine(url)
        app.extensions[EXTENSION_KEY] = _Bound(
            engine, sessionmaker(bind=engine, expire_on_commit=False)
        )
        app.teardown_appcontext(self._close_session)

    @staticmethod
    def engine(app: Flask | None = None) -> Engine:
        bound: _Bound = (app or current_app).extensions[EXTENSION_KEY]
        return bound.engine

    @property
    def session(self) -> Session:
        """The app context's session, on one connection held until the context ends.

        A request commits its principal's lookup before the view starts its own
        transaction; on a connection of its own the session checks out (and pings)
        once per request instead of once per transaction.
        """
        if "db_session" not in g:
            bound: _Bound = current_app.extensions[EXTENSION_KEY]
            g.db_connection = bound.engine.connect()
            g.db_session = bound.session_factory(bind=g.db_connection)
        session: Session = g.db_session
        return session

    @staticmethod
    def session_in_use() -> Session | None:
        """The app context's session if something has used it, without connecting."""
        session: Session | None = g.get("db_session")
        return session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        connection: Connection | None = g.pop("db_connection", None)
        if session is not None:
            session.close()
        if connection is not None:
            connection.close()
