// What the two SQL backends share: bound values, the dialect, and a minimal connection that
// runs one parameterised query and steps through its rows. The read queries (queries.h) and the
// search compiler (search_sql.h) are written once against it; each backend adapts its own
// connection (sqlite/db.h, postgres/pg.h). Internal to src/storage.
//
// SQL text is written with `?` placeholders in both dialects (the PostgreSQL connection numbers
// them); values are always bound, never spliced into the text.
// Thread-safety: a Connection and its Rows belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace sund::storage::sql {

using Param = std::variant<std::int64_t, double, std::string, std::nullptr_t>;

enum class Dialect { kSqlite, kPostgres };

// The rows of one query, stepped in order. Values are valid until the next call of Next.
class Rows {
 public:
  virtual ~Rows() = default;
  // true: a row is current; false: no more rows.
  virtual Result<bool> Next() = 0;
  virtual std::int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string_view Text(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Runs `sql` (prepared once per connection and cached by its text) with `params`, which the
  // rows keep until they are destroyed.
  virtual Result<std::unique_ptr<Rows>> Query(const std::string& sql,
                                              std::vector<Param> params) = 0;
  // As Query, cached by the address of `literal`: only for string literals (hot point reads).
  virtual Result<std::unique_ptr<Rows>> QueryLiteral(const char* literal,
                                                     std::vector<Param> params) = 0;
};

// Dialect-specific spellings used by the shared SQL.
// The planner hint "+" that SQLite reads as "do not drive the query through this column's
// index" (PostgreSQL plans by cost and has no such operator on text): "" there.
inline const char* Hint(Dialect d) { return d == Dialect::kSqlite ? "+" : ""; }
// A subquery yielding the strings of a JSON array bound as one parameter.
inline const char* JsonList(Dialect d) {
  return d == Dialect::kSqlite ? "(SELECT value FROM json_each(?))"
                               : "(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))";
}

// The same for a JSON array of integers (rids).
inline const char* JsonIntList(Dialect d) {
  return d == Dialect::kSqlite
             ? "(SELECT value FROM json_each(?))"
             : "(SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS bigint))";
}

// A JSON array of strings (the value bound for JsonList).
std::string JsonArray(const std::vector<std::string>& values);

}  // namespace sund::storage::sql
