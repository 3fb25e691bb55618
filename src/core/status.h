// Status and Result<T>: how every fallible operation in Sund reports failure.
//
// Codes are domain codes, not HTTP statuses; src/api maps them to HTTP and FHIR
// OperationOutcomes in one place (api/errors.cc). Messages carry ids and reasons only, never
// patient data or tokens. Result<T> is shaped like C++23 std::expected<T, Status>.
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sund {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // malformed input (400)
  kNotFound,            // no such resource or route (404)
  kMethodNotAllowed,    // interaction not supported on this path (405)
  kConflict,            // version conflict, duplicate (409)
  kGone,                // deleted (410)
  kPreconditionFailed,  // If-Match / conditional mismatch (412)
  kTooLarge,            // body or result over a limit (413)
  kUnsupportedMedia,    // e.g. XML (415)
  kUnprocessable,       // well-formed but invalid content (422)
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kUnavailable,         // overloaded or shutting down (503)
  kNotImplemented,      // 501
  kInternal,            // a bug or an I/O failure (500)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: Patient/123 is not known"
  std::string ToString() const;
  // Spells out that an error is deliberately dropped.
  void IgnoreError() const {}

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
inline Status Gone(std::string m) { return {StatusCode::kGone, std::move(m)}; }
inline Status PreconditionFailed(std::string m) {
  return {StatusCode::kPreconditionFailed, std::move(m)};
}
inline Status Unprocessable(std::string m) { return {StatusCode::kUnprocessable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status NotImplemented(std::string m) { return {StatusCode::kNotImplemented, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sund

#define SUND_CONCAT_INNER_(a, b) a##b
#define SUND_CONCAT_(a, b) SUND_CONCAT_INNER_(a, b)

#define SUND_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::sund::Status sund_status_ = (expr);        \
    if (!sund_status_.ok()) return sund_status_; \
  } while (0)

#define SUND_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define SUND_ASSIGN_OR_RETURN(lhs, expr) \
  SUND_ASSIGN_OR_RETURN_IMPL_(SUND_CONCAT_(sund_result_, __LINE__), lhs, expr)

// Crash on states the code itself makes impossible; never on outside input.
#define SUND_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) ::sund::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace sund::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}  // namespace sund::internal
