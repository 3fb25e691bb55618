// The SQLite backend of the Store (the embedded default): WAL mode, one writer connection,
// reader connections pooled per thread, prepared statements cached per connection.
//
// Schema, migrations and durability: docs/storage.md. Thread-safety: as Store.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "storage/store.h"

namespace sund::storage {

enum class SyncMode { kNormal, kFull };

struct SqliteOptions {
  std::string path;  // database file; ":memory:" is not supported (WAL readers)
  SyncMode sync = SyncMode::kNormal;
  std::int64_t cache_kib = 256 * 1024;  // page cache per connection (negative KiB for SQLite)
  // WAL pages (16 KiB) after which a background thread checkpoints them into the database file.
  int checkpoint_frames = 2'048;
};

// Opens (creating and migrating if needed) the database at options.path.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace sund::storage
