// What AuditLog and Verify share about the files in the log's directory (private to
// src/audit): file names, the audit.db schema and its migrations, the signing key and salt files,
// and a merkle::NodeReader over the database. Thread-safety: free functions are thread-safe; a
// DbNodeReader uses its connection, which belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "audit/merkle.h"
#include "core/crypto.h"
#include "core/status.h"
#include "storage/sqlite/db.h"

namespace sund::audit::internal {

inline constexpr char kDbFile[] = "audit.db";
inline constexpr char kKeyFile[] = "audit-key.pem";
inline constexpr char kSaltFile[] = "audit-salt";
inline constexpr std::size_t kSaltBytes = 32;

// Interior nodes at this level and above are stored in the `node` table as appends complete
// them (one row per 32 records); lower ones are recomputed from at most 63 leaf hashes.
inline constexpr int kStoredNodeLevel = 6;

// Brings audit.db to the current schema (PRAGMA user_version). Internal when the database is
// newer than this program or a migration fails.
Status Migrate(storage::sqlite::Connection& conn);

// The key at `path`, generated (ES256) and written with mode 0600 when the file is missing.
// Internal when it cannot be read, written or parsed.
Result<crypto::SigningKey> LoadOrCreateKey(const std::string& path);
// NotFound when missing; Internal when unreadable or not an EC private key.
Result<crypto::SigningKey> LoadKey(const std::string& path);
// The 32-byte salt stored base64url in `path`, created (mode 0600) when missing.
Result<std::string> LoadOrCreateSalt(const std::string& path);
// NotFound when missing; Internal when malformed.
Result<std::string> LoadSalt(const std::string& path);

// Perfect-subtree hashes from audit.db: stored nodes at kStoredNodeLevel and above, leaf hashes
// below. Internal when a node or leaf the tree needs is missing.
class DbNodeReader final : public merkle::NodeReader {
 public:
  explicit DbNodeReader(storage::sqlite::Connection& conn) : conn_(conn) {}
  Result<merkle::Hash> Node(int level, std::uint64_t index) override;

 private:
  storage::sqlite::Connection& conn_;
};

}  // namespace sund::audit::internal
