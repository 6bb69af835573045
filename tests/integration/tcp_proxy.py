"""A TCP proxy between the app and a real server, to make that server fail on cue.

The proxy listens on 127.0.0.1 (an ephemeral port) and forwards every connection to
the upstream server until told otherwise:

- ``cut()``: the server is gone. Live connections are closed and new ones are closed
  as soon as they are accepted.
- ``stall()``: the server stops answering. Live connections are closed; new ones are
  accepted and then left without a byte, so clients wait for their own timeouts.
- ``restore()``: the server is back; new connections are forwarded again.
- ``cut_before(*markers)`` / ``cut_after(*markers)``: cut at an exact point of a
  conversation, once a client has sent each marker in turn on one connection: before
  the last one reaches the server, or after the server has acted on it but before
  its answer reaches the client (an acknowledgement lost on the way).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum

CHUNK = 65536
ACCEPT_POLL_SECONDS = 0.05


class Mode(Enum):
    FORWARD = "forward"
    CUT = "cut"
    STALL = "stall"


@dataclass(eq=False)
class _Link:
    client: socket.socket
    server: socket.socket
    cut_on_reply: bool = False

    def close(self) -> None:
        for end in (self.client, self.server):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@dataclass
class _Trigger:
    markers: tuple[bytes, ...]
    deliver_last: bool
    progress: dict[_Link, int] = field(default_factory=dict)

    def fires_on(self, link: _Link, data: bytes) -> bool:
        step = self.progress.get(link, 0)
        while step < len(self.markers) and self.markers[step] in data:
            step += 1
        self.progress[link] = step
        return step == len(self.markers)


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode = Mode.FORWARD
        self._links: set[_Link] = set()
        self._held: set[socket.socket] = set()
        self._trigger: _Trigger | None = None
        self._closing = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @classmethod
    @contextmanager
    def running(cls, upstream: tuple[str, int]) -> Iterator[TcpProxy]:
        proxy = cls(upstream)
        try:
            yield proxy
        finally:
            proxy.close()

    def cut(self) -> None:
        self._enter(Mode.CUT)

    def stall(self) -> None:
        self._enter(Mode.STALL)

    def restore(self) -> None:
        self._enter(Mode.FORWARD)

    def cut_before(self, *markers: bytes) -> None:
        self._arm(_Trigger(markers, deliver_last=False))

    def cut_after(self, *markers: bytes) -> None:
        self._arm(_Trigger(markers, deliver_last=True))

    def close(self) -> None:
        self._closing.set()
        self._acceptor.join()
        self._listener.close()
        self._enter(Mode.CUT)

    def _arm(self, trigger: _Trigger) -> None:
        with self._lock:
            self._trigger = trigger

    def _enter(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
            self._trigger = None
            doomed = list(self._links) if mode is not Mode.FORWARD else []
            self._links.difference_update(doomed)
            held, self._held = self._held, set()
        for link in doomed:
            link.close()
        for client in held:
            client.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            with self._lock:
                mode = self._mode
                if mode is Mode.STALL:
                    self._held.add(client)
            if mode is Mode.CUT:
                client.close()
            elif mode is Mode.FORWARD:
                self._open_link(client)

    def _open_link(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        link = _Link(client, server)
        with self._lock:
            self._links.add(link)
        for source, target in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(link, source, target), daemon=True).start()

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket) -> None:
        from_client = source is link.client
        while True:
            try:
                data = source.recv(CHUNK)
            except OSError:
                data = b""
            if not data:
                self._drop(link)
                return
            if not from_client and link.cut_on_reply:
                self.cut()
                return
            if from_client:
                fired = self._fired_trigger(link, data)
                if fired is not None and not fired.deliver_last:
                    self.cut()
                    return
            try:
                target.sendall(data)
            except OSError:
                self._drop(link)
                return

    def _fired_trigger(self, link: _Link, data: bytes) -> _Trigger | None:
        """The armed trigger if ``data`` completes it (it is then disarmed), else None."""
        with self._lock:
            trigger = self._trigger
            if trigger is None or not trigger.fires_on(link, data):
                return None
            self._trigger = None
            link.cut_on_reply = trigger.deliver_last
            return trigger

    def _drop(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
        link.close()
