// Thin RAII wrappers over the SQLite C API: for the SQLite store backend and for modules that
// keep small databases of their own beside it (auth.db of src/auth). Never include it in a
// widely included header. Thread-safety: a Connection and its statements belong to one thread
// at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/status.h"
#include "storage/internal/sql.h"

namespace sund::storage::sqlite {

using Param = sql::Param;

// The Status for a failed SQLite call: conditions an operator must fix (a full disk, a
// read-only file, an I/O error) are kUnavailable (503) with a message that says so; a busy
// database is kUnavailable too; anything else is kInternal.
Status SqliteFailure(int rc, sqlite3* db);

class Statement {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(s_, i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindNull(int i) { sqlite3_bind_null(s_, i); }
  void Bind(int i, const Param& p) {
    if (auto* x = std::get_if<std::int64_t>(&p))
      Bind(i, *x);
    else if (auto* d = std::get_if<double>(&p))
      Bind(i, *d);
    else if (auto* s = std::get_if<std::string>(&p))
      Bind(i, std::string_view(*s));
    else
      BindNull(i);
  }
  void BindAll(const std::vector<Param>& ps) {
    for (std::size_t i = 0; i < ps.size(); ++i) Bind(static_cast<int>(i + 1), ps[i]);
  }

  // SQLITE_ROW -> true, SQLITE_DONE -> false, else error.
  Result<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) {
      return Status(StatusCode::kConflict,
                    std::string("constraint: ") + sqlite3_errmsg(sqlite3_db_handle(s_)));
    }
    return SqliteFailure(rc, sqlite3_db_handle(s_));
  }
  Status Run() {
    auto r = Step();
    return r.ok() ? Status::Ok() : r.status();
  }

  std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string_view Text(int col) const {
    const void* p = sqlite3_column_blob(s_, col);
    int n = sqlite3_column_bytes(s_, col);
    return p == nullptr ? std::string_view{} : std::string_view(static_cast<const char*>(p), n);
  }

 private:
  sqlite3_stmt* s_;
};

class Connection final : public sql::Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool read_only);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
  Status Exec(const std::string& sql);
  // A cached prepared statement for `sql` (SQL text from code, never from input).
  Result<sqlite3_stmt*> Prepare(const std::string& sql);
  // Same, keyed by the address of a string literal (no hashing of the text): only for literals.
  Result<sqlite3_stmt*> PrepareLiteral(const char* sql);
  sqlite3* raw() { return db_; }

  // sql::Connection (the shared read queries of storage/internal/queries.h).
  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
  Result<std::unique_ptr<sql::Rows>> Query(const std::string& sql,
                                           std::vector<Param> params) override;
  Result<std::unique_ptr<sql::Rows>> QueryLiteral(const char* literal,
                                                  std::vector<Param> params) override;
  std::int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::unordered_map<const char*, sqlite3_stmt*> literal_cache_;
};

// Brings the schema of `conn` to the newest of `migrations`: PRAGMA user_version counts those
// applied, and each further one runs in its own transaction with the new version. Internal when
// the file has a newer schema than this sund. `name` ("storage", "auth.db" ...) names the
// database in the message and in the log line of each migration.
Status ApplyMigrations(Connection& conn, std::span<const char* const> migrations,
                       std::string_view name);

}  // namespace sund::storage::sqlite
