#include "http/client.h"

#include <charconv>

// Asio 1.74's headers use std::exchange without including <utility>.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <utility>

namespace sund::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr std::uint64_t kMaxResponseBody = std::uint64_t{1} << 32;
constexpr std::uint32_t kMaxResponseHeader = 1 << 20;

Status Unavailable(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}
}  // namespace

class Client::Impl {
 public:
  Impl(std::string host, uint16_t port, std::chrono::milliseconds timeout, ClientTls tls)
      : host_(std::move(host)), port_(port), timeout_(timeout), tls_options_(std::move(tls)) {}

  Result<ClientResponse> Send(std::string_view method, std::string_view target,
                              const Headers& headers, std::string_view body) {
    bool reused = socket_.is_open();
    bool retry = false;
    Result<ClientResponse> r = SendOnce(method, target, headers, body, &retry);
    if (!r.ok() && reused && retry) {
      Close();
      r = SendOnce(method, target, headers, body, &retry);
    }
    return r;
  }

  void Close() {
    beast::error_code ec;
    tls_.reset();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    buffer_.clear();
  }

 private:
  // Starts an operation (`start(handler)`, the handler taking (error_code, size_t)) and runs
  // the io_context until it completes or the timeout passes; then the socket is closed and the
  // result is timed_out.
  template <typename Start>
  beast::error_code Run(Start start) {
    beast::error_code result;
    bool done = false;
    start([&result, &done](beast::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    ctx_.restart();
    if (timeout_.count() > 0) {
      ctx_.run_for(timeout_);
    } else {
      ctx_.run();
    }
    if (!done) {
      beast::error_code ignored;
      socket_.close(ignored);  // the operation completes with operation_aborted
      ctx_.restart();
      ctx_.run();
      return asio::error::timed_out;
    }
    return result;
  }

  Status Connect() {
    beast::error_code ec;
    tcp::resolver resolver(ctx_);
    auto results = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) return Unavailable("http client: cannot resolve " + host_ + ": " + ec.message());
    ec = Run([&](auto done) {
      asio::async_connect(
          socket_, results,
          [done](beast::error_code e, const tcp::endpoint&) mutable { done(e, 0); });
    });
    if (ec) {
      return Unavailable("http client: cannot connect to " + host_ + ":" + std::to_string(port_) +
                         ": " + ec.message());
    }
    socket_.set_option(tcp::no_delay(true), ec);
    buffer_.clear();
    if (tls_options_.enabled) return Handshake();
    return Status::Ok();
  }

  Status Handshake() {
    beast::error_code ec;
    if (!tls_context_) {
      tls_context_.emplace(asio::ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(tls_context_->native_handle(), TLS1_2_VERSION);
      if (tls_options_.ca_file.empty()) {
        tls_context_->set_default_verify_paths(ec);
      } else {
        tls_context_->load_verify_file(tls_options_.ca_file, ec);
      }
      if (ec) {
        tls_context_.reset();
        return Unavailable("http client: cannot load the TLS authorities: " + ec.message());
      }
      tls_context_->set_verify_mode(asio::ssl::verify_peer);
    }
    tls_.emplace(socket_, *tls_context_);
    tls_->set_verify_callback(asio::ssl::host_name_verification(host_));
    SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());
    ec = Run([&](auto done) {
      tls_->async_handshake(asio::ssl::stream_base::client,
                            [done](beast::error_code e) mutable { done(e, 0); });
    });
    if (ec) {
      Close();
      return Unavailable("http client: TLS handshake with " + host_ + " failed: " + ec.message());
    }
    return Status::Ok();
  }

  // Runs `op(stream)` on the TLS stream when there is one, else on the socket.
  template <typename Op>
  beast::error_code OnStream(Op op) {
    if (tls_) return Run([&](auto done) { op(*tls_, done); });
    return Run([&](auto done) { op(socket_, done); });
  }

  // `*retry` is set when the connection broke before any byte of the response arrived.
  Result<ClientResponse> SendOnce(std::string_view method, std::string_view target,
                                  const Headers& headers, std::string_view body, bool* retry) {
    *retry = false;
    if (!socket_.is_open()) SUND_RETURN_IF_ERROR(Connect());
    bhttp::request<bhttp::string_body> req;
    req.version(11);
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    for (const auto& [name, value] : headers.all()) req.insert(name, value);
    if (!headers.Has("Host")) req.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
    req.body().assign(body.data(), body.size());
    if (!headers.Has("Content-Length") && !headers.Has("Transfer-Encoding")) {
      if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.content_length(body.size());
      }
    }
    beast::error_code ec =
        OnStream([&](auto& stream, auto done) { bhttp::async_write(stream, req, done); });
    if (ec) {
      *retry = true;
      Close();
      return Unavailable("http client: write failed: " + ec.message());
    }
    for (;;) {
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      parser.header_limit(kMaxResponseHeader);
      parser.skip(method == "HEAD");
      std::size_t before = buffer_.size();
      ec = OnStream(
          [&](auto& stream, auto done) { bhttp::async_read(stream, buffer_, parser, done); });
      if (ec) {
        *retry = before == 0 && !parser.got_some() &&
                 (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                  ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
        Close();
        const auto& http_category = bhttp::make_error_code(bhttp::error::bad_target).category();
        bool parse_error = ec != bhttp::error::end_of_stream &&
                           ec != bhttp::error::partial_message && ec.category() == http_category;
        if (parse_error) return InvalidArgument("http client: bad response: " + ec.message());
        return Unavailable("http client: read failed: " + ec.message());
      }
      auto& msg = parser.get();
      int status = static_cast<int>(msg.result_int());
      if (status >= 100 && status < 200 && status != 101) continue;  // interim response
      ClientResponse out;
      out.status = status;
      for (const auto& field : msg) {
        out.headers.Add(std::string(field.name_string()), std::string(field.value()));
      }
      out.body = std::move(msg.body());
      if (!parser.keep_alive()) Close();
      return out;
    }
  }

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  ClientTls tls_options_;
  asio::io_context ctx_{1};
  tcp::socket socket_{ctx_};
  std::optional<asio::ssl::context> tls_context_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;  // over socket_, after a handshake
  beast::flat_buffer buffer_;
};

Client::Client(std::string host, uint16_t port, std::chrono::milliseconds timeout, ClientTls tls)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout, std::move(tls))) {}
Client::~Client() = default;

Result<ClientResponse> Client::Send(std::string_view method, std::string_view target,
                                    const Headers& headers, std::string_view body) {
  return impl_->Send(method, target, headers, body);
}

void Client::Close() { impl_->Close(); }

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl out;
  if (url.starts_with("https://")) {
    out.tls = true;
    out.port = 443;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return InvalidArgument("the URL must start with http:// or https://");
  }
  std::string_view authority = url.substr(0, url.find('/'));
  if (authority.size() < url.size()) out.path = std::string(url.substr(authority.size()));
  while (out.path.ends_with('/')) out.path.pop_back();
  auto colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      return InvalidArgument("the URL's port must be 1-65535");
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  if (out.host.empty()) return InvalidArgument("the URL names no host");
  return out;
}

}  // namespace sund::http
