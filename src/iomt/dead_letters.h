// The dead-letter store of the IoMT gateway: every payload or measurement the gateway refuses,
// with its reason, in DIR/iomt.db (SQLite, WAL). Nothing the gateway receives is dropped without
// a row here; operators list them (`GET /iomt/v1/rejected`) to fix devices and mappings. The
// payload is kept as received (it is patient data: the table is read only through an
// authorized API, never logged). Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::storage::sqlite {
class Connection;
}

namespace sund::iomt {

struct DeadLetter {
  std::int64_t id = 0;           // assigned by Add, increasing
  std::int64_t received_us = 0;  // when the gateway got it
  std::string device;            // as the payload named it ("" when unreadable)
  int index = -1;                // the measurement's index in the payload; -1: the whole payload
  std::string reason;            // RejectionName, or "unknown-device", "unassigned" ...
  std::string detail;            // never the measured value
  std::string payload;           // as received (of an oversized payload, its first 64 KiB)
};

class DeadLetters {
 public:
  static Result<std::unique_ptr<DeadLetters>> Open(const std::string& path);
  ~DeadLetters();
  // Stores `letters` in one transaction and sets their ids.
  Status Add(std::vector<DeadLetter>& letters);
  // Newest first, at most `limit`, with id < before_id.
  Result<std::vector<DeadLetter>> List(
      int limit, std::int64_t before_id = std::numeric_limits<std::int64_t>::max());
  Result<std::int64_t> Count();

 private:
  DeadLetters() = default;
  std::mutex mu_;
  std::unique_ptr<storage::sqlite::Connection> conn_;
};

}  // namespace sund::iomt
