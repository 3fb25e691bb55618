// Thin RAII wrappers over libpq for the PostgreSQL store backend: a connection with a cache of
// prepared statements (the shared SQL's `?` placeholders become $1, $2 ...), rows of one
// result, COPY FROM STDIN in text format, and the SQLSTATE mapping to Status. Error messages
// carry PostgreSQL's primary message and SQLSTATE only, never its DETAIL (which can quote row
// values). Internal to src/storage; never include it in a widely included header.
// Thread-safety: a Connection belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "storage/internal/sql.h"

struct pg_conn;
struct pg_result;

namespace sund::storage::pg {

using sql::Param;

class Connection final : public sql::Connection {
 public:
  // Connects to `conninfo` (a postgresql:// URL or key=value string); with a non-empty
  // `schema`, every statement resolves names in it (search_path), creating nothing.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo,
                                                  const std::string& schema);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without parameters or results (schema, BEGIN, COMMIT ...).
  Status Exec(const std::string& sql);
  // COPY ... FROM STDIN (`copy_sql`) with `data` in COPY's text format (CopyRow).
  Status Copy(const std::string& copy_sql, std::string_view data);
  // `name` as a quoted SQL identifier (schema, channel); InvalidArgument if it cannot be one.
  Result<std::string> QuoteIdentifier(std::string_view name);
  // False once the server connection is lost (the pool drops such a connection).
  bool healthy() const;
  pg_conn* raw() { return conn_; }

  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
  Result<std::unique_ptr<sql::Rows>> Query(const std::string& sql,
                                           std::vector<Param> params) override;
  Result<std::unique_ptr<sql::Rows>> QueryLiteral(const char* literal,
                                                  std::vector<Param> params) override {
    return Query(literal, std::move(params));
  }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}

  pg_conn* conn_;
  // (SQL text, parameter types) -> prepared statement name.
  std::unordered_map<std::string, std::string> prepared_;
  int next_statement_ = 0;
};

// A Status for a failed result or connection: the SQLSTATE decides the code (unique violation
// -> kConflict; serialisation failure, deadlock, lost connection -> kUnavailable).
Status ErrorStatus(pg_conn* conn, const pg_result* result, std::string_view what);

// `sql` with each `?` outside string literals replaced by $1, $2 ... in order.
std::string NumberPlaceholders(std::string_view sql);

// Rows for COPY's text format: values tab-separated, rows newline-terminated, \N for NULL,
// backslash escapes for backslash, tab, newline and carriage return.
class CopyRows {
 public:
  CopyRows& Int(std::int64_t v);
  CopyRows& Double(double v);
  CopyRows& Text(std::string_view v);
  CopyRows& Null();
  CopyRows& EndRow();
  const std::string& data() const { return data_; }
  // For taking back the last row (resize to its start).
  std::string& mutable_data() { return data_; }
  bool empty() const { return data_.empty(); }
  void clear() { data_.clear(); }

 private:
  void Separate();
  std::string data_;
  bool row_open_ = false;
};

}  // namespace sund::storage::pg
