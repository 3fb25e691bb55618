// HTTP message types shared by the server, the client and their callers: Headers, Request and
// Response, free of any Boost type so that modules including them do not compile Beast.
//
// Headers keeps fields in arrival order, allows repeats and compares names case-insensitively
// (RFC 9110 section 5.1). A Response may carry a durable step (`before_send`, e.g. writing its
// audit record) that must succeed before it is sent; the server runs it without blocking a
// network thread, and FinishSync runs it for callers that hold the response themselves.
// Thread-safety: plain values; a Request is touched by one thread at a time (the server hands it
// to exactly one handler call).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::http {

class Headers {
 public:
  Headers() = default;

  // Appends a field, keeping any earlier field of the same name (Set-Cookie, Link, ...).
  void Add(std::string name, std::string value);
  // Replaces every field named `name` with one field (appended if there was none).
  void Set(std::string name, std::string value);
  // Removes every field named `name`; returns how many were removed.
  std::size_t Remove(std::string_view name);
  // The value of the first field named `name`, or "" if there is none.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return fields_; }
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  void Clear() { fields_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// ASCII case-insensitive comparison, as HTTP field names and tokens want.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Whether `needle` occurs in `hay`, ASCII letters compared case-insensitively.
bool ContainsIgnoreCase(std::string_view hay, std::string_view needle);

struct Request {
  std::string method;  // "GET", exactly as received
  std::string target;  // raw request target "/fhir/Patient?name=x"
  std::string path;    // percent-decoded path without the query: "/fhir/Patient"
  std::string query;   // raw query after '?', not decoded ("" if none)
  Headers headers;
  std::string body;
  std::string remote_address;  // peer IP address, without the port
  bool secure = false;         // arrived over TLS
};

// An open WebSocket (RFC 6455) connection, handed to the handler that accepted the upgrade
// (Response::websocket). Text messages only. Thread-safety: Send and Close from any thread; the
// callbacks run on the connection's network thread and must be set inside the
// Response::websocket callback (before the first message can arrive).
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues a text message; false when the connection is closed or too many messages wait
  // (a reader that does not keep up): the caller should give up on it.
  virtual bool Send(std::string text) = 0;
  // Closes the connection once the messages already sent are written.
  virtual void Close() = 0;
  std::function<void(std::string_view message)> on_message;
  std::function<void()> on_close;  // once, when the connection has ended
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A durable step that must finish before the response is sent (e.g. its audit record). The
  // server calls it once, after the handler returned, from the handler's thread; it must not
  // block and must call `done` exactly once, from any thread (also from inside before_send
  // itself): true sends the response, false replaces it with error_response(503, ...). Null: the
  // response is sent at once. The first outcome counts: a later call of `done` is ignored, an
  // exception thrown by before_send before `done` was called counts as false, and so does `done`
  // destroyed without having been called.
  std::function<void(std::function<void(bool ok)> done)> before_send;
  // Accepts a WebSocket upgrade: for a GET with `Upgrade: websocket`, the server completes the
  // handshake instead of sending this response (which it sends when the request was no
  // upgrade) and calls this with the open connection, on its network thread.
  std::function<void(std::shared_ptr<WebSocket>)> websocket;
};

// A response with a JSON body (application/json): the server's and the router's own errors.
Response JsonResponse(int status, std::string_view body);

// Runs `r.before_send` (if set) and waits for its outcome, for in-process callers and tests that
// call a handler directly. Clears before_send. Returns true when there was none or it succeeded;
// on false (or an exception, or `done` dropped uncalled) replaces `r` with
// JsonResponse(503, {"error":"the audit log is unavailable"}) and returns false.
bool FinishSync(Response& r);

}  // namespace sund::http
