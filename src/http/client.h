// A small blocking HTTP/1.1 client for tests and command-line tools (e.g. `sund import --url`).
//
// It keeps one keep-alive connection to host:port and reconnects when the server has closed it;
// a request that fails on a reused connection before any response byte arrives is retried once
// on a fresh connection. Interim 1xx responses are skipped. No redirects. With `tls` it speaks
// HTTPS (TLS 1.2+, the server's certificate verified against the system's authorities or
// `ca_file`, and its name against the host, which is also sent as SNI). With a
// `timeout`, connecting, sending or reading that takes longer fails (kUnavailable, the
// connection is closed); without one they wait as long as the peer.
// Thread-safety: one Client per thread (not thread-safe); distinct Clients are independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/message.h"

namespace sund::http {

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// http://host[:port][/path] or https://... (port 80 or 443 by default; the path without a
// trailing slash).
struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string path;
  bool tls = false;  // https
};
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct ClientTls {
  bool enabled = false;
  std::string ca_file;  // PEM authorities to trust; "" uses the system's
};

class Client {
 public:
  Client(std::string host, uint16_t port,
         std::chrono::milliseconds timeout = std::chrono::milliseconds(0), ClientTls tls = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request and reads its response. `Host` and `Content-Length` are added unless given.
  // Errors: kUnavailable when the server cannot be reached, the TLS handshake or the
  // certificate check fails, or the connection breaks; kInvalidArgument when the response cannot
  // be parsed.
  Result<ClientResponse> Send(std::string_view method, std::string_view target,
                              const Headers& headers = {}, std::string_view body = {});

  // Drops the current connection (the next Send opens a new one).
  void Close();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::http
