#include "storage/postgres/pg.h"

#include <libpq-fe.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace sund::storage::pg {
namespace {

// Type OIDs of pg_type (stable across PostgreSQL versions).
constexpr Oid kInt8Oid = 20;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kTextOid = 25;

class ResultRows final : public sql::Rows {
 public:
  explicit ResultRows(PGresult* r) : r_(r), n_(PQntuples(r)) {}
  ~ResultRows() override { PQclear(r_); }
  Result<bool> Next() override { return ++row_ < n_; }
  std::int64_t Int(int col) const override {
    const char* s = PQgetvalue(r_, row_, col);
    std::int64_t v = 0;
    std::from_chars(s, s + PQgetlength(r_, row_, col), v);
    return v;
  }
  double Double(int col) const override { return std::strtod(PQgetvalue(r_, row_, col), nullptr); }
  std::string_view Text(int col) const override {
    return {PQgetvalue(r_, row_, col), static_cast<std::size_t>(PQgetlength(r_, row_, col))};
  }
  bool IsNull(int col) const override { return PQgetisnull(r_, row_, col) != 0; }

 private:
  PGresult* r_;
  int n_;
  int row_ = -1;
};

std::string FormatDouble(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

Status ErrorStatus(pg_conn* conn, const pg_result* result, std::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = std::string("postgres: ") + std::string(what) + ": ";
  if (primary != nullptr) {
    message += primary;
  } else {
    // No result fields: the connection itself failed (its message names no row values).
    std::string m = conn != nullptr ? PQerrorMessage(conn) : "no connection";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    message += m;
  }
  std::string code = state != nullptr ? state : "";
  if (!code.empty()) message += " (SQLSTATE " + code + ")";
  if (code == "23505") return Status(StatusCode::kConflict, message);
  if (code == "40001" || code == "40P01" || code.starts_with("08") || code == "57P01" ||
      (conn != nullptr && PQstatus(conn) != CONNECTION_OK)) {
    return Status(StatusCode::kUnavailable, message);
  }
  return Internal(message);
}

std::string NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  bool quoted = false;
  for (char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted) {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo,
                                                     const std::string& schema) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (c == nullptr) return Status(StatusCode::kUnavailable, "postgres: out of memory");
  std::unique_ptr<Connection> conn(new Connection(c));
  if (PQstatus(c) != CONNECTION_OK) return ErrorStatus(c, nullptr, "connect");
  std::string setup = "SET client_encoding = 'UTF8';";
  // An application_name of the connection string is kept: it tells one process's connections
  // from another's in pg_stat_activity.
  const char* app = PQparameterStatus(c, "application_name");
  if (app == nullptr || *app == '\0') setup += " SET application_name = 'sund';";
  if (!schema.empty()) {
    SUND_ASSIGN_OR_RETURN(std::string quoted, conn->QuoteIdentifier(schema));
    setup += " SET search_path TO " + quoted + ";";
  }
  SUND_RETURN_IF_ERROR(conn->Exec(setup));
  return conn;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<std::string> Connection::QuoteIdentifier(std::string_view name) {
  char* quoted = PQescapeIdentifier(conn_, name.data(), name.size());
  if (quoted == nullptr) return InvalidArgument("postgres: not a valid identifier");
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

bool Connection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

Status Connection::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(r);
  Status s = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? Status::Ok()
                                                             : ErrorStatus(conn_, r, "exec");
  PQclear(r);
  return s;
}

Status Connection::Copy(const std::string& copy_sql, std::string_view data) {
  PGresult* r = PQexec(conn_, copy_sql.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    Status s = ErrorStatus(conn_, r, "copy");
    PQclear(r);
    return s;
  }
  PQclear(r);
  constexpr std::size_t kChunk = 1 << 20;
  bool failed = false;
  for (std::size_t off = 0; off < data.size() && !failed; off += kChunk) {
    std::size_t n = std::min(kChunk, data.size() - off);
    failed = PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1;
  }
  if (PQputCopyEnd(conn_, failed ? "send failed" : nullptr) != 1) {
    return ErrorStatus(conn_, nullptr, "copy");
  }
  Status s = Status::Ok();
  while (PGresult* done = PQgetResult(conn_)) {
    if (s.ok() && PQresultStatus(done) != PGRES_COMMAND_OK) s = ErrorStatus(conn_, done, "copy");
    PQclear(done);
  }
  return s;
}

Result<std::unique_ptr<sql::Rows>> Connection::Query(const std::string& sql,
                                                     std::vector<Param> params) {
  const int n = static_cast<int>(params.size());
  std::vector<Oid> types(params.size());
  std::vector<std::string> text(params.size());
  std::vector<const char*> values(params.size());
  std::string key = sql;
  key += '\0';
  for (int i = 0; i < n; ++i) {
    const Param& p = params[static_cast<std::size_t>(i)];
    auto& t = text[static_cast<std::size_t>(i)];
    auto& v = values[static_cast<std::size_t>(i)];
    auto& ty = types[static_cast<std::size_t>(i)];
    if (const auto* x = std::get_if<std::int64_t>(&p)) {
      t = std::to_string(*x);
      ty = kInt8Oid;
      key += 'i';
    } else if (const auto* d = std::get_if<double>(&p)) {
      t = FormatDouble(*d);
      ty = kFloat8Oid;
      key += 'd';
    } else if (const auto* s = std::get_if<std::string>(&p)) {
      ty = kTextOid;
      key += 's';
      v = s->c_str();
      continue;
    } else {
      ty = 0;
      key += 'n';
      v = nullptr;
      continue;
    }
    v = t.c_str();
  }
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    // Each distinct query is prepared once per connection; dynamic search SQL is bounded by
    // the combinations of parameters clients use, so the cache is reset if it grows large.
    if (prepared_.size() >= 2'000) {
      SUND_RETURN_IF_ERROR(Exec("DEALLOCATE ALL"));
      prepared_.clear();
    }
    std::string name = "s" + std::to_string(++next_statement_);
    PGresult* r = PQprepare(conn_, name.c_str(), NumberPlaceholders(sql).c_str(), n, types.data());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      Status s = ErrorStatus(conn_, r, "prepare");
      PQclear(r);
      return s;
    }
    PQclear(r);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  PGresult* r = PQexecPrepared(conn_, it->second.c_str(), n, values.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    Status s = ErrorStatus(conn_, r, "query");
    PQclear(r);
    return s;
  }
  return std::unique_ptr<sql::Rows>(new ResultRows(r));
}

void CopyRows::Separate() {
  if (row_open_) {
    data_ += '\t';
  } else {
    row_open_ = true;
  }
}

CopyRows& CopyRows::Int(std::int64_t v) {
  Separate();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  data_.append(buf, end);
  return *this;
}

CopyRows& CopyRows::Double(double v) {
  Separate();
  data_ += FormatDouble(v);
  return *this;
}

CopyRows& CopyRows::Text(std::string_view v) {
  Separate();
  // Runs without special bytes are appended whole (most values have none).
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c != '\\' && c != '\t' && c != '\n' && c != '\r' && c != '\0') continue;
    data_.append(v.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '\\':
        data_ += "\\\\";
        break;
      case '\t':
        data_ += "\\t";
        break;
      case '\n':
        data_ += "\\n";
        break;
      case '\r':
        data_ += "\\r";
        break;
      default:  // NUL: PostgreSQL text cannot hold it; dropped
        break;
    }
  }
  data_.append(v.data() + start, v.size() - start);
  return *this;
}

CopyRows& CopyRows::Null() {
  Separate();
  data_ += "\\N";
  return *this;
}

CopyRows& CopyRows::EndRow() {
  data_ += '\n';
  row_open_ = false;
  return *this;
}

}  // namespace sund::storage::pg
