// Verify(): the audit log's full check (log.h), one pass over the records in sequence order.

#include <filesystem>
#include <optional>
#include <utility>

#include "audit/internal/leaf.h"
#include "audit/internal/store.h"
#include "audit/log.h"
#include "core/crypto.h"
#include "storage/sqlite/db.h"

namespace sund::audit {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

std::string_view ProblemName(Problem problem) {
  switch (problem) {
    case Problem::kModified:
      return "modified";
    case Problem::kDeleted:
      return "deleted";
    case Problem::kReordered:
      return "reordered";
    case Problem::kInserted:
      return "inserted";
    case Problem::kBadCheckpoint:
      return "bad checkpoint";
    case Problem::kRootMismatch:
      return "root mismatch";
    case Problem::kBadNode:
      return "bad node";
  }
  return "unknown";
}

namespace {

std::optional<Finding> Find(Problem problem, std::int64_t seq, std::string detail) {
  return Finding{problem, seq, std::move(detail)};
}

std::string Str(std::int64_t v) { return std::to_string(v); }

class Verifier {
 public:
  Verifier(Connection& conn, const crypto::VerifyKey& key, std::string kid, std::string_view salt)
      : conn_(conn), key_(key), kid_(std::move(kid)), salt_(salt) {}

  // The first problem, or nullopt; an error when the database cannot be read.
  Result<std::optional<Finding>> Run(VerifyReport& report);

 private:
  struct Row {
    std::int64_t seq = 0;
    std::int64_t logged = 0;
    std::string leaf_hash;
    std::string leaf;
  };

  Result<std::optional<Finding>> CheckRecord(const Row& row);
  std::optional<Finding> CheckCheckpoint(const Checkpoint& cp);
  // Names what happened when the leaf at `position` claims sequence number `claimed`.
  Result<std::optional<Finding>> ClassifyMisplaced(std::int64_t position, std::int64_t claimed);
  // Names the first patient index row that no leaf accounts for.
  Result<std::optional<Finding>> FindExtraIndexRow();
  Result<std::vector<Checkpoint>> LoadCheckpoints();

  Connection& conn_;
  const crypto::VerifyKey& key_;
  std::string kid_;
  crypto::HmacSha256Key salt_;

  merkle::CompactRange frontier_;
  std::int64_t prev_logged_ = 0;
  std::int64_t prev_checkpoint_time_ = 0;
  std::int64_t last_good_size_ = 0;
  std::int64_t index_rows_ = 0;
  std::vector<merkle::CompactRange::Completed> completed_;
};

Result<std::vector<Checkpoint>> Verifier::LoadCheckpoints() {
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_.PrepareLiteral(
          "SELECT size, root, time, signature, kid FROM checkpoint ORDER BY size"));
  Statement st(raw);
  std::vector<Checkpoint> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Checkpoint cp;
    cp.size = st.Int(0);
    // A malformed root is kept as all zeros: it then fails its signature check.
    cp.root = merkle::FromBytes(st.Text(1)).value_or(merkle::Hash{});
    cp.time_us = st.Int(2);
    cp.signature = std::string(st.Text(3));
    cp.kid = std::string(st.Text(4));
    out.push_back(std::move(cp));
  }
  return out;
}

std::optional<Finding> Verifier::CheckCheckpoint(const Checkpoint& cp) {
  if (cp.kid != kid_) {
    return Find(Problem::kBadCheckpoint, cp.size,
                "checkpoint of size " + Str(cp.size) + " names a key that is not the log's");
  }
  if (!key_.Verify("ES256", CheckpointText(cp.size, cp.root, cp.time_us), cp.signature).ok()) {
    return Find(Problem::kBadCheckpoint, cp.size,
                "checkpoint of size " + Str(cp.size) + " has a signature that does not verify");
  }
  if (cp.time_us < prev_checkpoint_time_) {
    return Find(Problem::kBadCheckpoint, cp.size,
                "checkpoint of size " + Str(cp.size) + " is older than the one before it");
  }
  if (cp.root != frontier_.Root()) {
    return Find(Problem::kRootMismatch, last_good_size_,
                "records " + Str(last_good_size_) + " to " + Str(cp.size - 1) +
                    " differ from what the checkpoint of size " + Str(cp.size) + " signed");
  }
  prev_checkpoint_time_ = cp.time_us;
  last_good_size_ = cp.size;
  return std::nullopt;
}

Result<std::optional<Finding>> Verifier::ClassifyMisplaced(std::int64_t position,
                                                           std::int64_t claimed) {
  if (claimed < 0) {
    return Find(Problem::kModified, position,
                "record " + Str(position) + " carries an invalid sequence number");
  }
  if (claimed < position) {
    // Every earlier position held the leaf that claims it, so `claimed` is claimed twice.
    return Find(Problem::kInserted, claimed,
                "records at positions " + Str(claimed) + " and " + Str(position) +
                    " both carry sequence number " + Str(claimed) + ": one was inserted");
  }
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_.PrepareLiteral("SELECT seq, leaf FROM record WHERE seq > ? ORDER BY seq"));
  Statement st(raw);
  st.Bind(1, position);
  std::optional<std::int64_t> holder_of_position;
  std::optional<std::int64_t> duplicate_of_claimed;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    auto parsed = internal::ParseLeaf(st.Text(1));
    if (!parsed.ok()) continue;
    if (parsed->seq == position && !holder_of_position) holder_of_position = st.Int(0);
    if (parsed->seq == claimed && !duplicate_of_claimed) duplicate_of_claimed = st.Int(0);
  }
  if (duplicate_of_claimed.has_value()) {
    return Find(Problem::kInserted, position,
                "records at positions " + Str(position) + " and " + Str(*duplicate_of_claimed) +
                    " both carry sequence number " + Str(claimed) + ": one was inserted");
  }
  if (holder_of_position.has_value()) {
    return Find(Problem::kReordered, position,
                "record " + Str(position) + " is stored at position " + Str(*holder_of_position) +
                    " and record " + Str(claimed) + " at position " + Str(position));
  }
  return Find(Problem::kDeleted, position,
              "record " + Str(position) + " is missing (later records were renumbered)");
}

Result<std::optional<Finding>> Verifier::CheckRecord(const Row& row) {
  const std::int64_t seq = row.seq;
  const std::string at = "record " + Str(seq) + ": ";
  merkle::Hash computed = merkle::HashLeaf(row.leaf);
  std::optional<merkle::Hash> stored = merkle::FromBytes(row.leaf_hash);
  if (!stored.has_value() || *stored != computed) {
    return Find(Problem::kModified, seq, at + "stored leaf hash does not match the record's bytes");
  }
  auto parsed = internal::ParseLeaf(row.leaf);
  if (!parsed.ok()) return Find(Problem::kModified, seq, at + parsed.status().message());
  if (parsed->seq != seq) {
    return ClassifyMisplaced(seq, parsed->seq);
  }
  if (parsed->logged_us != row.logged) {
    return Find(Problem::kModified, seq, at + "log time column differs from the leaf");
  }
  if (seq > 0 && row.logged < prev_logged_) {
    return Find(Problem::kReordered, seq, at + "log time is earlier than the record before");
  }
  prev_logged_ = row.logged;

  {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                          conn_.PrepareLiteral("SELECT data FROM personal WHERE seq = ?"));
    Statement st(raw);
    st.Bind(1, seq);
    SUND_ASSIGN_OR_RETURN(bool found, st.Step());
    // No row: retention deleted the clear data, which the leaf does not need.
    if (found && internal::PersonalDigest(salt_, st.Text(0)) != parsed->personal_digest) {
      return Find(Problem::kModified, seq, at + "clear personal data does not match the leaf");
    }
  }
  for (const merkle::Hash& h : parsed->patient_hashes) {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_.PrepareLiteral("SELECT 1 FROM patient_index WHERE patient_hash = ? AND seq = ?"));
    Statement st(raw);
    st.BindBlob(1, merkle::Bytes(h));
    st.Bind(2, seq);
    SUND_ASSIGN_OR_RETURN(bool found, st.Step());
    if (!found) {
      return Find(Problem::kModified, seq,
                  at + "a patient of the record is missing from the patient index");
    }
  }
  index_rows_ += static_cast<std::int64_t>(parsed->patient_hashes.size());

  completed_.clear();
  frontier_.Append(computed, &completed_);
  for (const auto& node : completed_) {
    if (node.level < internal::kStoredNodeLevel) continue;
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        conn_.PrepareLiteral("SELECT hash FROM node WHERE level = ? AND idx = ?"));
    Statement st(raw);
    st.Bind(1, std::int64_t{node.level});
    st.Bind(2, static_cast<std::int64_t>(node.index));
    SUND_ASSIGN_OR_RETURN(bool found, st.Step());
    if (!found || merkle::FromBytes(st.Text(0)) != node.hash) {
      auto first = static_cast<std::int64_t>(node.index << node.level);
      return Find(Problem::kBadNode, first,
                  "stored node " + Str(node.level) + "/" +
                      Str(static_cast<std::int64_t>(node.index)) + " (records from " + Str(first) +
                      ") is missing or differs");
    }
  }
  return std::optional<Finding>();
}

Result<std::optional<Finding>> Verifier::FindExtraIndexRow() {
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_.PrepareLiteral("SELECT i.seq, i.patient_hash, r.leaf FROM patient_index i "
                           "LEFT JOIN record r ON r.seq = i.seq ORDER BY i.seq"));
  Statement st(raw);
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::int64_t seq = st.Int(0);
    bool ok = false;
    if (!st.IsNull(2)) {
      auto parsed = internal::ParseLeaf(st.Text(2));
      std::optional<merkle::Hash> h = merkle::FromBytes(st.Text(1));
      if (parsed.ok() && h.has_value()) {
        for (const auto& p : parsed->patient_hashes) ok = ok || p == *h;
      }
    }
    if (!ok) {
      return Find(Problem::kModified, seq,
                  "record " + Str(seq) + ": the patient index names a patient the record does not");
    }
  }
  return Find(Problem::kModified, 0, "the patient index has rows no record accounts for");
}

Result<std::optional<Finding>> Verifier::Run(VerifyReport& report) {
  SUND_ASSIGN_OR_RETURN(std::vector<Checkpoint> checkpoints, LoadCheckpoints());
  std::size_t next_cp = 0;
  while (next_cp < checkpoints.size() && checkpoints[next_cp].size <= 0) {
    const Checkpoint& cp = checkpoints[next_cp++];
    if (cp.size < 0 || cp.root != merkle::EmptyRoot()) {
      return Find(Problem::kBadCheckpoint, cp.size, "checkpoint with an impossible tree size");
    }
    if (auto f = CheckCheckpoint(cp)) return f;
    ++report.checkpoints;
  }

  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      conn_.PrepareLiteral("SELECT seq, logged, leaf_hash, leaf FROM record ORDER BY seq"));
  Statement st(raw);
  std::int64_t expected = 0;
  Row row;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool more, st.Step());
    if (!more) break;
    row.seq = st.Int(0);
    row.logged = st.Int(1);
    row.leaf_hash.assign(st.Text(2));
    row.leaf.assign(st.Text(3));
    if (row.seq < expected) {
      return Find(Problem::kInserted, row.seq,
                  "record with an impossible sequence number " + Str(row.seq));
    }
    if (row.seq > expected) {
      return Find(Problem::kDeleted, expected,
                  "records " + Str(expected) + " to " + Str(row.seq - 1) + " are missing");
    }
    SUND_ASSIGN_OR_RETURN(std::optional<Finding> f, CheckRecord(row));
    if (f.has_value()) return f;
    ++expected;
    report.records = expected;
    while (next_cp < checkpoints.size() && checkpoints[next_cp].size == expected) {
      if (auto cf = CheckCheckpoint(checkpoints[next_cp])) return cf;
      ++next_cp;
      ++report.checkpoints;
      report.verified_size = last_good_size_;
    }
  }
  if (next_cp < checkpoints.size()) {
    return Find(Problem::kDeleted, expected,
                "the log ends at record " + Str(expected - 1) + " but a checkpoint covers " +
                    Str(checkpoints[next_cp].size) + " records");
  }
  {
    // Clear personal data is only ever written with its record, so a row past the end shows
    // that records were cut off, also after the last checkpoint.
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * personal_raw,
                          conn_.PrepareLiteral("SELECT max(seq) FROM personal"));
    Statement personal(personal_raw);
    SUND_ASSIGN_OR_RETURN(bool has, personal.Step());
    if (has && !personal.IsNull(0) && personal.Int(0) >= expected) {
      return Find(Problem::kDeleted, expected,
                  "the log ends at record " + Str(expected - 1) + " but clear data of record " +
                      Str(personal.Int(0)) + " is stored");
    }
  }
  {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * count_raw,
                          conn_.PrepareLiteral("SELECT count(*) FROM patient_index"));
    Statement count(count_raw);
    SUND_ASSIGN_OR_RETURN(bool has, count.Step());
    if (has && count.Int(0) != index_rows_) {
      return FindExtraIndexRow();
    }
  }
  return std::optional<Finding>();
}

}  // namespace

Result<VerifyReport> Verify(const std::string& dir, const std::string& key_path) {
  std::filesystem::path base(dir);
  std::string db_path = (base / internal::kDbFile).string();
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) return NotFound("no audit log in " + dir);
  SUND_ASSIGN_OR_RETURN(
      auto key,
      internal::LoadKey(key_path.empty() ? (base / internal::kKeyFile).string() : key_path));
  SUND_ASSIGN_OR_RETURN(auto verify_key, crypto::VerifyKey::FromSigningKey(key));
  SUND_ASSIGN_OR_RETURN(std::string salt,
                        internal::LoadSalt((base / internal::kSaltFile).string()));
  SUND_ASSIGN_OR_RETURN(auto conn, Connection::Open(db_path, true));
  {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn->Prepare("PRAGMA user_version"));
    Statement st(raw);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.Int(0) != 1) return Internal("audit.db has an unknown schema version");
  }
  // One read transaction: the whole check sees one snapshot, even beside a live writer.
  SUND_RETURN_IF_ERROR(conn->Exec("BEGIN"));
  VerifyReport report;
  Verifier verifier(*conn, verify_key, key.kid(), std::move(salt));
  auto found = verifier.Run(report);
  conn->Exec("COMMIT").IgnoreError();
  SUND_RETURN_IF_ERROR(found.status());
  report.first_problem = std::move(found).value();
  return report;
}

}  // namespace sund::audit
