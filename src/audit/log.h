// AuditLog: Sund's append-only, tamper-evident audit log in DIR/audit.db (SQLite, WAL,
// synchronous=FULL): every record is a leaf of an RFC 6962 Merkle tree, and the log signs
// checkpoints (tree size, root hash, time) with its own ES256 key, DIR/audit-key.pem. Verify()
// recomputes everything from the stored bytes and names the first bad record.
//
// Used once per FHIR request and per authorization event, from many threads. The log owns one
// writer thread: AppendAsync() prepares the leaf (HMACs and JSON) on the caller's thread, queues
// it and returns at once; the writer takes every append queued while it was busy into one
// transaction (group commit), so the cost of the fsync is shared, and then calls each append's
// `done` on the writer thread. `done` with a sequence number means durable (the transaction
// committed with synchronous=FULL, so it survives a power cut); `done` with an error means the
// record was not written, and the caller must not serve the request (fail closed, 503). Append()
// is the blocking form of the same. Checkpoint() and ApplyRetention() run on the writer thread
// too, in queue order. Queries run on a second connection behind their own mutex and see
// committed records only.
//
// Patient ids and the other personal fields enter the tree only as HMAC-SHA256 under the log's
// secret salt (DIR/audit-salt); their clear text lives in a separate row that ApplyRetention()
// deletes once the retention period has passed, without changing any leaf. Formats, schema and
// what Verify checks: src/audit/README.md. Thread-safety: all methods may be called from any
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "audit/record.h"
#include "core/status.h"
#include "core/time.h"

namespace sund::audit {

struct Options {
  // A checkpoint is signed in the same transaction as the append that brings the tree this many
  // records past the last checkpoint, or that comes this long after it (only when the tree grew).
  std::int64_t checkpoint_every_records = 1000;
  std::int64_t checkpoint_every_us = 10'000'000;
  // How long the clear personal data of a record is kept (ApplyRetention).
  std::int64_t retention_days = 730;
  // The writer's own upkeep: this often (also while no appends come) it signs a checkpoint when
  // one is due by the rules above, and once a day, starting with the first time, it applies
  // retention. 0: never (callers call Checkpoint and ApplyRetention themselves).
  std::int64_t maintenance_every_us = 1'000'000;
  // Records whose personal data one retention transaction deletes (appends wait while it runs;
  // the writer's own retention does one chunk per maintenance until the backlog is gone).
  std::int64_t retention_chunk = 10'000;
  // The ES256 signing key (PKCS#8 PEM); created with mode 0600 when missing. "" means
  // DIR/audit-key.pem.
  std::string key_path;
  // Time source for the log time of records and checkpoints; the system clock when null.
  const Clock* clock = nullptr;
};

// A signed tree head. The signature is ES256 (JWS R||S) over CheckpointText(size, root, time).
struct Checkpoint {
  std::int64_t size = 0;
  merkle::Hash root{};
  std::int64_t time_us = 0;
  std::string signature;  // 64 raw bytes
  std::string kid;        // RFC 7638 thumbprint of the signing key
};

// "sund-audit-checkpoint\n<size>\n<base64 root>\n<time>": the text a checkpoint signs. Size and
// time (microseconds since the Unix epoch) in decimal, the root in standard base64 with padding.
std::string CheckpointText(std::int64_t size, const merkle::Hash& root, std::int64_t time_us);

// Proof that record `seq` is leaf `seq` of the tree of `tree_size` records.
struct Inclusion {
  std::int64_t seq = 0;
  std::int64_t tree_size = 0;
  merkle::Hash leaf_hash{};
  std::vector<merkle::Hash> path;
};

// Proof that the tree of size2 records extends the tree of size1 records.
struct Consistency {
  std::int64_t size1 = 0;
  std::int64_t size2 = 0;
  std::vector<merkle::Hash> path;
};

// Called once per AppendAsync, on the log's writer thread, with the record's sequence number
// once its transaction has committed, or Unavailable when the write failed.
using AppendDone = std::function<void(Result<std::int64_t>)>;

class AuditLog {
 public:
  // Opens (creating when missing) the directory, the database, the key and the salt, rebuilds
  // the tree's right edge from stored nodes and starts the writer thread. Internal when a file
  // cannot be created or read, the key or salt file is malformed, audit.db has a newer schema,
  // or the thread cannot be started.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& dir, Options options = {});
  // Writes every append already queued (their `done` are called, and may queue more), stops the
  // writer thread, then signs a last checkpoint when records were appended since the previous
  // one (a failure is logged, not reported). Meanwhile only those callbacks may call the log.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends `record` durably in the background; never waits for the database. Calls `done`
  // exactly once, on the writer thread, after the transaction holding the record has committed
  // (with its sequence number, its leaf index from 0) or failed (Unavailable; the record is then
  // not in the log, and neither is any other record of that transaction). When `done` runs,
  // Size() and the queries already include the record. `done` should be quick: the writer runs
  // the callbacks of a transaction one after another before it starts the next one. It may call
  // any method of the log; an exception it throws is logged and dropped.
  void AppendAsync(const Record& record, AppendDone done);
  // AppendAsync, waiting for the outcome: the record's sequence number, or Unavailable when the
  // database write fails.
  Result<std::int64_t> Append(const Record& record);
  // Signs a checkpoint of the current tree unless the last checkpoint already covers it.
  Status Checkpoint();
  // Deletes the clear personal data (patient ids, resources, query, detail) of every record
  // logged before now_us minus the retention period; returns how many records lost it. Leaves,
  // leaf hashes and the patient index stay, so Verify keeps passing.
  Result<std::int64_t> ApplyRetention(std::int64_t now_us);

  // Records that name `patient_id` (a Patient's logical id), newest first, at most `limit`,
  // with seq < before_seq (for paging). Found through the HMAC index, so records whose clear
  // data retention has deleted are still listed (with personal_deleted set).
  Result<std::vector<StoredRecord>> RecordsForPatient(
      std::string_view patient_id, int limit,
      std::int64_t before_seq = std::numeric_limits<std::int64_t>::max());
  // Every checkpoint, by increasing size.
  Result<std::vector<audit::Checkpoint>> Checkpoints();
  // Committed records.
  std::int64_t Size() const;
  // MTH of the first `size` records. InvalidArgument when size exceeds Size().
  Result<merkle::Hash> Root(std::int64_t size);
  // InvalidArgument unless 0 <= seq < tree_size <= Size().
  Result<Inclusion> InclusionProof(std::int64_t seq, std::int64_t tree_size);
  // InvalidArgument unless 0 <= size1 <= size2 <= Size().
  Result<Consistency> ConsistencyProof(std::int64_t size1, std::int64_t size2);
  // The verification key as a public JWK (for auditors and citizens' apps).
  std::string PublicJwk() const;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A durable step for http::Response::before_send (it does not depend on http): appends
// `record` with AppendAsync and calls `done(true)` once it is durable, `done(false)` when it
// could not be written (the response is then not sent: 503, fail closed). `log` must outlive
// the step.
std::function<void(std::function<void(bool)>)> AppendStep(AuditLog& log, Record record);

// What Verify found wrong first.
enum class Problem : std::uint8_t {
  kModified,       // a record's bytes or stored leaf hash changed, or its clear data or index
  kDeleted,        // a record is missing (a gap, renumbering, or a checkpoint past the end)
  kReordered,      // records are out of their order (sequence numbers or log time)
  kInserted,       // a record that was never appended (two records claim one position)
  kBadCheckpoint,  // a checkpoint whose signature or key does not verify (forged or altered)
  kRootMismatch,   // a validly signed checkpoint disagrees with the recomputed tree
  kBadNode,        // a stored interior node (used for proofs) disagrees with the tree
};
std::string_view ProblemName(Problem problem);

struct Finding {
  Problem problem = Problem::kModified;
  // The first record concerned. For kRootMismatch the first record after the last checkpoint
  // that verified (the change lies between it and the failing checkpoint); for kBadCheckpoint
  // the failing checkpoint's tree size.
  std::int64_t seq = 0;
  std::string detail;  // ids and reasons only, never record contents
};

struct VerifyReport {
  std::int64_t records = 0;              // records checked
  std::int64_t checkpoints = 0;          // checkpoints checked
  std::int64_t verified_size = 0;        // tree size covered by the last good checkpoint
  std::optional<Finding> first_problem;  // nullopt when the log is intact
  bool ok() const { return !first_problem.has_value(); }
};

// Checks the log in `dir` (read-only; may run beside a live AuditLog): recomputes each leaf hash
// from the stored bytes and compares it with the stored one, checks that sequence numbers are
// contiguous and match the leaves, that log times never decrease, that the clear personal data
// and the patient index match the leaves' HMACs, recomputes the tree and every stored interior
// node, and checks every checkpoint's signature and root. Stops at the first problem. Errors
// (not findings): Internal or NotFound when audit.db, the key or the salt cannot be read.
Result<VerifyReport> Verify(const std::string& dir, const std::string& key_path = "");

}  // namespace sund::audit
