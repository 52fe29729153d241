"""A real HTTP server on loopback that records what the shop sends a worker node."""

from __future__ import annotations

import http.server
import json
import threading


class RecordingNode:
    """A real HTTP server on loopback that records what it is sent (a worker node stand-in)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.login_status = 200
        self.login_body: object = {"ok": True, "message": "token added"}
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, body: object) -> None:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                node.requests.append({"method": "GET", "path": self.path})
                self._answer(200, "node ok")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                node.requests.append({"method": "POST", "path": self.path, "body": body})
                if self.path == "/yud-ranyisi":
                    self._answer(node.login_status, node.login_body)
                else:
                    self._answer(404, {"error": "unknown"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def logins(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["path"] == "/yud-ranyisi"]
