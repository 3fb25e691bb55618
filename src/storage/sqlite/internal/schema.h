// The SQLite schema as a list of migrations (docs/storage.md describes each table).
#pragma once

#include <vector>

namespace sund::storage::sqlite {

// Migration i (0-based) takes the database from user_version i to i + 1.
const std::vector<const char*>& Migrations();

}  // namespace sund::storage::sqlite
