#include "audit/internal/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sund::audit::internal {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

namespace {

const char* const kMigrations[] = {
    // 1: records, their clear personal data, the patient index, stored nodes, checkpoints.
    R"sql(
CREATE TABLE record (
  seq       INTEGER PRIMARY KEY,
  logged    INTEGER NOT NULL,
  leaf_hash BLOB NOT NULL,
  leaf      BLOB NOT NULL
);
CREATE TABLE personal (
  seq  INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
CREATE TABLE patient_index (
  patient_hash BLOB NOT NULL,
  seq          INTEGER NOT NULL,
  PRIMARY KEY (patient_hash, seq)
) WITHOUT ROWID;
CREATE TABLE node (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoint (
  size      INTEGER PRIMARY KEY,
  root      BLOB NOT NULL,
  time      INTEGER NOT NULL,
  signature BLOB NOT NULL,
  kid       TEXT NOT NULL
);
)sql",
};

Result<std::string> ReadSmallFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("file missing: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Internal("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return Internal("cannot read " + path);
  return text.str();
}

// Writes a new file with mode 0600 and fsyncs it and its directory. Conflict when it exists.
Status WriteSecretFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Conflict("file exists: " + path);
    return Internal("cannot create " + path);
  }
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return Internal("cannot write " + path);
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Status Migrate(Connection& conn) {
  return storage::sqlite::ApplyMigrations(conn, kMigrations, "audit.db");
}

Result<crypto::SigningKey> LoadKey(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path));
  auto key = crypto::SigningKey::FromPem(pem);
  if (!key.ok()) return Internal("audit signing key is not a valid EC private key: " + path);
  if (key->alg() != "ES256") return Internal("audit signing key is not a P-256 key: " + path);
  return std::move(key).value();
}

Result<crypto::SigningKey> LoadOrCreateKey(const std::string& path) {
  auto loaded = LoadKey(path);
  if (loaded.ok() || loaded.status().code() != StatusCode::kNotFound) return loaded;
  SUND_ASSIGN_OR_RETURN(auto key, crypto::SigningKey::Generate("ES256"));
  Status s = WriteSecretFile(path, key.ToPem());
  if (s.code() == StatusCode::kConflict) return LoadKey(path);  // another process made it
  SUND_RETURN_IF_ERROR(s);
  return key;
}

Result<std::string> LoadSalt(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto salt = crypto::Base64UrlDecode(text);
  if (!salt.ok() || salt->size() != kSaltBytes) return Internal("audit salt is malformed: " + path);
  return std::move(salt).value();
}

Result<std::string> LoadOrCreateSalt(const std::string& path) {
  auto loaded = LoadSalt(path);
  if (loaded.ok() || loaded.status().code() != StatusCode::kNotFound) return loaded;
  std::string salt = crypto::RandomBytes(kSaltBytes);
  Status s = WriteSecretFile(path, crypto::Base64UrlEncode(salt) + "\n");
  if (s.code() == StatusCode::kConflict) return LoadSalt(path);
  SUND_RETURN_IF_ERROR(s);
  return salt;
}

Result<merkle::Hash> DbNodeReader::Node(int level, std::uint64_t index) {
  if (level < 0 || level >= 62) return InvalidArgument("merkle node level out of range");
  if (level >= kStoredNodeLevel) {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_.PrepareLiteral("SELECT hash FROM node WHERE level = ? AND idx = ?"));
    Statement st(raw);
    st.Bind(1, std::int64_t{level});
    st.Bind(2, static_cast<std::int64_t>(index));
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    std::optional<merkle::Hash> h;
    if (row) h = merkle::FromBytes(st.Text(0));
    if (!h.has_value()) {
      return Internal("audit node " + std::to_string(level) + "/" + std::to_string(index) +
                      " is missing or malformed");
    }
    return *h;
  }
  std::uint64_t width = std::uint64_t{1} << level;
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_.PrepareLiteral("SELECT leaf_hash FROM record WHERE seq >= ? AND seq < ? ORDER BY seq"));
  Statement st(raw);
  st.Bind(1, static_cast<std::int64_t>(index * width));
  st.Bind(2, static_cast<std::int64_t>((index + 1) * width));
  std::vector<merkle::Hash> leaves;
  leaves.reserve(width);
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::optional<merkle::Hash> h = merkle::FromBytes(st.Text(0));
    if (!h.has_value()) return Internal("audit leaf hash is malformed");
    leaves.push_back(*h);
  }
  if (leaves.size() != width) {
    return Internal("audit records missing under node " + std::to_string(level) + "/" +
                    std::to_string(index));
  }
  return merkle::RootOfLeafHashes(leaves);
}

}  // namespace sund::audit::internal
