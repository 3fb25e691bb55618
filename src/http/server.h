// An HTTP/1.1 server (RFC 9112) on Boost.Beast/Asio with C++20 coroutines; it knows nothing of
// FHIR and does no routing: one Handler answers every request.
//
// Network threads each run their own io_context; a connection lives on one of them and handles
// its requests one after another (keep-alive, pipelined input is buffered and answered in
// order). `runs_inline(request)` decides per request whether the handler runs right there on the
// network thread (bounded work only, e.g. a point read) or on the worker pool (anything that may
// block). The server adds `Date` and `Server: sund` (unless the handler set them) and
// `Content-Length` (replacing any Content-Length, Transfer-Encoding or Connection field from the
// handler; `Connection: close` from the handler closes after the response), answers HEAD without a
// body, handles `Expect: 100-continue`, answers malformed requests with 400 and closes, bodies
// over `max_body_bytes` with 413 and closes, and turns a handler exception into a 500 (the
// exception's what() is logged, never request content). A response with `before_send`
// (message.h) is held until that step reports: the connection's coroutine waits without blocking
// its network thread, then sends the response, or a 503 from `error_response` when the step
// failed or threw. A response with `websocket` set (message.h) to a GET with `Upgrade:
// websocket` turns the connection into a WebSocket (RFC 6455, Beast): text messages, a bounded
// send queue, no idle timer; Stop closes it.
//
// Hardening (docs/security.md): with `tls_cert_file` and `tls_key_file` the server speaks only
// HTTPS (TLS 1.2 or 1.3, forward-secret AEAD cipher suites, no compression or renegotiation) and
// adds `Strict-Transport-Security` to every response. A request's header must arrive within
// `header_timeout` of its first byte (slowloris). Token buckets limit the requests of each client
// address and of each connection (429 with `Retry-After` from `error_response`), and a client
// address may hold at most `max_connections_per_client` connections (more are closed at once);
// loopback clients are exempt from these limits unless `limit_loopback` is set.
//
// Thread-safety: `handler` and `runs_inline` are called concurrently from many threads. Start,
// Stop, Wait and port may be called from any thread; Stop is idempotent and may be called from a
// signal-handling thread or from inside a handler (then it only begins the shutdown, and the
// thread that calls Wait or the destructor joins). Boost types stay in server.cc (pimpl).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/message.h"
#include "http/rate_limit.h"

namespace sund::http {

using Handler = std::function<Response(Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                        // 0 picks a free port
  int io_threads = 0;                       // 0: hardware_concurrency
  int worker_threads = 0;                   // 0: max(2, hardware_concurrency)
  std::size_t max_body_bytes = 16 << 20;    // larger bodies get 413 without calling the handler
  std::size_t max_header_bytes = 64 << 10;  // request line + fields; larger get 431
  std::chrono::seconds idle_timeout{60};    // a connection silent this long is closed
  // From the first byte of a request (or the start of a TLS handshake) to the end of its header.
  std::chrono::seconds header_timeout{10};
  // HTTPS only when both are set: PEM files (the certificate file may hold the chain). Start()
  // fails with kInvalidArgument when they cannot be loaded or do not match.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Limits per client address (requests and open connections) and per connection; off when 0.
  RateLimit client_rate;
  RateLimit connection_rate;
  std::size_t max_connections_per_client = 0;
  bool limit_loopback = false;  // apply the three limits above to 127.0.0.0/8 and ::1 too
  // Builds the response for errors the server answers itself (400 malformed, 413, 431, 500
  // after a handler exception, 503 when a response's before_send fails), so that a protocol layer
  // above (FHIR) can use its own error format. Null: a small JSON body {"error": message}.
  std::function<Response(int status, std::string_view message)> error_response;
};

// Counters since Start (for /metrics).
struct ServerStats {
  std::uint64_t throttled_requests = 0;   // answered 429 by a rate limit
  std::uint64_t refused_connections = 0;  // closed at once: the client had too many open
  std::uint64_t failed_handshakes = 0;    // TLS handshakes that failed or timed out
};

class Server {
 public:
  // `handler` produces responses; `runs_inline(req)` says whether the handler may run on the
  // network thread (bounded point reads) or must run on the worker pool (everything else).
  // A null `runs_inline` means "always the pool".
  Server(ServerOptions options, Handler handler, std::function<bool(const Request&)> runs_inline);
  ~Server();  // stops and joins
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the threads. Errors: kUnavailable when the address cannot be bound
  // (in use, not local), kInvalidArgument when the host does not resolve, kInternal when called
  // twice.
  Status Start();
  // The bound port, after a successful Start; 0 before.
  uint16_t port() const;
  // Whether the server speaks HTTPS (TLS files were given).
  bool secure() const;
  ServerStats stats() const;
  // Graceful: stops accepting, closes connections waiting for a request, lets requests being
  // read or handled finish and be answered with `Connection: close` (pipelined requests behind
  // them are dropped), then joins the threads. Idempotent. Called from a thread of this server
  // (a handler) it only begins the shutdown; Wait() or the destructor then joins.
  void Stop();
  // Blocks until Stop() was called (or SIGINT/SIGTERM after InstallSignalHandlers), then
  // finishes the shutdown as Stop does. Returns at once if the server never started.
  void Wait();
  // SIGINT/SIGTERM -> Stop(). Call at most once, before Start or after it.
  void InstallSignalHandlers();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::http
