"""The node's metrics (Prometheus text format) and health check over plain HTTP.

    GET /metrics   counters and gauges, Prometheus text exposition format 0.0.4
    GET /health    200 {"status": "ok", ...} while the node runs and commits;
                   503 {"status": "stalled" | "stopping", ...} otherwise

Guarantees: ``Metrics`` is thread-safe (one lock; every update is a few
integer operations, so the consensus thread never waits long). The server
binds only the configured address, answers every other path with 404, reads
no request body, and runs on its own daemon threads: a slow scraper cannot
delay consensus. Figures are read-only views of the node; nothing here feeds
state.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from zonechain.node.config import HostPort

METRIC_PREFIX: Final = "zonechain_"
STALL_AFTER_S: Final = 60.0
"""/health says "stalled" when no block committed for this long while peers
are connected: ten times the slowest default round, so a healthy network
never trips it."""


class MetricsError(Exception):
    """The metrics endpoint could not listen on its address."""


@dataclass(frozen=True, slots=True)
class Gauges:
    """Values read from the node at scrape time."""

    height: int
    round: int
    mempool_txs: int
    mempool_bytes: int
    peers_connected: int
    peers_total: int
    catching_up: bool
    validator: bool
    state_pruned_below_height: int = 0
    """State proofs are served from this height (0: nothing pruned)."""


class Metrics:
    """Counters the node increments; gauges come from ``gauges`` at scrape time."""

    COUNTERS: Final = (
        ("blocks_committed_total", "Blocks this node committed (consensus and block sync)."),
        ("txs_committed_total", "Transactions in blocks this node committed."),
        ("txs_submitted_total", "Transactions clients submitted to this node."),
        ("txs_rejected_total", "Submitted transactions the mempool refused."),
        ("txs_gossip_received_total", "Transactions received from peers."),
        ("txs_relayed_total", "Transactions from full-node peers passed on to all peers."),
        ("consensus_messages_received_total", "Proposals and votes received from peers."),
        ("consensus_messages_refused_total",
         "Proposals and votes dropped: the sending peer is not a current validator."),
        ("blocks_synced_total", "Committed blocks fetched from peers by block sync."),
        ("proposals_invalid_total", "Proposed blocks that failed validation."),
        ("client_requests_rejected_total", "Client requests refused as malformed or too large."),
    )

    def __init__(self, gauges: Callable[[], Gauges]) -> None:
        self._gauges = gauges
        self._lock = threading.Lock()
        self._counters = {name: 0 for name, _ in self.COUNTERS}
        self._last_commit_monotonic = time.monotonic()
        self.stopping = False

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount
            if name == "blocks_committed_total":
                self._last_commit_monotonic = time.monotonic()

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def seconds_since_commit(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_commit_monotonic

    def render(self) -> str:
        """The Prometheus text exposition of every counter and gauge."""
        gauges = self._gauges()
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        for name, help_text in self.COUNTERS:
            lines += [f"# HELP {METRIC_PREFIX}{name} {help_text}",
                      f"# TYPE {METRIC_PREFIX}{name} counter",
                      f"{METRIC_PREFIX}{name} {counters[name]}"]
        for name, help_text, value in (
            ("height", "Latest committed height.", gauges.height),
            ("consensus_round", "Current consensus round.", gauges.round),
            ("mempool_txs", "Transactions pending in the mempool.", gauges.mempool_txs),
            ("mempool_bytes", "Bytes pending in the mempool.", gauges.mempool_bytes),
            ("peers_connected", "Peers with a live connection.", gauges.peers_connected),
            ("peers", "Configured peers.", gauges.peers_total),
            ("catching_up", "1 while block sync is behind a peer.", int(gauges.catching_up)),
            ("validator", "1 if this node signs votes.", int(gauges.validator)),
            ("state_pruned_below_height",
             "State-tree versions below this height are pruned (proofs refused).",
             gauges.state_pruned_below_height),
        ):
            lines += [f"# HELP {METRIC_PREFIX}{name} {help_text}",
                      f"# TYPE {METRIC_PREFIX}{name} gauge",
                      f"{METRIC_PREFIX}{name} {value}"]
        return "\n".join(lines) + "\n"

    def health(self) -> tuple[int, dict[str, object]]:
        """(HTTP status, body): 200 while running and committing, else 503."""
        gauges = self._gauges()
        idle_s = self.seconds_since_commit()
        if self.stopping:
            state = "stopping"
        elif idle_s > STALL_AFTER_S and gauges.peers_connected > 0:
            state = "stalled"
        else:
            state = "ok"
        body: dict[str, object] = {
            "status": state, "height": gauges.height, "catching_up": gauges.catching_up,
            "peers_connected": gauges.peers_connected,
            "seconds_since_commit": int(idle_s),
        }
        return (200 if state == "ok" else 503), body


class MetricsServer:
    """Serves ``/metrics`` and ``/health`` for one ``Metrics`` on ``listen``."""

    def __init__(self, metrics: Metrics, listen: HostPort) -> None:
        self._metrics = metrics
        self._listen = listen
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        metrics = self._metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._answer(200, metrics.render(), "text/plain; version=0.0.4")
                elif self.path == "/health":
                    status, body = metrics.health()
                    self._answer(status, json.dumps(body) + "\n", "application/json")
                else:
                    self._answer(404, "not found\n", "text/plain")

            def _answer(self, status: int, text: str, content_type: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes are not node events

        try:
            server = ThreadingHTTPServer((self._listen.host, self._listen.port), Handler)
        except OSError as error:
            raise MetricsError(f"metrics cannot listen on {self._listen}: {error}") from None
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
