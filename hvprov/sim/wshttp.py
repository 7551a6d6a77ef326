"""HTTP plumbing of the simulated WinRM listeners (HTTP.sys's part): one threaded server per
listener, TLS per host, per-connection security state, connections the lab can cut."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import tls, wsauth


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 120  # HTTP.sys idle connection timeout
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.state = wsauth.Conn()
        version = getattr(self.connection, "version", None)
        self.state.tls = version() if callable(version) else None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no console noise
        pass

    def do_POST(self) -> None:  # noqa: N802
        listener = self.server.listener
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").lower() != listener.host.lab.path.lower():
            status, headers, payload = 404, dict[str, str](), b""
        else:
            status, headers, payload = listener.host.handle_http(
                self.state, listener, self.headers, body
            )
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        super().__init__((listener.address, listener.port), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = request
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.listener.ssl_context is not None:
                request.settimeout(10)
                conn = self.listener.ssl_context.wrap_socket(request, server_side=True)
            self.listener.track(conn, True)
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ValueError):
            pass  # client went away, TLS handshake refused, connection dropped by the lab
        finally:
            self.listener.track(conn, False)
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.close()


class Listener:
    def __init__(
        self, host: Any, scheme: str, address: str, port: int, tls_files: tls.TlsFiles | None
    ) -> None:
        self.host, self.scheme, self.address, self.port = host, scheme, address, port
        self.ssl_context = (
            tls.server_context(tls_files, host.config.tls_versions) if tls_files else None
        )
        self.cert_hash = wsauth.cert_hash(tls_files.server_cert) if tls_files else b""
        self.server: _HTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.conns: set[Any] = set()
        self.lock = threading.Lock()
        self.bind()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.port}{self.host.lab.path}"

    def bind(self) -> None:
        if self.server is None:
            self.server = _HTTPServer(self)
            self.port = self.server.server_address[1]

    def serve(self) -> None:
        self.bind()
        if self.thread is None and self.server is not None:
            self.thread = threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"wsman-{self.host.name}-{self.scheme}",
            )
            self.thread.start()

    def track(self, conn: Any, add: bool) -> None:
        with self.lock:
            (self.conns.add if add else self.conns.discard)(conn)

    def cut_connections(self) -> None:
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError, ValueError):
                c.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        server, thread = self.server, self.thread
        self.server = self.thread = None
        if server is not None:
            if thread is not None:
                server.shutdown()
            server.server_close()
        self.cut_connections()
        if thread is not None:
            thread.join(timeout=5)
