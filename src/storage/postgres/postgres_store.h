// The PostgreSQL backend of the Store (production): the schema of docs/storage.md in a
// PostgreSQL 15 database, a pool of connections with prepared statements, and writes that load
// new rows through COPY. Writers are serialised per schema by a transaction-scoped advisory
// lock (in every process that shares the database), so versions are numbered in commit order
// and conditional creates cannot race: docs/decisions/0010-postgres-writers.md.
//
// Thread-safety: as Store. Several sund processes may share one database.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "storage/store.h"

namespace sund::storage {

struct PostgresOptions {
  // libpq connection string: postgresql://user@host:port/db?sslmode=... An application_name in
  // it names every connection of the store in pg_stat_activity ("sund" without one).
  std::string url;
  std::string schema;  // "" : the connection's search_path (normally "public"); created if missing
  int pool_size = 16;  // connections at most (readers and the writer together); at least 2
  // How long an operation waits for a free connection when all pool_size are in use, before it
  // answers Unavailable.
  std::chrono::milliseconds pool_wait = std::chrono::seconds(30);
};

// Connects, creates the schema's tables if needed and brings them to this sund's version.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options);

// Drops `schema` with everything in it (tests' throw-away schemas).
Status DropPostgresSchema(const std::string& url, const std::string& schema);

}  // namespace sund::storage
