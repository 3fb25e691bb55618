#include "http/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/x509.h"
#include "http/client.h"

namespace sund::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A plain POSIX socket for sending bytes a well-behaved client would not send. Reads give up
// after 10 s so that a server bug fails the test instead of hanging it.
class RawConnection {
 public:
  struct RawResponse {
    int status = 0;
    std::string head;
    std::string body;
  };

  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }

  bool connected() const { return connected_; }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

  bool Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response; the body length comes from Content-Length (none for HEAD).
  std::optional<RawResponse> ReadResponse(bool head_request = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    r.head = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    std::size_t length = 0;
    std::size_t cl = r.head.find("\r\nContent-Length: ");
    if (cl != std::string::npos && !head_request) {
      length = std::stoul(r.head.substr(cl + 18));
    }
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True if the peer closes the connection with nothing more to read.
  bool ReadsEof() {
    if (!buf_.empty()) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

  std::string ReadToEof() {
    while (Fill()) {
    }
    return std::move(buf_);
  }

  // Reads up to and including `end` (everything read when the connection ends first).
  std::string ReadToEofOr(std::string_view end) {
    std::size_t at;
    while ((at = buf_.find(end)) == std::string::npos) {
      if (!Fill()) return std::move(buf_);
    }
    std::string out = buf_.substr(0, at + end.size());
    buf_.erase(0, at + end.size());
    return out;
  }

  // Exactly `n` bytes (fewer when the connection ends first).
  std::string ReadBytes(std::size_t n) {
    while (buf_.size() < n) {
      if (!Fill()) break;
    }
    std::string out = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, out.size());
    return out;
  }

 private:
  bool Fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

// "method|path|query|x-test|body", so a test can see what the handler saw.
Response Echo(Request& req) {
  Response r;
  r.headers.Add("Content-Type", "text/plain");
  r.body = req.method + "|" + req.path + "|" + req.query + "|" +
           std::string(req.headers.Get("x-test")) + "|" + req.body;
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Handler handler, std::function<bool(const Request&)> runs_inline = nullptr,
                   ServerOptions options = {}) {
    options.port = 0;
    if (options.io_threads == 0) options.io_threads = 2;
    if (options.worker_threads == 0) options.worker_threads = 2;
    server_ =
        std::make_unique<Server>(std::move(options), std::move(handler), std::move(runs_inline));
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<Client>("127.0.0.1", server_->port());
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

// Verifies: REQ-HTTP-005, REQ-HTTP-006
TEST_F(ServerTest, GetEchoesPathQueryAndHeaders) {
  StartServer(Echo);
  Headers h;
  h.Add("X-Test", "hello");
  auto r = client_->Send("GET", "/fhir/Pa%20tient?name=J%C3%B8rgen+H&_count=2", h);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET|/fhir/Pa tient|name=J%C3%B8rgen+H&_count=2|hello|");
  EXPECT_EQ(r->headers.Get("Server"), "sund");
  EXPECT_THAT(std::string(r->headers.Get("Date")), HasSubstr(" GMT"));
  EXPECT_EQ(r->headers.Get("Content-Length"), std::to_string(r->body.size()));
  EXPECT_EQ(r->headers.Get("Content-Type"), "text/plain");
}

// Verifies: REQ-HTTP-001, REQ-HTTP-005
TEST_F(ServerTest, PassesRemoteAddressAndRepeatedHeaders) {
  StartServer([](Request& req) {
    Response r;
    std::string seen;
    for (const auto& [name, value] : req.headers.all()) {
      if (EqualsIgnoreCase(name, "X-Multi")) seen += value + ";";
    }
    r.body = req.remote_address + " " + seen;
    r.headers.Add("Link", "<a>");
    r.headers.Add("Link", "<b>");
    return r;
  });
  Headers h;
  h.Add("X-Multi", "1");
  h.Add("x-multi", "2");
  auto r = client_->Send("GET", "/", h);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "127.0.0.1 1;2;");
  int links = 0;
  for (const auto& [name, value] : r->headers.all()) links += name == "Link";
  EXPECT_EQ(links, 2);
}

// Verifies: REQ-HTTP-005
TEST_F(ServerTest, PostBodyRoundTrip) {
  StartServer(Echo);
  std::string body(300000, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  auto r = client_->Send("POST", "/upload", {}, body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|/upload|||" + body);
}

// Verifies: REQ-HTTP-005
TEST_F(ServerTest, ChunkedRequestBody) {
  StartServer(Echo);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|/c|||hello world");
}

// Verifies: REQ-HTTP-007
TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer(Echo);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 200; ++i) {
    std::string path = "/r" + std::to_string(i);
    ASSERT_TRUE(c.Write("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET|" + path + "|||");
    EXPECT_THAT(r->head, Not(HasSubstr("Connection: close")));
  }
  // The client's own connection is reused as well.
  for (int i = 0; i < 200; ++i) {
    auto r = client_->Send("GET", "/k");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

// Verifies: REQ-HTTP-007
TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer(Echo, [](const Request& req) { return req.path != "/pool"; });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /pool HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (const char* want : {"GET|/a|||", "GET|/pool|||", "POST|/b|||xyz", "GET|/c|||"}) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, want);
  }
  EXPECT_TRUE(c.ReadsEof());
}

// Verifies: REQ-HTTP-008
TEST_F(ServerTest, HeadSendsLengthWithoutBody) {
  StartServer([](Request& req) {
    Response r;
    r.body = "0123456789";
    return r;
  });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_THAT(head->head, HasSubstr("Content-Length: 10\r\n"));
  auto get = c.ReadResponse();
  ASSERT_TRUE(get);  // would be garbled had the HEAD response carried a body
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "0123456789");

  auto r = client_->Send("HEAD", "/x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->headers.Get("Content-Length"), "10");
}

// Verifies: REQ-HTTP-006, REQ-HTTP-008
TEST_F(ServerTest, NoContentHasNoLength) {
  StartServer([](Request&) {
    Response r;
    r.status = 204;
    r.body = "ignored";
    return r;
  });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("DELETE /x HTTP/1.1\r\nHost: x\r\n\r\nDELETE /y HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 2; ++i) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_THAT(r->head, Not(HasSubstr("Content-Length")));
    EXPECT_EQ(r->body, "");
  }
}

// Verifies: REQ-HTTP-009
TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer(Echo);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  auto interim = c.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  c.Write("data");
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "PUT|/p|||data");
}

// Verifies: REQ-HTTP-010
TEST_F(ServerTest, OversizedBodyGets413WithoutCallingHandler) {
  std::atomic<int> calls{0};
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(
      [&](Request& req) {
        ++calls;
        return Echo(req);
      },
      nullptr, options);
  auto r = client_->Send("POST", "/big", {}, std::string(1 << 20, 'x'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"error":"request body too large"})");
  EXPECT_EQ(r->headers.Get("Connection"), "close");

  // A body of exactly the limit is fine, and so is the next request on a new connection.
  r = client_->Send("POST", "/ok", {}, std::string(1024, 'y'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(calls.load(), 1);

  // Chunked bodies are counted too, and Expect: 100-continue gets no 100 when too large.
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
          std::string(0x800, 'z') + "\r\n0\r\n\r\n");
  auto chunked = c.ReadResponse();
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 413);

  RawConnection e(server_->port());
  ASSERT_TRUE(e.connected());
  e.Write("PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
  auto refused = e.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(calls.load(), 1);
}

// Verifies: REQ-HTTP-011
TEST_F(ServerTest, GarbageGets400AndConnectionClosed) {
  std::atomic<int> calls{0};
  StartServer([&](Request& req) {
    ++calls;
    return Echo(req);
  });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write(std::string("\x16\x03\x01\x02\x00garbage \x01\x02\r\n\r\n", 20));
  std::string all = c.ReadToEof();
  EXPECT_THAT(all, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(all, HasSubstr("Connection: close\r\n"));
  EXPECT_EQ(calls.load(), 0);

  RawConnection bad_version(server_->port());
  ASSERT_TRUE(bad_version.connected());
  bad_version.Write("GET / HTTP/9.9\r\nHost: x\r\n\r\n");
  EXPECT_THAT(bad_version.ReadToEof(), StartsWith("HTTP/1.1 400 "));

  // The server still serves.
  auto r = client_->Send("GET", "/after");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
}

// Verifies: REQ-HTTP-012
TEST_F(ServerTest, HugeHeaderGets431) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  StartServer(Echo, nullptr, options);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_THAT(c.ReadToEof(), StartsWith("HTTP/1.1 431 "));
}

// Verifies: REQ-HTTP-014
TEST_F(ServerTest, IdleConnectionIsClosedAfterTimeout) {
  ServerOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  StartServer(Echo, nullptr, options);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(c.ReadResponse());
  EXPECT_TRUE(c.ReadsEof());  // the server closes the silent connection (within ~1 s)
}

// Verifies: REQ-HTTP-013
TEST_F(ServerTest, HandlerExceptionGives500AndServerKeepsServing) {
  StartServer(
      [](Request& req) -> Response {
        if (req.path == "/throw") throw std::runtime_error("boom");
        if (req.path == "/throw-int") throw 42;
        return Echo(req);
      },
      [](const Request& req) { return req.query == "inline"; });
  for (const char* target : {"/throw", "/throw-int", "/throw?inline", "/throw-int?inline"}) {
    auto r = client_->Send("GET", target);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 500) << target;
    EXPECT_THAT(r->body, Not(HasSubstr("boom")));
  }
  auto r = client_->Send("GET", "/fine");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
}

// Verifies: REQ-HTTP-016
TEST_F(ServerTest, InlineAndPoolHandlersBothWork) {
  std::mutex mu;
  std::set<std::thread::id> inline_threads;
  std::set<std::thread::id> pool_threads;
  StartServer(
      [&](Request& req) {
        std::lock_guard<std::mutex> lock(mu);
        (req.path == "/inline" ? inline_threads : pool_threads).insert(std::this_thread::get_id());
        return Echo(req);
      },
      [](const Request& req) { return req.path == "/inline"; });
  for (int i = 0; i < 50; ++i) {
    for (const char* path : {"/inline", "/pool"}) {
      Client client("127.0.0.1", server_->port());  // new connections spread over io threads
      auto r = client.Send("GET", path);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->body, std::string("GET|") + path + "|||");
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_FALSE(inline_threads.empty());
  EXPECT_FALSE(pool_threads.empty());
  for (auto id : pool_threads) EXPECT_EQ(inline_threads.count(id), 0u);
}

// Verifies: REQ-HTTP-017
TEST_F(ServerTest, ConcurrentClientsAllSucceed) {
  StartServer(Echo, [](const Request& req) { return req.query.empty(); });
  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client("127.0.0.1", server_->port());
      for (int i = 0; i < kRequests; ++i) {
        std::string body = std::to_string(t) + ":" + std::to_string(i);
        std::string target = i % 2 ? "/t?pool" : "/t";
        auto r = client.Send("POST", target, {}, body);
        if (r.ok() && r->status == 200 &&
            r->body == "POST|/t|" + std::string(i % 2 ? "pool" : "") + "||" + body) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

// --- Response::before_send: the durable step before a response goes out. ---

// Threads a test starts to call `done` later; joined when the test ends.
class Later {
 public:
  ~Later() {
    for (auto& t : threads_) t.join();
  }
  void After(std::chrono::milliseconds delay, std::function<void(bool)> done, bool ok) {
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([delay, done = std::move(done), ok] {
      std::this_thread::sleep_for(delay);
      done(ok);
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// Verifies: REQ-HTTP-018
TEST_F(ServerTest, BeforeSendRunsOnceAfterTheHandlerOnItsThread) {
  std::mutex mu;
  std::vector<std::string> events;
  StartServer(
      [&](Request& req) {
        Response r = Echo(req);
        std::thread::id handler_thread = std::this_thread::get_id();
        r.before_send = [&, handler_thread, path = req.path](std::function<void(bool)> done) {
          std::lock_guard<std::mutex> l(mu);
          events.push_back(
              "before_send " + path +
              (std::this_thread::get_id() == handler_thread ? " on handler thread" : " elsewhere"));
          done(true);  // synchronously, from inside before_send
        };
        std::lock_guard<std::mutex> l(mu);
        events.push_back("handler " + req.path);
        return r;
      },
      [](const Request& req) { return req.path == "/inline"; });
  for (const char* path : {"/inline", "/pool"}) {
    auto r = client_->Send("GET", path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, std::string("GET|") + path + "|||");
  }
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(events,
            (std::vector<std::string>{"handler /inline", "before_send /inline on handler thread",
                                      "handler /pool", "before_send /pool on handler thread"}));
}

// Verifies: REQ-HTTP-007, REQ-HTTP-008, REQ-HTTP-018
TEST_F(ServerTest, BeforeSendKeepsHeadAndKeepAlive) {
  std::atomic<int> steps{0};
  StartServer(
      [&](Request& req) {
        Response r = Echo(req);
        r.before_send = [&](std::function<void(bool)> done) {
          ++steps;
          done(true);
        };
        return r;
      },
      [](const Request& req) { return req.path != "/pool"; });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Write(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /pool HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /pool HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.ReadResponse();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->body, "GET|/a|||");
  EXPECT_THAT(a->head, Not(HasSubstr("Connection: close")));
  auto head = c.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_THAT(head->head, HasSubstr("Content-Length: 13\r\n"));  // "HEAD|/pool|||"
  auto pool = c.ReadResponse();
  ASSERT_TRUE(pool);  // would be garbled had the HEAD response carried a body
  EXPECT_EQ(pool->body, "GET|/pool|||");
  EXPECT_THAT(pool->head, Not(HasSubstr("Connection: close")));
  EXPECT_EQ(steps.load(), 3);
}

// Verifies: REQ-HTTP-018
TEST_F(ServerTest, BeforeSendCompletedLaterFromAnotherThread) {
  Later later;
  StartServer(
      [&](Request& req) {
        Response r = Echo(req);
        r.status = 201;
        r.before_send = [&](std::function<void(bool)> done) {
          later.After(std::chrono::milliseconds(50), std::move(done), true);
        };
        return r;
      },
      [](const Request& req) { return req.path == "/inline"; });
  for (int i = 0; i < 3; ++i) {
    for (const char* path : {"/inline", "/pool"}) {
      auto r = client_->Send("POST", path, {}, "b" + std::to_string(i));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->status, 201);
      EXPECT_EQ(r->body, std::string("POST|") + path + "|||b" + std::to_string(i));
    }
  }
}

// Verifies: REQ-HTTP-019
TEST_F(ServerTest, FailedBeforeSendGives503FromErrorResponse) {
  Later later;
  ServerOptions options;
  options.error_response = [](int status, std::string_view message) {
    return JsonResponse(status, "{\"custom\":\"" + std::string(message) + "\"}");
  };
  StartServer(
      [&](Request& req) {
        Response r = Echo(req);
        r.headers.Add("X-From-Handler", "1");
        if (req.path == "/false") {
          r.before_send = [](std::function<void(bool)> done) { done(false); };
        } else if (req.path == "/false-later") {
          r.before_send = [&](std::function<void(bool)> done) {
            later.After(std::chrono::milliseconds(20), std::move(done), false);
          };
        } else if (req.path == "/throw") {
          r.before_send = [](std::function<void(bool)>) { throw std::runtime_error("disk gone"); };
        } else if (req.path == "/throw-int") {
          r.before_send = [](std::function<void(bool)>) { throw 7; };
        } else if (req.path == "/dropped") {
          r.before_send = [](std::function<void(bool)>) {};  // `done` never called
        } else if (req.path == "/true-then-false") {
          r.before_send = [](std::function<void(bool)> done) {
            done(true);
            done(false);
          };
        } else if (req.path == "/true-then-throw") {
          r.before_send = [](std::function<void(bool)> done) {
            done(true);
            throw std::runtime_error("late");
          };
        }
        return r;
      },
      [](const Request& req) { return req.query == "inline"; }, options);
  for (const char* query : {"", "?inline"}) {
    for (const char* path : {"/false", "/false-later", "/throw", "/throw-int", "/dropped"}) {
      std::string target = std::string(path) + query;
      auto r = client_->Send("GET", target);  // the same connection throughout
      ASSERT_TRUE(r.ok()) << target << ": " << r.status().ToString();
      EXPECT_EQ(r->status, 503) << target;
      EXPECT_EQ(r->body, R"({"custom":"the audit log is unavailable"})") << target;
      EXPECT_FALSE(r->headers.Has("X-From-Handler")) << target;
    }
    for (const char* path : {"/true-then-false", "/true-then-throw", "/none"}) {
      std::string target = std::string(path) + query;
      auto r = client_->Send("GET", target);
      ASSERT_TRUE(r.ok()) << target << ": " << r.status().ToString();
      EXPECT_EQ(r->status, 200) << target;  // the first outcome counts
      EXPECT_EQ(r->headers.Get("X-From-Handler"), "1") << target;
    }
  }
}

// Verifies: REQ-HTTP-019
TEST_F(ServerTest, FailedBeforeSendGivesJson503ByDefault) {
  StartServer([](Request& req) {
    Response r = Echo(req);
    r.before_send = [](std::function<void(bool)> done) { done(false); };
    return r;
  });
  auto r = client_->Send("GET", "/x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"error":"the audit log is unavailable"})");
}

// Verifies: REQ-HTTP-018, REQ-HTTP-020
TEST_F(ServerTest, WaitingBeforeSendDoesNotBlockTheNetworkThread) {
  // One network thread and inline handlers: if waiting for `done` blocked that thread, the
  // second connection could not be answered until the first was released.
  std::promise<std::function<void(bool)>> held;
  std::atomic<int> held_count{0};
  ServerOptions options;
  options.io_threads = 1;
  StartServer(
      [&](Request& req) {
        Response r = Echo(req);
        if (req.path == "/wait") {
          r.before_send = [&](std::function<void(bool)> done) {
            if (held_count.fetch_add(1) == 0) held.set_value(std::move(done));
          };
        }
        return r;
      },
      [](const Request&) { return true; }, options);
  RawConnection waiting(server_->port());
  ASSERT_TRUE(waiting.connected());
  ASSERT_TRUE(waiting.Write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::function<void(bool)> done = held.get_future().get();
  struct ReleaseOnExit {
    std::function<void(bool)>& done;
    ~ReleaseOnExit() { done(false); }  // ignored when the test already called it
  } release_on_exit{done};

  auto t0 = std::chrono::steady_clock::now();
  RawConnection other(server_->port());
  ASSERT_TRUE(other.connected());
  ASSERT_TRUE(other.Write("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto fast = other.ReadResponse();  // gives up after 10 s
  auto fast_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(fast) << "the network thread was blocked";
  EXPECT_EQ(fast->body, "GET|/fast|||");
  std::printf("[ info ] inline request answered in %lld ms while another waited on before_send\n",
              static_cast<long long>(fast_ms));

  std::thread([&] { done(true); }).join();  // released from another thread
  auto slow = waiting.ReadResponse();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, "GET|/wait|||");
  EXPECT_EQ(held_count.load(), 1);
}

// Verifies: REQ-HTTP-021
TEST(FinishSyncTest, WithoutBeforeSendLeavesTheResponse) {
  Response r = JsonResponse(201, "{}");
  EXPECT_TRUE(FinishSync(r));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{}");
}

// Verifies: REQ-HTTP-021
TEST(FinishSyncTest, RunsTheStepOnceAndKeepsTheResponseOnSuccess) {
  int calls = 0;
  Response r = JsonResponse(200, R"({"ok":1})");
  r.before_send = [&](std::function<void(bool)> done) {
    ++calls;
    done(true);
  };
  EXPECT_TRUE(FinishSync(r));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":1})");
  EXPECT_FALSE(r.before_send);
  EXPECT_TRUE(FinishSync(r));  // nothing left to run
  EXPECT_EQ(calls, 1);
}

// Verifies: REQ-HTTP-021
TEST(FinishSyncTest, WaitsForDoneFromAnotherThread) {
  std::thread worker;
  std::atomic<bool> called{false};
  Response r = JsonResponse(200, "{}");
  r.before_send = [&](std::function<void(bool)> done) {
    worker = std::thread([&called, done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      called.store(true);
      done(true);
    });
  };
  EXPECT_TRUE(FinishSync(r));
  EXPECT_TRUE(called.load());  // FinishSync returned only after `done`
  worker.join();
  EXPECT_EQ(r.status, 200);
}

// Verifies: REQ-HTTP-021
TEST(FinishSyncTest, FailureReplacesTheResponseWith503) {
  std::vector<std::function<void(std::function<void(bool)>)>> failing = {
      [](std::function<void(bool)> done) { done(false); },
      [](std::function<void(bool)>) { throw std::runtime_error("disk gone"); },
      [](std::function<void(bool)>) {},  // `done` dropped without a call
  };
  for (std::size_t i = 0; i < failing.size(); ++i) {
    Response r = JsonResponse(200, R"({"secret":1})");
    r.headers.Add("X-From-Handler", "1");
    r.before_send = failing[i];
    EXPECT_FALSE(FinishSync(r)) << i;
    EXPECT_EQ(r.status, 503) << i;
    EXPECT_EQ(r.body, R"({"error":"the audit log is unavailable"})") << i;
    EXPECT_EQ(r.headers.Get("Content-Type"), "application/json") << i;
    EXPECT_FALSE(r.headers.Has("X-From-Handler")) << i;
  }
}

// Connect attempts succeed until the server has closed its listening socket.
bool CanConnect(uint16_t port) { return RawConnection(port).connected(); }

// Verifies: REQ-HTTP-022
TEST_F(ServerTest, StopFinishesInFlightRequests) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  StartServer([&](Request& req) {
    if (req.path == "/slow") {
      entered.set_value();
      release_future.wait();
      Response r;
      r.body = "slow done";
      return r;
    }
    return Echo(req);
  });
  // An idle keep-alive connection must not hold up Stop().
  ASSERT_TRUE(client_->Send("GET", "/warm").ok());

  std::future<Result<ClientResponse>> slow = std::async(std::launch::async, [&] {
    Client c("127.0.0.1", server_->port());
    return c.Send("GET", "/slow");
  });
  entered.get_future().wait();
  uint16_t port = server_->port();
  std::thread stopper([&] { server_->Stop(); });
  while (CanConnect(port)) std::this_thread::yield();
  release.set_value();
  stopper.join();

  Result<ClientResponse> r = slow.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->headers.Get("Connection"), "close");
  server_->Stop();  // idempotent
}

// Verifies: REQ-HTTP-022
TEST_F(ServerTest, StopFromHandlerEndsWait) {
  StartServer([&](Request& req) {
    if (req.path == "/shutdown") server_->Stop();
    return Echo(req);
  });
  auto r = client_->Send("POST", "/shutdown");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("Connection"), "close");
  server_->Wait();
  EXPECT_FALSE(CanConnect(server_->port()));
}

// Verifies: REQ-HTTP-023
TEST_F(ServerTest, StartFailsWhenPortInUse) {
  StartServer(Echo);
  ServerOptions options;
  options.port = server_->port();
  Server second(options, Echo, nullptr);
  Status s = second.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  second.Wait();  // never started: returns at once
}

// Verifies: REQ-HTTP-022
TEST(ServerLifecycleTest, StopWithoutStartAndDestroyWithoutStop) {
  Server never({}, Echo, nullptr);
  never.Stop();
  never.Wait();
  Server running({}, Echo, nullptr);
  ASSERT_TRUE(running.Start().ok());
  // Destructor stops and joins.
}

// Verifies: REQ-HTTP-030
TEST(ClientTest, UnreachableServerIsUnavailable) {
  uint16_t port;
  {
    Server s({}, Echo, nullptr);
    ASSERT_TRUE(s.Start().ok());
    port = s.port();
  }
  Client client("127.0.0.1", port);
  auto r = client.Send("GET", "/");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sund::http

namespace sund::http {
namespace {

// A client's masked text frame (RFC 6455 section 5.2), for payloads under 126 bytes.
std::string MaskedTextFrame(std::string_view text) {
  std::string f;
  f.push_back(static_cast<char>(0x81));  // FIN, text
  f.push_back(static_cast<char>(0x80 | text.size()));
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(mask, 4);
  for (std::size_t i = 0; i < text.size(); ++i)
    f.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  return f;
}

// Verifies: REQ-HTTP-024
TEST_F(ServerTest, WebSocketUpgradeEchoesAndServerSends) {
  std::promise<std::shared_ptr<WebSocket>> opened;
  StartServer([&opened](Request& req) {
    Response r;
    if (req.path != "/ws") {
      r.status = 404;
      return r;
    }
    r.status = 426;  // sent only when the request was no upgrade
    r.websocket = [&opened](std::shared_ptr<WebSocket> ws) {
      WebSocket* raw = ws.get();
      ws->on_message = [raw](std::string_view m) { raw->Send("echo: " + std::string(m)); };
      opened.set_value(std::move(ws));
    };
    return r;
  });
  EXPECT_EQ(client_->Send("GET", "/ws").value().status, 426);

  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Write("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n"));
  std::string got = c.ReadToEofOr("\r\n\r\n");
  ASSERT_NE(got.find("101"), std::string::npos) << got;
  // The accept key of RFC 6455's example.
  EXPECT_NE(got.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << got;
  auto ws = opened.get_future().get();
  ASSERT_TRUE(c.Write(MaskedTextFrame("hello")));
  std::string frame = c.ReadBytes(2 + 11);
  ASSERT_EQ(frame.size(), 13u);
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x81);
  EXPECT_EQ(frame.substr(2), "echo: hello");
  // The server side sends on its own, from another thread.
  std::thread([ws] { ws->Send("alert"); }).join();
  EXPECT_EQ(c.ReadBytes(2 + 5).substr(2), "alert");
  // Stopping the server closes the WebSocket.
  server_->Stop();
  for (int i = 0; i < 50 && ws->Send("late"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(ws->Send("late"));
}

// --- Hardening (#11): TLS, limits, slow clients ---

// A self-signed certificate for `hosts` (by default localhost and 127.0.0.1) in a fresh folder.
class TlsFiles {
 public:
  explicit TlsFiles(std::vector<std::string> hosts = {"localhost", "127.0.0.1"}) {
    dir_ = std::filesystem::temp_directory_path() /
           ("sund-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    std::string common_name = hosts.front();
    auto pair = x509::MakeCertificate(
        {"Sund tests", common_name, x509::Usage::kServer, std::move(hosts), 1});
    EXPECT_TRUE(pair.ok()) << pair.status().ToString();
    pair_ = *pair;
    std::ofstream(cert()) << pair_.cert_pem;
    std::ofstream(key()) << pair_.key_pem;
  }
  ~TlsFiles() { std::filesystem::remove_all(dir_); }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string key() const { return (dir_ / "key.pem").string(); }
  // Server options that serve HTTPS with these files.
  ServerOptions Options() const {
    ServerOptions options;
    options.tls_cert_file = cert();
    options.tls_key_file = key();
    return options;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  x509::KeyPair pair_;
};

// "secure" or "plain"; at /big, 300 kB (many TLS records, larger than Beast's 64 kB flat
// write buffer).
Response Secure(Request& req) {
  Response r;
  r.body = req.secure ? "secure" : "plain";
  if (req.path == "/big") {
    r.body.clear();
    for (int i = 0; r.body.size() < 300'000; ++i) r.body += std::to_string(i) + ",";
  }
  return r;
}

// Verifies: REQ-HTTP-025, REQ-HTTP-029
TEST_F(ServerTest, TlsServesHttpsWithHsts) {
  TlsFiles files;
  ServerOptions options = files.Options();
  StartServer(Secure, nullptr, options);
  EXPECT_TRUE(server_->secure());
  Client https("127.0.0.1", server_->port(), std::chrono::seconds(10), {true, files.cert()});
  for (int i = 0; i < 3; ++i) {  // keep-alive over one TLS session
    auto r = https.Send("GET", "/x");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "secure");
    EXPECT_EQ(r->headers.Get("Strict-Transport-Security"), "max-age=31536000");
  }
  // Large responses, inline and from the pool.
  Request big_request;
  big_request.path = "/big";
  std::string expected = Secure(big_request).body;
  for (int i = 0; i < 2; ++i) {
    auto big = https.Send("GET", "/big");
    ASSERT_TRUE(big.ok()) << big.status().ToString();
    EXPECT_EQ(big->body.size(), expected.size());
    EXPECT_EQ(big->body, expected);
  }
  // By name too (the certificate names localhost).
  Client by_name("localhost", server_->port(), std::chrono::seconds(10), {true, files.cert()});
  EXPECT_TRUE(by_name.Send("GET", "/x").ok());
  // Plain HTTP to the TLS port gets no HTTP answer.
  auto plain = client_->Send("GET", "/x");
  EXPECT_FALSE(plain.ok() && plain->status == 200);
}

// Verifies: REQ-HTTP-028, REQ-HTTP-029
TEST_F(ServerTest, TlsClientRejectsAnUntrustedCertificate) {
  TlsFiles files;
  TlsFiles other;  // another authority: the server's certificate is not signed by it
  ServerOptions options = files.Options();
  StartServer(Secure, nullptr, options);
  Client https("127.0.0.1", server_->port(), std::chrono::seconds(10), {true, other.cert()});
  auto r = https.Send("GET", "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake"));
  // The server counts the failure on its own thread, after the client has given up.
  for (int i = 0; i < 200 && server_->stats().failed_handshakes == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->stats().failed_handshakes, 1u);
}

// The protocol versions a client limited to [min, max] gets from the server: true when the
// handshake succeeds.
bool HandshakeWithVersions(uint16_t port, int min_version, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);  // let OpenSSL offer the old versions at all
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL* ssl = SSL_new(ctx);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (ok) {
    SSL_set_fd(ssl, fd);
    ok = SSL_connect(ssl) == 1;
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return ok;
}

// Verifies: REQ-HTTP-026
TEST_F(ServerTest, TlsRefusesVersionsBefore12) {
  TlsFiles files;
  ServerOptions options = files.Options();
  StartServer(Secure, nullptr, options);
  EXPECT_FALSE(HandshakeWithVersions(server_->port(), TLS1_VERSION, TLS1_1_VERSION));
  EXPECT_TRUE(HandshakeWithVersions(server_->port(), TLS1_2_VERSION, TLS1_2_VERSION));
  EXPECT_TRUE(HandshakeWithVersions(server_->port(), TLS1_3_VERSION, TLS1_3_VERSION));
}

// Verifies: REQ-HTTP-027
TEST(ServerTlsTest, StartFailsOnMissingOrMismatchedFiles) {
  TlsFiles a;
  TlsFiles b;
  ServerOptions options;
  options.tls_cert_file = a.cert();
  options.tls_key_file = a.key() + ".missing";
  Server missing(options, Secure, nullptr);
  Status s = missing.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  options.tls_key_file = b.key();
  Server mismatched(options, Secure, nullptr);
  s = mismatched.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("mismatch"));
}

// Verifies: REQ-HTTP-032
TEST_F(ServerTest, ConnectionRateLimitGives429WithRetryAfter) {
  ServerOptions options;
  options.connection_rate = {0.5, 2};  // a burst of two, then one every two seconds
  options.limit_loopback = true;
  options.error_response = [](int status, std::string_view message) {
    Response r;
    r.status = status;
    r.body = "custom: " + std::string(message);
    return r;
  };
  StartServer(Echo, nullptr, options);
  EXPECT_EQ(client_->Send("GET", "/a").value().status, 200);
  EXPECT_EQ(client_->Send("GET", "/a").value().status, 200);
  auto limited = client_->Send("GET", "/a").value();
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.Get("Retry-After"), "2");
  EXPECT_THAT(limited.body, StartsWith("custom: too many requests"));
  // The connection stays usable, and a new connection has a bucket of its own.
  EXPECT_EQ(client_->Send("GET", "/a").value().status, 429);
  Client fresh("127.0.0.1", server_->port());
  EXPECT_EQ(fresh.Send("GET", "/a").value().status, 200);
  EXPECT_EQ(server_->stats().throttled_requests, 2u);
}

// Verifies: REQ-HTTP-033
TEST_F(ServerTest, ClientRateLimitSpansConnections) {
  ServerOptions options;
  options.client_rate = {0.1, 3};
  options.limit_loopback = true;
  StartServer(Echo, nullptr, options);
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 5; ++i) {
    Client c("127.0.0.1", server_->port());
    int status = c.Send("GET", "/a").value().status;
    (status == 200 ? ok : limited) += 1;
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(limited, 2);
}

// Verifies: REQ-HTTP-035
TEST_F(ServerTest, LoopbackIsExemptFromLimitsByDefault) {
  ServerOptions options;
  options.client_rate = {0.1, 1};
  options.connection_rate = {0.1, 1};
  options.max_connections_per_client = 1;
  StartServer(Echo, nullptr, options);
  Client second("127.0.0.1", server_->port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(client_->Send("GET", "/a").value().status, 200);
    EXPECT_EQ(second.Send("GET", "/a").value().status, 200);
  }
}

// Verifies: REQ-HTTP-034
TEST_F(ServerTest, ConnectionsPerClientAreCapped) {
  ServerOptions options;
  options.max_connections_per_client = 2;
  options.limit_loopback = true;
  StartServer(Echo, nullptr, options);
  RawConnection a(server_->port());
  RawConnection b(server_->port());
  ASSERT_TRUE(a.Write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(a.ReadResponse());
  ASSERT_TRUE(b.Write("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(b.ReadResponse());
  RawConnection c(server_->port());  // the third is closed without an answer
  c.Write("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadToEof(), "");
  EXPECT_EQ(server_->stats().refused_connections, 1u);
  // Once one closes, the client may connect again.
  a.Close();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    RawConnection d(server_->port());
    d.Write("GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
    served = d.ReadResponse().has_value();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

// Verifies: REQ-HTTP-015
TEST_F(ServerTest, SlowHeaderIsCutOffAfterHeaderTimeout) {
  ServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::seconds(30);
  StartServer(Echo, nullptr, options);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  auto start = std::chrono::steady_clock::now();
  // A slowloris client: a byte now and then, never the end of the header.
  ASSERT_TRUE(c.Write("GET / HTTP/1.1\r\n"));
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    closed = !c.Write("X");
  }
  // Either the write failed or the server has closed its side; both within a few seconds,
  // far sooner than idle_timeout.
  if (!closed) EXPECT_EQ(c.ReadToEof(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Verifies: REQ-HTTP-015
TEST_F(ServerTest, SilentTlsHandshakeIsCutOffAfterHeaderTimeout) {
  TlsFiles files;
  ServerOptions options = files.Options();
  options.header_timeout = std::chrono::seconds(1);
  StartServer(Secure, nullptr, options);
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.ReadToEof(), "");  // nothing sent: closed after about a second
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The TLS 1.2 cipher suite the server agrees on when the client offers only `ciphers` (OpenSSL
// names); "" when the handshake fails.
std::string NegotiatedTls12Cipher(uint16_t port, const char* ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);  // let OpenSSL offer weak suites at all
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  std::string agreed;
  if (SSL_CTX_set_cipher_list(ctx, ciphers) == 1) {
    SSL* ssl = SSL_new(ctx);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) == 1) agreed = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    }
    SSL_free(ssl);
    ::close(fd);
  }
  SSL_CTX_free(ctx);
  return agreed;
}

// Under TLS 1.2 the server agrees only on forward-secret AEAD suites (ECDHE with AES-GCM or
// ChaCha20-Poly1305; the test certificate's key is ECDSA): CBC suites are refused even with
// ECDHE, and a client offering everything gets one of the allowed suites.
// Verifies: REQ-HTTP-051
TEST_F(ServerTest, TlsAgreesOnlyOnForwardSecretAeadSuites) {
  TlsFiles files;
  StartServer(Secure, nullptr, files.Options());
  const std::set<std::string> allowed = {
      "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
      "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
      "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"};
  EXPECT_EQ(NegotiatedTls12Cipher(server_->port(), "ECDHE-ECDSA-AES128-GCM-SHA256"),
            "ECDHE-ECDSA-AES128-GCM-SHA256");
  std::string any = NegotiatedTls12Cipher(server_->port(), "ALL:@SECLEVEL=0");
  EXPECT_EQ(allowed.count(any), 1u) << "agreed on " << any;
  for (const char* refused :
       {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256"}) {
    EXPECT_EQ(NegotiatedTls12Cipher(server_->port(), refused), "") << refused;
  }
}

// The client checks the certificate's name: a certificate from a trusted authority that names
// another host fails the TLS handshake, by IP address and by name.
// Verifies: REQ-HTTP-052
TEST_F(ServerTest, TlsClientRejectsACertificateForAnotherHost) {
  TlsFiles files({"sund.example"});
  StartServer(Secure, nullptr, files.Options());
  for (const char* host : {"127.0.0.1", "localhost"}) {
    Client https(host, server_->port(), std::chrono::seconds(10), {true, files.cert()});
    auto r = https.Send("GET", "/x");
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << host;
    EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake")) << host;
  }
}

// A port that accepts connections but never answers: the kernel completes the TCP handshake
// from the listen backlog, and nothing is ever read or written.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          ::listen(fd_, 8) == 0 &&
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
};

// With a timeout the client gives up on a server that never answers, in HTTP (waiting for the
// response) and in HTTPS (waiting for the handshake), with kUnavailable and not before the
// timeout has passed.
// Verifies: REQ-HTTP-053
TEST(ClientTest, TimeoutEndsTheWaitForASilentServer) {
  SilentListener silent;
  ASSERT_TRUE(silent.ok());
  TlsFiles files;
  const auto timeout = std::chrono::milliseconds(300);
  for (bool tls : {false, true}) {
    Client client("127.0.0.1", silent.port(), timeout, {tls, files.cert()});
    auto start = std::chrono::steady_clock::now();
    auto r = client.Send("GET", "/");
    auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r.ok()) << "tls=" << tls;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
    if (tls) EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake"));
    EXPECT_GE(waited, timeout) << "tls=" << tls;
    EXPECT_LT(waited, std::chrono::seconds(10)) << "tls=" << tls;
  }
}

// A WebSocket whose reader does not read: once 1000 messages wait to be written, Send refuses
// more (false) instead of queueing without bound, while the connection is still open.
// Verifies: REQ-HTTP-054
TEST_F(ServerTest, WebSocketSendQueueIsBounded) {
  std::promise<std::shared_ptr<WebSocket>> opened;
  StartServer([&opened](Request& req) {
    Response r;
    r.status = 426;
    r.websocket = [&opened](std::shared_ptr<WebSocket> ws) { opened.set_value(std::move(ws)); };
    return r;
  });
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Write("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n"));
  std::string got = c.ReadToEofOr("\r\n\r\n");
  ASSERT_NE(got.find("101"), std::string::npos) << got;
  auto ws = opened.get_future().get();
  // 16 kB messages: the socket buffers take a few hundred of them at most, then the writes
  // stall because the client reads nothing, and the queue fills.
  const std::string message(16 << 10, 'x');
  constexpr int kMaxQueued = 1000;  // WsSession::kMaxQueued in server.cc
  int accepted = 0;
  // Bounded, so that a Send that never refuses fails the test instead of exhausting memory.
  while (accepted < 20 * kMaxQueued && ws->Send(message)) ++accepted;
  EXPECT_GE(accepted, kMaxQueued) << "a queue of 1000 messages is allowed";
  EXPECT_LT(accepted, 20 * kMaxQueued) << "Send never refused a message";
  EXPECT_FALSE(ws->Send(message));
}

}  // namespace
}  // namespace sund::http
