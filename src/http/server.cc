#include "http/server.h"

// Asio 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/log.h"
#include "http/query.h"

// GCC 12 reports a false -Wmismatched-new-delete on Asio 1.74's awaitable frames (their operator
// new/delete pair is the recycling allocator's).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sund::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using TlsStream = beast::ssl_stream<Stream>;

namespace {

// A request body buffer larger than this is released after its request instead of being kept
// for the connection's next request.
constexpr std::size_t kKeepBodyCapacity = 64 << 10;
// After an error response the server reads (and drops) what the client still sends, so that
// closing the socket does not reset the connection before the client has read the response.
constexpr std::size_t kMaxDrainBytes = 64 << 20;
constexpr std::chrono::seconds kDrainTimeout{2};
// What one read of a new request's first bytes may take in.
constexpr std::size_t kFirstRead = 16 << 10;
constexpr std::string_view kHsts = "max-age=31536000";
// Under TLS, a response body up to this size is sent in one write with its head.
constexpr std::size_t kTlsCoalesce = 16 << 10;
// Mozilla's "intermediate" TLS 1.2 suites: ECDHE key exchange, AEAD ciphers. TLS 1.3 suites are
// OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr std::string_view kBodyTooLarge = R"({"error":"request body too large"})";
constexpr std::string_view kHeaderTooLarge = R"({"error":"request header too large"})";
constexpr std::string_view kMalformed = R"({"error":"malformed request"})";
constexpr std::string_view kInternalError = R"({"error":"internal server error"})";
constexpr std::string_view kStepFailed = R"({"error":"the audit log is unavailable"})";
constexpr std::string_view kTooManyRequests = R"({"error":"too many requests"})";

// An IMF-fixdate (RFC 9110 section 5.6.7), formatted at most once a second per thread.
std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached = -1;
  thread_local char buf[40];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    int n = std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                          kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                          tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    len = n > 0 ? static_cast<std::size_t>(n) : 0;
    cached = now;
  }
  return {buf, len};
}

void AppendNumber(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// True if a header name or value could break the framing of the response.
bool HasControlBytes(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

bool IsHttpParseError(const beast::error_code& ec) {
  static const boost::system::error_category& kCategory =
      bhttp::make_error_code(bhttp::error::bad_target).category();
  return ec.category() == kCategory;
}

// Parses one request straight into a sund::http::Request (no intermediate Beast fields).
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(Request& req) : req_(req) {}

  bool expect_continue() const { return expect_continue_; }
  int version() const { return version_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    version_ = version;
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_version;  // unreachable for a request parser
  }
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    std::string_view v(value.data(), value.size());
    if (name == bhttp::field::expect && EqualsIgnoreCase(v, "100-continue")) {
      expect_continue_ = true;
    }
    req_.headers.Add(std::string(name_string.data(), name_string.size()), std::string(v));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    // The base class has already checked `length` against the body limit.
    if (length) req_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Request& req_;
  bool expect_continue_ = false;
  int version_ = 11;
};

// Fills path and query from target: origin-form "/p?q", absolute-form "http://h/p?q", "*".
void SplitTarget(Request& req) {
  std::string_view t = req.target;
  if (!t.empty() && t.front() != '/' && t != "*") {
    std::size_t scheme = t.find("://");
    if (scheme != std::string_view::npos) {
      std::size_t slash = t.find_first_of("/?", scheme + 3);
      t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    }
  }
  std::size_t q = t.find('?');
  std::string_view path = t.substr(0, q);
  std::size_t hash = path.find('#');
  if (hash != std::string_view::npos) path = path.substr(0, hash);
  if (path.empty()) path = "/";
  req.path.clear();
  AppendPercentDecoded(path, false, &req.path);
  if (q != std::string_view::npos) {
    std::string_view query = t.substr(q + 1);
    query = query.substr(0, query.find('#'));
    req.query.assign(query.data(), query.size());
  } else {
    req.query.clear();
  }
}

void ResetRequest(Request& req) {
  req.method.clear();
  req.target.clear();
  req.path.clear();
  req.query.clear();
  req.headers.Clear();
  if (req.body.capacity() > kKeepBodyCapacity) {
    std::string().swap(req.body);
  } else {
    req.body.clear();
  }
  req.secure = false;
}

// Writes the status line and header of `resp` into `out`. Returns whether the body is sent.
bool SerializeHead(const Response& resp, bool head_request, bool keep_alive, int version, bool hsts,
                   std::string& out) {
  int code = resp.status;
  if (code < 100 || code > 999) code = 500;
  bool no_body = (code >= 100 && code < 200) || code == 204 || code == 304;
  out.clear();
  out.append("HTTP/1.1 ");
  AppendNumber(out, static_cast<std::uint64_t>(code));
  out.push_back(' ');
  auto status = bhttp::int_to_status(static_cast<unsigned>(code));
  if (status != bhttp::status::unknown) {
    beast::string_view reason = bhttp::obsolete_reason(status);
    out.append(reason.data(), reason.size());
  }
  out.append("\r\n");
  bool has_server = false;
  bool has_date = false;
  bool has_hsts = false;
  for (const auto& [name, value] : resp.headers.all()) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Connection") || name.empty() || HasControlBytes(name) ||
        HasControlBytes(value)) {
      continue;
    }
    has_server = has_server || EqualsIgnoreCase(name, "Server");
    has_date = has_date || EqualsIgnoreCase(name, "Date");
    has_hsts = has_hsts || EqualsIgnoreCase(name, "Strict-Transport-Security");
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_server) out.append("Server: sund\r\n");
  if (!has_date) out.append("Date: ").append(HttpDate()).append("\r\n");
  if (hsts && !has_hsts) out.append("Strict-Transport-Security: ").append(kHsts).append("\r\n");
  if (!no_body) {
    out.append("Content-Length: ");
    AppendNumber(out, resp.body.size());
    out.append("\r\n");
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version < 11) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  return !no_body && !head_request;
}

}  // namespace

// One network thread: its io_context and the connections that live on it.
struct IoThread;

struct Connection {
  explicit Connection(IoThread& owner);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  IoThread& io;
  Stream* tcp = nullptr;  // the TCP stream (under TLS, its lowest layer); owned by the session
  bool idle = true;       // waiting for the first byte of a request
  Connection* prev = nullptr;
  Connection* next = nullptr;
};

// What a stopping server needs of a WebSocket session, whatever its transport.
class WsControl {
 public:
  virtual ~WsControl() = default;
  virtual void CloseNow() = 0;  // on the session's io_context thread
};

struct IoThread {
  asio::io_context ctx{1};
  std::optional<asio::executor_work_guard<Executor>> work;
  Connection* connections = nullptr;                 // intrusive list, touched only on this thread
  std::vector<std::weak_ptr<WsControl>> websockets;  // touched only on this thread
  std::thread thread;
};

// A WebSocket connection after the upgrade: reads on its session's coroutine, writes queued
// messages one at a time on the same io_context (one thread: no strand needed). `Next` is the
// plain TCP stream or the TLS stream.
template <typename Next>
class WsSession final : public WebSocket,
                        public WsControl,
                        public std::enable_shared_from_this<WsSession<Next>> {
 public:
  static constexpr std::size_t kMaxQueued = 1000;
  WsSession(Next stream, asio::io_context& ctx) : ws_(std::move(stream)), ctx_(ctx) {}
  using std::enable_shared_from_this<WsSession<Next>>::shared_from_this;

  bool Send(std::string text) override {
    if (closed_.load(std::memory_order_acquire)) return false;
    if (queued_.fetch_add(1, std::memory_order_acq_rel) >= kMaxQueued) {
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
    asio::post(ctx_, [self = shared_from_this(), text = std::move(text)]() mutable {
      self->out_.push_back(std::move(text));
      if (!self->writing_) {
        self->writing_ = true;
        asio::co_spawn(self->ctx_, self->WriteLoop(), asio::detached);
      }
    });
    return true;
  }
  // After the messages already queued are written.
  void Close() override {
    asio::post(ctx_, [self = shared_from_this()] {
      if (self->writing_) {
        self->close_after_writes_ = true;
      } else {
        self->CloseNow();
      }
    });
  }
  // On the io_context's thread.
  void CloseNow() override {
    closed_.store(true, std::memory_order_release);
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  asio::awaitable<bool> Accept(const Request& req) {
    bhttp::request<bhttp::empty_body> upgrade;
    upgrade.method(bhttp::verb::get);
    upgrade.target(req.target);
    upgrade.version(11);
    for (const auto& [name, value] : req.headers.all()) upgrade.insert(name, value);
    beast::get_lowest_layer(ws_).expires_never();
    // A handshake timeout, and no idle timer: a pending idle timer (Beast's suggested settings
    // ping every 150 s) would hold the io_context, and with it a stopping server, that long. A
    // reader that went away shows when its queue fills (Send returns false).
    beast::websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(30);
    timeouts.idle_timeout = beast::websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    beast::error_code ec;
    co_await ws_.async_accept(upgrade, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }
  asio::awaitable<void> ReadLoop() {
    auto self = shared_from_this();
    for (;;) {
      beast::flat_buffer buffer;
      beast::error_code ec;
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      if (on_message) on_message(beast::buffers_to_string(buffer.data()));
    }
    closed_.store(true, std::memory_order_release);
    if (on_close) on_close();
  }

 private:
  asio::awaitable<void> WriteLoop() {
    auto self = shared_from_this();
    while (!out_.empty()) {
      std::string message = std::move(out_.front());
      out_.pop_front();
      beast::error_code ec;
      ws_.text(true);
      co_await ws_.async_write(asio::buffer(message),
                               asio::redirect_error(asio::use_awaitable, ec));
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      if (ec) {
        closed_.store(true, std::memory_order_release);
        out_.clear();
        break;
      }
    }
    writing_ = false;
    if (close_after_writes_) CloseNow();
  }

  beast::websocket::stream<Next> ws_;
  asio::io_context& ctx_;
  std::deque<std::string> out_;  // on the io_context's thread
  bool writing_ = false;         // on the io_context's thread
  bool close_after_writes_ = false;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> closed_{false};
};

namespace {

// The outcome of one Response::before_send, on its way back to the connection's coroutine:
// `resume` (the coroutine's completion handler) is posted to the connection's io_context, never
// invoked in place, so `done` may be called from inside before_send, from the network thread or
// from any other thread. The first outcome counts; when every copy of `done` is gone without a
// call, the step counts as failed. The work guard keeps the network thread running meanwhile.
template <typename Resume>
class StepCompletion {
 public:
  StepCompletion(asio::io_context& ctx, Resume resume)
      : ctx_(ctx), work_(asio::make_work_guard(ctx)), resume_(std::move(resume)) {}
  ~StepCompletion() { Finish(false); }
  StepCompletion(const StepCompletion&) = delete;
  StepCompletion& operator=(const StepCompletion&) = delete;

  void Finish(bool ok) {
    if (finished_.exchange(true, std::memory_order_acq_rel)) return;
    asio::post(ctx_, [resume = std::move(resume_), ok]() mutable { std::move(resume)(ok); });
    work_.reset();
  }

 private:
  asio::io_context& ctx_;
  asio::executor_work_guard<Executor> work_;
  Resume resume_;
  std::atomic<bool> finished_{false};
};

// Takes `resp.before_send` out of `resp` and runs it on this thread; `resume(ok)` follows on
// `io`'s thread. An exception from before_send counts as false.
template <typename Resume>
void StartBeforeSend(IoThread& io, Response& resp, Resume resume) {
  auto step = std::move(resp.before_send);
  resp.before_send = nullptr;
  auto completion = std::make_shared<StepCompletion<Resume>>(io.ctx, std::move(resume));
  std::function<void(bool)> done = [completion](bool ok) { completion->Finish(ok); };
  try {
    step(std::move(done));
  } catch (const std::exception& e) {
    log::Error("http: before_send threw an exception: {}", e.what());
    completion->Finish(false);
  } catch (...) {
    log::Error("http: before_send threw a non-standard exception");
    completion->Finish(false);
  }
}

}  // namespace

Connection::Connection(IoThread& owner) : io(owner) {
  next = io.connections;
  if (next != nullptr) next->prev = this;
  io.connections = this;
}

Connection::~Connection() {
  if (prev != nullptr) {
    prev->next = next;
  } else {
    io.connections = next;
  }
  if (next != nullptr) next->prev = prev;
}

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler, std::function<bool(const Request&)> runs_inline)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        runs_inline_(std::move(runs_inline)) {
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    int io_threads = options_.io_threads > 0 ? options_.io_threads : static_cast<int>(hw);
    worker_threads_ =
        options_.worker_threads > 0 ? options_.worker_threads : static_cast<int>(std::max(2u, hw));
    for (int i = 0; i < io_threads; ++i) io_.push_back(std::make_unique<IoThread>());
    if (options_.client_rate.enabled() || options_.max_connections_per_client > 0) {
      clients_.emplace(options_.client_rate, options_.max_connections_per_client);
    }
  }

  ~Impl() { Stop(); }

  Status Start();
  void Stop() {
    RequestStop();
    Join();
  }
  void Wait();
  void InstallSignalHandlers();
  uint16_t port() const { return port_.load(std::memory_order_acquire); }
  bool secure() const { return !options_.tls_cert_file.empty() && !options_.tls_key_file.empty(); }
  ServerStats stats() const {
    ServerStats s;
    s.throttled_requests = throttled_.load(std::memory_order_relaxed);
    s.refused_connections = refused_.load(std::memory_order_relaxed);
    s.failed_handshakes = failed_handshakes_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  void RequestStop();
  void Join();
  bool OnOwnThread();

  asio::awaitable<void> AcceptLoop();
  Status LoadTls();
  asio::awaitable<void> Session(IoThread& io, Socket socket);
  // Answers the connection's requests until it closes; true when it became a WebSocket (the
  // stream has been moved into the WebSocket session).
  template <typename S>
  asio::awaitable<bool> Serve(IoThread& io, Connection& conn, S& stream, const std::string& remote,
                              bool limited);
  asio::awaitable<void> Dispatch(IoThread& io, Request& req, Response& resp);
  template <typename S>
  asio::awaitable<void> FailRead(Connection& conn, S& stream, const beast::error_code& ec);
  // Writes a response's head and body; `head` may be changed.
  template <typename S>
  static asio::awaitable<beast::error_code> WriteResponse(S& stream, std::string& head,
                                                          std::string_view body);
  Response MakeError(int status, std::string_view message, std::string_view fallback) const {
    return options_.error_response ? options_.error_response(status, message)
                                   : JsonResponse(status, fallback);
  }
  void CallHandler(Request& req, Response& resp) noexcept;

  const ServerOptions options_;
  const Handler handler_;
  const std::function<bool(const Request&)> runs_inline_;
  int worker_threads_ = 2;
  std::vector<std::unique_ptr<IoThread>> io_;
  std::optional<tcp::acceptor> acceptor_;    // on io_[0]
  std::optional<asio::signal_set> signals_;  // on io_[0]
  std::optional<asio::thread_pool> pool_;
  std::optional<asio::ssl::context> tls_;  // set by Start when TLS files are given
  std::optional<ClientLimits> clients_;    // when a per-client limit is set
  std::atomic<uint16_t> port_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> throttled_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> failed_handshakes_{0};

  std::mutex mu_;  // guards the three flags below
  std::condition_variable stop_cv_;
  bool started_ = false;
  bool stop_requested_ = false;
  bool joined_ = false;
  std::mutex join_mu_;  // serialises joining
};

Status Server::Impl::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stop_requested_) return Internal("http: server already started or stopped");
  if (secure()) SUND_RETURN_IF_ERROR(LoadTls());
  IoThread& first = *io_.front();
  beast::error_code ec;
  tcp::resolver resolver(first.ctx);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return InvalidArgument("http: cannot resolve host '" + options_.host + "': " + ec.message());
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.emplace(first.ctx);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    return Status(StatusCode::kUnavailable,
                  "http: cannot listen on " + where + ": " + ec.message());
  }
  port_.store(acceptor_->local_endpoint(ec).port(), std::memory_order_release);
  pool_.emplace(static_cast<std::size_t>(worker_threads_));
  asio::co_spawn(first.ctx, AcceptLoop(), asio::detached);
  for (auto& io : io_) {
    io->work.emplace(io->ctx.get_executor());
    io->thread = std::thread([ctx = &io->ctx] {
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          log::Error("http: network thread caught: {}", e.what());
        }
      }
    });
  }
  started_ = true;
  return Status::Ok();
}

Status Server::Impl::LoadTls() {
  tls_.emplace(asio::ssl::context::tls_server);
  SSL_CTX* ctx = tls_->native_handle();
  // TLS 1.2 and 1.3 only; no compression (CRIME), no renegotiation, fresh ECDHE keys.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    tls_.reset();
    return Internal("http: OpenSSL has none of the TLS 1.2 cipher suites");
  }
  auto fail = [this](const std::string& what, const beast::error_code& ec) {
    tls_.reset();
    return InvalidArgument("http: " + what + ": " + ec.message());
  };
  beast::error_code ec;
  tls_->use_certificate_chain_file(options_.tls_cert_file, ec);
  if (ec) return fail("cannot load the TLS certificate " + options_.tls_cert_file, ec);
  tls_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) return fail("cannot load the TLS key " + options_.tls_key_file, ec);
  if (SSL_CTX_check_private_key(ctx) != 1) {
    tls_.reset();
    return InvalidArgument("http: the TLS key " + options_.tls_key_file +
                           " does not match the certificate " + options_.tls_cert_file);
  }
  return Status::Ok();
}

void Server::Impl::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
    stopping_.store(true, std::memory_order_release);
    if (!started_) {
      stop_cv_.notify_all();
      return;
    }
  }
  stop_cv_.notify_all();
  asio::post(io_.front()->ctx, [this] {
    beast::error_code ec;
    if (acceptor_) acceptor_->close(ec);
    if (signals_) signals_->cancel(ec);
  });
  for (auto& io : io_) {
    asio::post(io->ctx, [io = io.get()] {
      // Connections waiting for a new request are closed; the others close after answering.
      for (Connection* c = io->connections; c != nullptr; c = c->next) {
        if (c->idle && c->tcp != nullptr) c->tcp->cancel();
      }
      for (auto& weak : io->websockets) {
        if (auto ws = weak.lock()) ws->CloseNow();
      }
      io->websockets.clear();
      io->work.reset();
    });
  }
}

bool Server::Impl::OnOwnThread() {
  auto self = std::this_thread::get_id();
  for (const auto& io : io_) {
    if (io->thread.get_id() == self) return true;
  }
  return pool_ && pool_->get_executor().running_in_this_thread();
}

void Server::Impl::Join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
  }
  if (OnOwnThread()) return;  // the thread calling Wait() or the destructor joins
  std::lock_guard<std::mutex> lock(join_mu_);
  if (joined_) return;
  for (auto& io : io_) {
    if (io->thread.joinable()) io->thread.join();
  }
  // Every session has ended, so nothing more reaches the pool.
  if (pool_) pool_->join();
  joined_ = true;
}

void Server::Impl::Wait() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!started_) return;
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  Join();
}

void Server::Impl::InstallSignalHandlers() {
  std::lock_guard<std::mutex> lock(mu_);
  if (signals_ || stop_requested_) return;
  signals_.emplace(io_.front()->ctx, SIGINT, SIGTERM);
  signals_->async_wait([this](const beast::error_code& ec, int signal) {
    if (ec) return;
    log::Info("http: signal {} received, stopping", signal);
    RequestStop();
  });
}

asio::awaitable<void> Server::Impl::AcceptLoop() {
  std::size_t next = 0;
  asio::steady_timer backoff(io_.front()->ctx);
  for (;;) {
    IoThread& target = *io_[next++ % io_.size()];
    beast::error_code ec;
    Socket socket =
        co_await acceptor_->async_accept(target.ctx, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_.load(std::memory_order_acquire)) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: say so and retry shortly rather than spin.
      log::Warn("http: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(target.ctx, Session(target, std::move(socket)), asio::detached);
  }
}

void Server::Impl::CallHandler(Request& req, Response& resp) noexcept {
  try {
    resp = handler_(req);
    return;
  } catch (const std::exception& e) {
    log::Error("http: handler threw an exception: {}", e.what());
  } catch (...) {
    log::Error("http: handler threw a non-standard exception");
  }
  resp = options_.error_response ? options_.error_response(500, "internal server error")
                                 : JsonResponse(500, kInternalError);
}

asio::awaitable<void> Server::Impl::Dispatch(IoThread& io, Request& req, Response& resp) {
  bool run_inline = false;
  if (runs_inline_) {
    try {
      run_inline = runs_inline_(req);
    } catch (const std::exception& e) {
      log::Error("http: runs_inline threw an exception: {}", e.what());
    } catch (...) {
      log::Error("http: runs_inline threw a non-standard exception");
    }
  }
  bool sent_ok = true;
  if (run_inline) {
    CallHandler(req, resp);
    if (!resp.before_send) co_return;
    // Wait for the durable step without holding up the network thread.
    sent_ok = co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(
        [&io, &resp](auto resume) { StartBeforeSend(io, resp, std::move(resume)); },
        asio::use_awaitable);
  } else {
    // Hop to the pool, run the handler (and start its durable step) there, and resume this
    // coroutine back on its own thread.
    sent_ok = co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(
        [this, &io, &req, &resp](auto resume) {
          asio::post(*pool_, [this, &io, &req, &resp, resume = std::move(resume),
                              work = asio::make_work_guard(io.ctx)]() mutable {
            CallHandler(req, resp);
            if (resp.before_send) {
              StartBeforeSend(io, resp, std::move(resume));
              return;
            }
            asio::post(io.ctx, [resume = std::move(resume)]() mutable { std::move(resume)(true); });
          });
        },
        asio::use_awaitable);
  }
  if (!sent_ok) {
    resp = options_.error_response ? options_.error_response(503, "the audit log is unavailable")
                                   : JsonResponse(503, kStepFailed);
    resp.before_send = nullptr;
  }
}

template <typename S>
asio::awaitable<beast::error_code> Server::Impl::WriteResponse(S& stream, std::string& head,
                                                               std::string_view body) {
  beast::error_code ec;
  if constexpr (std::is_same_v<S, Stream>) {
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
    co_await asio::async_write(stream, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else if (body.size() <= kTlsCoalesce) {
    // One TLS record for a small response.
    head.append(body);
    co_await asio::async_write(stream, asio::buffer(head),
                               asio::redirect_error(asio::use_awaitable, ec));
  } else {
    // Asio 1.74's SSL stream stalls when asio::async_write gives it a small buffer followed by a
    // large one (the head and a body over about 8 kB: the body is never sent), so each goes
    // in a write of its own (ServerTest.TlsServesHttpsWithHsts).
    co_await asio::async_write(stream, asio::buffer(head),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await asio::async_write(stream, asio::buffer(body.data(), body.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  co_return ec;
}

template <typename S>
asio::awaitable<void> Server::Impl::FailRead(Connection& conn, S& stream,
                                             const beast::error_code& ec) {
  Response resp;
  if (ec == bhttp::error::body_limit) {
    resp = MakeError(413, "request body too large", kBodyTooLarge);
  } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    resp = MakeError(431, "request header too large", kHeaderTooLarge);
  } else if (IsHttpParseError(ec) && ec != bhttp::error::end_of_stream &&
             ec != bhttp::error::partial_message) {
    resp = MakeError(400, "malformed HTTP request", kMalformed);
  } else {
    co_return;  // the peer went away, timed out, or the server is stopping
  }
  std::string head;
  SerializeHead(resp, false, false, 11, tls_.has_value(), head);
  conn.tcp->expires_after(kDrainTimeout);
  beast::error_code wec = co_await WriteResponse(stream, head, resp.body);
  if (wec) co_return;
  // Over plain TCP, half-close so that the client sees the end of the response. (TLS has no
  // half-close before its close_notify; the session sends that after this.)
  if constexpr (std::is_same_v<S, Stream>) {
    conn.tcp->socket().shutdown(tcp::socket::shutdown_send, wec);
  }
  // Drain (bounded in bytes and time) so that close() does not reset the connection while the
  // client is still sending, which could discard the response before the client reads it.
  std::array<char, 16 << 10> scratch;
  std::size_t drained = 0;
  while (drained < kMaxDrainBytes) {
    std::size_t n = co_await stream.async_read_some(asio::buffer(scratch),
                                                    asio::redirect_error(asio::use_awaitable, wec));
    if (wec) break;
    drained += n;
  }
}

asio::awaitable<void> Server::Impl::Session(IoThread& io, Socket socket) {
  Connection conn(io);
  if (stopping_.load(std::memory_order_acquire)) co_return;
  beast::error_code ec;
  std::string remote;
  bool loopback = false;
  {
    auto endpoint = socket.remote_endpoint(ec);
    if (!ec) {
      auto address = endpoint.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      }
      remote = address.to_string();
      loopback = address.is_loopback();
    }
  }
  bool limited = !loopback || options_.limit_loopback;
  bool counted = false;
  if (limited && clients_) {
    if (!clients_->Open(remote)) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      co_return;  // the socket closes here
    }
    counted = true;
  }
  struct Release {
    ClientLimits* limits;
    const std::string& remote;
    ~Release() {
      if (limits != nullptr) limits->Close(remote);
    }
  } release{counted ? &*clients_ : nullptr, remote};

  Stream stream(std::move(socket));
  if (tls_) {
    TlsStream tls(std::move(stream), *tls_);
    conn.tcp = &beast::get_lowest_layer(tls);
    conn.tcp->expires_after(options_.header_timeout);
    co_await tls.async_handshake(asio::ssl::stream_base::server,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      failed_handshakes_.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    bool upgraded = co_await Serve(io, conn, tls, remote, limited);
    if (!upgraded && conn.tcp->socket().is_open()) {
      conn.tcp->expires_after(kDrainTimeout);
      co_await tls.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
  } else {
    conn.tcp = &stream;
    bool upgraded = co_await Serve(io, conn, stream, remote, limited);
    if (!upgraded && stream.socket().is_open()) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }
}

template <typename S>
asio::awaitable<bool> Server::Impl::Serve(IoThread& io, Connection& conn, S& stream,
                                          const std::string& remote, bool limited) {
  Stream& tcp = *conn.tcp;
  beast::error_code ec;
  beast::flat_buffer buffer;
  Request req;
  Response resp;
  std::string head;
  std::optional<RequestParser> parser;
  TokenBucket connection_bucket(limited ? options_.connection_rate : RateLimit{},
                                LimitClock::now());
  for (;;) {
    ResetRequest(req);
    req.remote_address = remote;
    req.secure = tls_.has_value();
    parser.emplace(req);
    parser->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(options_.max_header_bytes, UINT32_MAX)));
    parser->body_limit(options_.max_body_bytes);
    conn.idle = buffer.size() == 0;
    if (conn.idle) {
      if (stopping_.load(std::memory_order_acquire)) break;
      // Wait (idle_timeout) for the next request's first bytes; its header then has
      // header_timeout to arrive, so a client cannot hold the connection by trickling it.
      tcp.expires_after(options_.idle_timeout);
      std::size_t n = co_await stream.async_read_some(
          buffer.prepare(kFirstRead), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      buffer.commit(n);
      conn.idle = false;
    }
    tcp.expires_after(options_.header_timeout);
    co_await bhttp::async_read_header(stream, buffer, *parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser->is_done()) {
      if (parser->expect_continue()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      tcp.expires_after(options_.idle_timeout);
      co_await bhttp::async_read(stream, buffer, *parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      co_await FailRead(conn, stream, ec);
      break;
    }

    bool keep_alive = parser->keep_alive();
    int version = parser->version();
    bool head_request = req.method == "HEAD";
    int retry_after = 0;
    auto now = LimitClock::now();
    if (limited && (!connection_bucket.Take(now, &retry_after) ||
                    (clients_ && !clients_->Take(remote, now, &retry_after)))) {
      throttled_.fetch_add(1, std::memory_order_relaxed);
      resp = MakeError(429, "too many requests: retry after the seconds in Retry-After",
                       kTooManyRequests);
      resp.headers.Set("Retry-After", std::to_string(retry_after));
    } else {
      SplitTarget(req);
      co_await Dispatch(io, req, resp);
      if (resp.websocket && req.method == "GET" &&
          EqualsIgnoreCase(req.headers.Get("Upgrade"), "websocket")) {
        // The connection becomes a WebSocket until either side closes it.
        auto ws = std::make_shared<WsSession<S>>(std::move(stream), io.ctx);
        if (co_await ws->Accept(req)) {
          io.websockets.push_back(ws);
          std::erase_if(io.websockets, [](const auto& w) { return w.expired(); });
          resp.websocket(ws);
          co_await ws->ReadLoop();
        }
        co_return true;
      }
    }

    if (stopping_.load(std::memory_order_acquire) ||
        EqualsIgnoreCase(resp.headers.Get("Connection"), "close")) {
      keep_alive = false;
    }
    bool send_body = SerializeHead(resp, head_request, keep_alive, version, tls_.has_value(), head);
    tcp.expires_after(options_.idle_timeout);
    ec = co_await WriteResponse(stream, head, send_body ? std::string_view(resp.body) : "");
    if (ec || !keep_alive) break;
    resp.headers.Clear();
    resp.body.clear();
    resp.status = 200;
    resp.before_send = nullptr;
  }
  co_return false;
}

Server::Server(ServerOptions options, Handler handler,
               std::function<bool(const Request&)> runs_inline)
    : impl_(
          std::make_unique<Impl>(std::move(options), std::move(handler), std::move(runs_inline))) {}

Server::~Server() = default;

Status Server::Start() { return impl_->Start(); }
uint16_t Server::port() const { return impl_->port(); }
bool Server::secure() const { return impl_->secure(); }
ServerStats Server::stats() const { return impl_->stats(); }
void Server::Stop() { impl_->Stop(); }
void Server::Wait() { impl_->Wait(); }
void Server::InstallSignalHandlers() { impl_->InstallSignalHandlers(); }

}  // namespace sund::http
