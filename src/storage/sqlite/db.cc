#include "storage/sqlite/db.h"

#include <mutex>

#include "core/log.h"

namespace sund::storage::sqlite {

namespace {

// Process-wide settings, before the first connection: no allocation statistics (SQLite keeps
// them under a global mutex taken on every malloc and free, and nothing in Sund reads them).
void ConfigureLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

namespace {

Status SqliteFailure(int rc, sqlite3* db, std::string_view message) {
  std::string msg(message.empty() && db != nullptr ? sqlite3_errmsg(db) : message);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
      return Status(StatusCode::kUnavailable, "database busy");
    case SQLITE_FULL:
      return Status(StatusCode::kUnavailable, "the disk is full (free space, then retry)");
    case SQLITE_READONLY:
      return Status(StatusCode::kUnavailable,
                    "the database is read-only (sund needs write access to its data directory)");
    case SQLITE_IOERR:
      return Status(StatusCode::kUnavailable, "disk I/O error (is the disk full or failing?)");
    default:
      return Internal("sqlite: " + msg);
  }
}

}  // namespace

Status SqliteFailure(int rc, sqlite3* db) { return SqliteFailure(rc, db, {}); }

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, bool read_only) {
  ConfigureLibrary();
  sqlite3* db = nullptr;
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Internal("cannot open database " + path + ": " + msg);
  }
  if (!read_only && sqlite3_db_readonly(db, "main") == 1) {
    // SQLite opens a file it may not write read-only; a writer would fail on its first write.
    sqlite3_close(db);
    return Status(
        StatusCode::kPermissionDenied,
        "cannot write database " + path + " (sund needs write access to its data directory)");
  }
  sqlite3_busy_timeout(db, 30'000);
  sqlite3_extended_result_codes(db, 0);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  for (auto& [sql, stmt] : literal_cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Connection::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return SqliteFailure(rc, db_, msg);
  }
  return Status::Ok();
}

Result<sqlite3_stmt*> Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  // Bound the cache: search SQL varies with the query's shape.
  if (cache_.size() > 512) {
    for (auto i = cache_.begin(); i != cache_.end();) {
      if (sqlite3_stmt_busy(i->second) == 0) {
        sqlite3_finalize(i->second);
        i = cache_.erase(i);
      } else {
        ++i;
      }
    }
  }
  cache_.emplace(sql, stmt);
  return stmt;
}

Result<sqlite3_stmt*> Connection::PrepareLiteral(const char* sql) {
  auto it = literal_cache_.find(sql);
  if (it != literal_cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  literal_cache_.emplace(sql, stmt);
  return stmt;
}

namespace {

// A cached statement's rows; resets the statement when done.
class StatementRows final : public sql::Rows {
 public:
  // The statement binds `params` without copying them: the rows keep them.
  StatementRows(sqlite3_stmt* s, std::vector<Param> params) : params_(std::move(params)), st_(s) {
    st_.BindAll(params_);
  }
  Result<bool> Next() override { return st_.Step(); }
  std::int64_t Int(int col) const override { return st_.Int(col); }
  double Double(int col) const override { return st_.Double(col); }
  std::string_view Text(int col) const override { return st_.Text(col); }
  bool IsNull(int col) const override { return st_.IsNull(col); }

 private:
  std::vector<Param> params_;
  Statement st_;
};

}  // namespace

Result<std::unique_ptr<sql::Rows>> Connection::Query(const std::string& sql,
                                                     std::vector<Param> params) {
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  return std::unique_ptr<sql::Rows>(new StatementRows(raw, std::move(params)));
}

Result<std::unique_ptr<sql::Rows>> Connection::QueryLiteral(const char* literal,
                                                            std::vector<Param> params) {
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, PrepareLiteral(literal));
  return std::unique_ptr<sql::Rows>(new StatementRows(raw, std::move(params)));
}

Status ApplyMigrations(Connection& conn, std::span<const char* const> migrations,
                       std::string_view name) {
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn.Prepare("PRAGMA user_version"));
  std::int64_t current = 0;
  {
    Statement st(raw);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) current = st.Int(0);
  }
  const auto count = static_cast<std::int64_t>(migrations.size());
  if (current > count) {
    return Internal(std::string(name) + " schema version " + std::to_string(current) +
                    " is newer than this sund (" + std::to_string(count) + ")");
  }
  for (std::int64_t i = current; i < count; ++i) {
    SUND_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE"));
    Status s = conn.Exec(migrations[static_cast<std::size_t>(i)]);
    if (s.ok()) s = conn.Exec("PRAGMA user_version = " + std::to_string(i + 1));
    if (s.ok()) s = conn.Exec("COMMIT");
    if (!s.ok()) {
      conn.Exec("ROLLBACK").IgnoreError();
      return s;
    }
    log::Info("{}: migrated schema to version {}", name, i + 1);
  }
  return Status::Ok();
}

}  // namespace sund::storage::sqlite
