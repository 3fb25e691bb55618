// The PostgreSQL schema as a list of migrations (docs/storage.md describes each table; the
// tables and columns are SQLite's, in PostgreSQL's types). The version applied is kept in
// table sund_schema_version.
#pragma once

#include <vector>

namespace sund::storage::pg {

// Migration i (0-based) takes the schema from version i to i + 1.
const std::vector<const char*>& Migrations();

}  // namespace sund::storage::pg
