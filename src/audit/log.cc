#include "audit/log.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "audit/internal/leaf.h"
#include "audit/internal/store.h"
#include "core/crypto.h"
#include "core/log.h"
#include "storage/sqlite/db.h"

namespace sund::audit {

using storage::sqlite::Connection;
using storage::sqlite::Statement;

namespace {

constexpr std::int64_t kMicrosPerDay = 86'400'000'000;

Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

// Runs `sql` (a literal) once with `params`, without results.
Status Run(Connection& conn, const char* sql, const std::vector<storage::sqlite::Param>& params) {
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, conn.PrepareLiteral(sql));
  Statement st(raw);
  st.BindAll(params);
  return st.Run();
}

}  // namespace

std::string CheckpointText(std::int64_t size, const merkle::Hash& root, std::int64_t time_us) {
  return "sund-audit-checkpoint\n" + std::to_string(size) + "\n" +
         crypto::Base64Encode(merkle::Bytes(root)) + "\n" + std::to_string(time_us);
}

struct AuditLog::Impl {
  // One unit of the writer's queue: an append (`task` null), or a task run as the writer.
  struct Job {
    internal::PreparedLeaf leaf;
    AppendDone done;
    std::function<void()> task;
    std::int64_t seq = -1;  // set by WriteBatchInTransaction
  };

  Impl(std::string d, Options o, std::string s, crypto::SigningKey k)
      : dir(std::move(d)), options(std::move(o)), salt(std::move(s)), key(std::move(k)) {
    clock = options.clock != nullptr ? options.clock : &SystemClock::Get();
  }
  ~Impl() { StopWriter(); }

  std::string dir;
  Options options;
  const Clock* clock = nullptr;
  crypto::HmacSha256Key salt;
  crypto::SigningKey key;

  // Writer state: touched only on the writer thread (before it starts and after it is joined,
  // by the thread that opens or destroys the log).
  std::unique_ptr<Connection> wconn;
  merkle::CompactRange frontier;
  std::int64_t last_logged = 0;
  std::int64_t last_checkpoint_size = 0;
  std::int64_t last_checkpoint_time = 0;

  std::thread writer;
  std::thread::id writer_id;  // set before Open returns, never changed while the writer runs

  std::mutex mu;  // guards `queue` and `stopping`
  std::condition_variable cv;
  std::vector<Job> queue;
  bool stopping = false;
  std::atomic<std::int64_t> size{0};

  std::mutex read_mu;
  std::unique_ptr<Connection> rconn;

  Status LoadState();
  // Internal when the thread cannot be created.
  Status StartWriter();
  // Runs the queue until it is empty, then ends the writer thread and joins it.
  void StopWriter();
  void Enqueue(Job job);
  void WriterLoop();
  // Runs `jobs` in order: each run of appends is one transaction, followed by its callbacks.
  void RunJobs(std::vector<Job>& jobs);
  // Calls the callbacks of a written (or failed) batch.
  void Deliver(const std::vector<Job*>& batch, const Status& status);
  bool OnWriter() const { return std::this_thread::get_id() == writer_id; }
  // Runs `fn` on the writer thread, in queue order, and returns its status.
  Status AsWriter(const std::function<Status()>& fn);
  // Writes `batch` in one transaction; on failure nothing of it stays and the writer state is
  // as before. Writer thread only.
  Status WriteBatch(const std::vector<Job*>& batch);
  Status WriteBatchInTransaction(const std::vector<Job*>& batch);
  // Signs a checkpoint in its own transaction unless the last one covers the tree.
  Status CheckpointNow();
  // The writer's periodic work: a due checkpoint, and retention when `retention` is due or a
  // previous run stopped at its chunk limit.
  void Maintain(bool retention);
  // Deletes the clear personal data of at most `limit` records logged before now_us minus the
  // retention period, oldest first, in one transaction; returns how many. Writer thread only.
  Result<std::int64_t> Purge(std::int64_t now_us, std::int64_t limit);
  bool retention_pending = false;  // writer thread only
  // Inserts a signed checkpoint of the current frontier (inside the caller's transaction).
  Status SignCheckpoint(std::int64_t time_us);
  bool CheckpointDue(std::int64_t now_us) const {
    auto n = static_cast<std::int64_t>(frontier.size());
    if (n <= last_checkpoint_size) return false;
    return n - last_checkpoint_size >= options.checkpoint_every_records ||
           now_us - last_checkpoint_time >= options.checkpoint_every_us;
  }
  std::int64_t NextLogTime() {
    last_logged = std::max(last_logged, clock->NowMicros());
    return last_logged;
  }
};

Status AuditLog::Impl::LoadState() {
  Connection& c = *wconn;
  std::int64_t n = 0;
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        c.PrepareLiteral("SELECT seq, logged FROM record ORDER BY seq DESC LIMIT 1"));
    Statement st(raw);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      n = st.Int(0) + 1;
      last_logged = st.Int(1);
    }
  }
  // The right edge: one perfect subtree per set bit of n, largest first.
  internal::DbNodeReader reader(c);
  std::vector<merkle::Hash> edge;
  std::uint64_t at = 0;
  for (int level = 62; level >= 0; --level) {
    std::uint64_t width = std::uint64_t{1} << level;
    if ((static_cast<std::uint64_t>(n) & width) == 0) continue;
    SUND_ASSIGN_OR_RETURN(merkle::Hash h, reader.Node(level, at >> level));
    edge.push_back(h);
    at += width;
  }
  SUND_ASSIGN_OR_RETURN(frontier,
                        merkle::CompactRange::FromHashes(static_cast<std::uint64_t>(n), edge));
  size.store(n);
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        c.PrepareLiteral("SELECT size, time FROM checkpoint ORDER BY size DESC LIMIT 1"));
    Statement st(raw);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      last_checkpoint_size = st.Int(0);
      last_checkpoint_time = st.Int(1);
      last_logged = std::max(last_logged, last_checkpoint_time);
    } else {
      last_checkpoint_time = clock->NowMicros();
    }
  }
  return Status::Ok();
}

Status AuditLog::Impl::StartWriter() {
  try {
    writer = std::thread([this] { WriterLoop(); });
  } catch (const std::system_error& e) {
    return Internal(std::string("cannot start the audit writer thread: ") + e.what());
  }
  writer_id = writer.get_id();
  return Status::Ok();
}

void AuditLog::Impl::StopWriter() {
  if (!writer.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu);
    stopping = true;
  }
  cv.notify_all();
  writer.join();
  writer_id = std::thread::id();
}

void AuditLog::Impl::Enqueue(Job job) {
  {
    std::lock_guard<std::mutex> l(mu);
    queue.push_back(std::move(job));
  }
  cv.notify_one();
}

void AuditLog::Impl::WriterLoop() {
  std::vector<Job> jobs;
  std::unique_lock<std::mutex> l(mu);
  const auto every = std::chrono::microseconds(options.maintenance_every_us);
  auto next_maintenance = std::chrono::steady_clock::now() + every;
  auto next_retention = std::chrono::steady_clock::now();  // at the first maintenance
  while (true) {
    auto ready = [&] { return !queue.empty() || stopping; };
    if (every.count() > 0) {
      cv.wait_until(l, next_maintenance, ready);
    } else {
      cv.wait(l, ready);
    }
    if (stopping && queue.empty()) return;  // everything queued has run
    if (!queue.empty()) {
      // Group commit: every append queued while the last batch was written goes into the next.
      jobs.swap(queue);
      l.unlock();
      RunJobs(jobs);
      jobs.clear();
      l.lock();
    }
    auto now = std::chrono::steady_clock::now();
    if (every.count() > 0 && now >= next_maintenance) {
      next_maintenance = now + every;
      bool retention = now >= next_retention;
      if (retention) next_retention = now + std::chrono::hours(24);
      l.unlock();
      Maintain(retention);
      l.lock();
    }
  }
}

void AuditLog::Impl::Maintain(bool retention) {
  // Signed checkpoints also come while no records do, so the last records are covered soon.
  if (CheckpointDue(clock->NowMicros())) {
    if (Status s = CheckpointNow(); !s.ok())
      log::Warn("audit: checkpoint failed: {}", s.ToString());
  }
  if (retention) retention_pending = true;
  if (retention_pending) {
    // In chunks, one per maintenance, so that a large backlog never holds appends for long.
    auto purged = Purge(clock->NowMicros(), options.retention_chunk);
    retention_pending = purged.ok() && *purged == options.retention_chunk;
    if (!purged.ok()) {
      log::Warn("audit: retention failed: {}", purged.status().ToString());
    } else if (*purged > 0) {
      log::Info("audit: retention deleted the personal data of {} records", *purged);
    }
  }
}

void AuditLog::Impl::RunJobs(std::vector<Job>& jobs) {
  std::vector<Job*> batch;
  std::size_t i = 0;
  while (i < jobs.size()) {
    if (jobs[i].task) {
      jobs[i].task();
      ++i;
      continue;
    }
    batch.clear();
    for (; i < jobs.size() && !jobs[i].task; ++i) batch.push_back(&jobs[i]);
    Status s = WriteBatch(batch);
    size.store(static_cast<std::int64_t>(frontier.size()));
    Deliver(batch, s);
  }
}

void AuditLog::Impl::Deliver(const std::vector<Job*>& batch, const Status& status) {
  for (Job* job : batch) {
    Result<std::int64_t> outcome =
        status.ok()
            ? Result<std::int64_t>(job->seq)
            : Result<std::int64_t>(Unavailable("audit record not written: " + status.message()));
    try {
      job->done(std::move(outcome));
    } catch (const std::exception& e) {
      log::Error("audit: an append callback threw: {}", e.what());
    } catch (...) {
      log::Error("audit: an append callback threw a non-standard exception");
    }
  }
}

Status AuditLog::Impl::AsWriter(const std::function<Status()>& fn) {
  if (OnWriter()) return fn();
  // Shared, so that the writer's set_value never outlives the promise when this thread wakes.
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> f = result->get_future();
  Job job;
  job.task = [result, &fn] { result->set_value(fn()); };
  Enqueue(std::move(job));
  return f.get();
}

Status AuditLog::Impl::CheckpointNow() {
  if (static_cast<std::int64_t>(frontier.size()) <= last_checkpoint_size) return Status::Ok();
  std::int64_t saved_size = last_checkpoint_size;
  std::int64_t saved_time = last_checkpoint_time;
  SUND_RETURN_IF_ERROR(wconn->Exec("BEGIN IMMEDIATE"));
  Status s = SignCheckpoint(NextLogTime());
  if (s.ok()) s = wconn->Exec("COMMIT");
  if (!s.ok()) {
    wconn->Exec("ROLLBACK").IgnoreError();
    last_checkpoint_size = saved_size;
    last_checkpoint_time = saved_time;
  }
  return s;
}

Status AuditLog::Impl::SignCheckpoint(std::int64_t time_us) {
  auto n = static_cast<std::int64_t>(frontier.size());
  merkle::Hash root = frontier.Root();
  SUND_ASSIGN_OR_RETURN(std::string sig, key.Sign(CheckpointText(n, root, time_us)));
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      wconn->PrepareLiteral(
          "INSERT INTO checkpoint (size, root, time, signature, kid) VALUES (?, ?, ?, ?, ?)"));
  Statement st(raw);
  st.Bind(1, n);
  st.BindBlob(2, merkle::Bytes(root));
  st.Bind(3, time_us);
  st.BindBlob(4, sig);
  std::string kid = key.kid();
  st.Bind(5, std::string_view(kid));
  SUND_RETURN_IF_ERROR(st.Run());
  last_checkpoint_size = n;
  last_checkpoint_time = time_us;
  return Status::Ok();
}

Status AuditLog::Impl::WriteBatchInTransaction(const std::vector<Job*>& batch) {
  Connection& c = *wconn;
  SUND_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE"));
  std::vector<merkle::CompactRange::Completed> completed;
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * ins_record,
      c.PrepareLiteral("INSERT INTO record (seq, logged, leaf_hash, leaf) VALUES (?, ?, ?, ?)"));
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * ins_personal,
                        c.PrepareLiteral("INSERT INTO personal (seq, data) VALUES (?, ?)"));
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * ins_index,
      c.PrepareLiteral("INSERT INTO patient_index (patient_hash, seq) VALUES (?, ?)"));
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * ins_node,
                        c.PrepareLiteral("INSERT INTO node (level, idx, hash) VALUES (?, ?, ?)"));
  std::int64_t logged = 0;
  for (Job* p : batch) {
    auto seq = static_cast<std::int64_t>(frontier.size());
    logged = NextLogTime();
    std::string leaf = internal::LeafBytes(seq, logged, p->leaf);
    merkle::Hash leaf_hash = merkle::HashLeaf(leaf);
    {
      Statement st(ins_record);
      st.Bind(1, seq);
      st.Bind(2, logged);
      st.BindBlob(3, merkle::Bytes(leaf_hash));
      st.BindBlob(4, leaf);
      SUND_RETURN_IF_ERROR(st.Run());
    }
    {
      Statement st(ins_personal);
      st.Bind(1, seq);
      st.BindBlob(2, p->leaf.personal);
      SUND_RETURN_IF_ERROR(st.Run());
    }
    for (const merkle::Hash& h : p->leaf.patient_hashes) {
      Statement st(ins_index);
      st.BindBlob(1, merkle::Bytes(h));
      st.Bind(2, seq);
      SUND_RETURN_IF_ERROR(st.Run());
    }
    completed.clear();
    frontier.Append(leaf_hash, &completed);
    for (const auto& node : completed) {
      if (node.level < internal::kStoredNodeLevel) continue;
      Statement st(ins_node);
      st.Bind(1, std::int64_t{node.level});
      st.Bind(2, static_cast<std::int64_t>(node.index));
      st.BindBlob(3, merkle::Bytes(node.hash));
      SUND_RETURN_IF_ERROR(st.Run());
    }
    p->seq = seq;
  }
  if (CheckpointDue(logged)) SUND_RETURN_IF_ERROR(SignCheckpoint(logged));
  return c.Exec("COMMIT");
}

Status AuditLog::Impl::WriteBatch(const std::vector<Job*>& batch) {
  merkle::CompactRange saved_frontier = frontier;
  std::int64_t saved_logged = last_logged;
  std::int64_t saved_cp_size = last_checkpoint_size;
  std::int64_t saved_cp_time = last_checkpoint_time;
  Status s = WriteBatchInTransaction(batch);
  if (!s.ok()) {
    wconn->Exec("ROLLBACK").IgnoreError();
    frontier = std::move(saved_frontier);
    last_logged = saved_logged;
    last_checkpoint_size = saved_cp_size;
    last_checkpoint_time = saved_cp_time;
  }
  return s;
}

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  impl_->StopWriter();
  // The writer thread has ended: this thread is the writer now.
  Status s = impl_->CheckpointNow();
  if (!s.ok()) log::Warn("audit: final checkpoint failed: {}", s.ToString());
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& dir, Options options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create audit directory " + dir);
  std::filesystem::path base(dir);
  std::string key_path =
      options.key_path.empty() ? (base / internal::kKeyFile).string() : options.key_path;
  SUND_ASSIGN_OR_RETURN(std::string salt,
                        internal::LoadOrCreateSalt((base / internal::kSaltFile).string()));
  SUND_ASSIGN_OR_RETURN(auto key, internal::LoadOrCreateKey(key_path));
  auto impl = std::make_unique<Impl>(dir, std::move(options), std::move(salt), std::move(key));

  std::string db_path = (base / internal::kDbFile).string();
  SUND_ASSIGN_OR_RETURN(impl->wconn, Connection::Open(db_path, false));
  // FULL: each commit syncs the WAL, so an acknowledged append survives a power cut.
  // secure_delete: retention overwrites the clear personal data it deletes.
  SUND_RETURN_IF_ERROR(
      impl->wconn->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                        "PRAGMA secure_delete = ON;"));
  SUND_RETURN_IF_ERROR(internal::Migrate(*impl->wconn));
  SUND_RETURN_IF_ERROR(impl->LoadState());
  SUND_ASSIGN_OR_RETURN(impl->rconn, Connection::Open(db_path, false));
  SUND_RETURN_IF_ERROR(impl->StartWriter());
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

void AuditLog::AppendAsync(const Record& record, AppendDone done) {
  Impl::Job job;
  job.leaf = internal::Prepare(record, impl_->salt);
  job.done = std::move(done);
  impl_->Enqueue(std::move(job));
}

Result<std::int64_t> AuditLog::Append(const Record& record) {
  Impl& m = *impl_;
  if (m.OnWriter()) {
    // Called from an append callback: the writer is between transactions, so write right here
    // (waiting for the queue would wait for this very thread).
    Impl::Job job;
    job.leaf = internal::Prepare(record, m.salt);
    std::vector<Impl::Job*> batch{&job};
    Status s = m.WriteBatch(batch);
    m.size.store(static_cast<std::int64_t>(m.frontier.size()));
    if (!s.ok()) return Unavailable("audit record not written: " + s.message());
    return job.seq;
  }
  auto result = std::make_shared<std::promise<Result<std::int64_t>>>();
  std::future<Result<std::int64_t>> f = result->get_future();
  AppendAsync(record, [result](Result<std::int64_t> r) { result->set_value(std::move(r)); });
  return f.get();
}

Status AuditLog::Checkpoint() {
  Impl& m = *impl_;
  return m.AsWriter([&m] { return m.CheckpointNow(); });
}

Result<std::int64_t> AuditLog::Impl::Purge(std::int64_t now_us, std::int64_t limit) {
  std::int64_t cutoff = now_us - options.retention_days * kMicrosPerDay;
  Connection& c = *wconn;
  // Log times never decrease with seq, so the records to purge are a prefix: find its end.
  std::int64_t lo = 0;
  auto hi = static_cast<std::int64_t>(frontier.size());
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                        c.PrepareLiteral("SELECT logged FROM record WHERE seq = ?"));
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    Statement st(raw);
    st.Bind(1, mid);
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Internal("audit record " + std::to_string(mid) + " is missing");
    if (st.Int(0) < cutoff) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  SUND_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE"));
  Status del = Run(c,
                   "DELETE FROM personal WHERE seq IN "
                   "(SELECT seq FROM personal WHERE seq < ? ORDER BY seq LIMIT ?)",
                   {lo, limit});
  std::int64_t deleted = 0;
  if (del.ok()) {
    deleted = sqlite3_changes(c.raw());
    del = c.Exec("COMMIT");
  }
  if (!del.ok()) {
    c.Exec("ROLLBACK").IgnoreError();
    return del;
  }
  return deleted;
}

Result<std::int64_t> AuditLog::ApplyRetention(std::int64_t now_us) {
  Impl& m = *impl_;
  std::int64_t deleted = 0;
  SUND_RETURN_IF_ERROR(m.AsWriter([&]() -> Status {
    while (true) {
      SUND_ASSIGN_OR_RETURN(std::int64_t n, m.Purge(now_us, m.options.retention_chunk));
      deleted += n;
      if (n < m.options.retention_chunk) return Status::Ok();
    }
  }));
  return deleted;
}

Result<std::vector<StoredRecord>> AuditLog::RecordsForPatient(std::string_view patient_id,
                                                              int limit, std::int64_t before_seq) {
  Impl& m = *impl_;
  merkle::Hash h = internal::PatientHash(m.salt, patient_id);
  std::lock_guard<std::mutex> l(m.read_mu);
  SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                        m.rconn->PrepareLiteral(
                            "SELECT r.seq, r.logged, r.leaf, p.data FROM patient_index i "
                            "JOIN record r ON r.seq = i.seq LEFT JOIN personal p ON p.seq = i.seq "
                            "WHERE i.patient_hash = ? AND i.seq < ? ORDER BY i.seq DESC LIMIT ?"));
  Statement st(raw);
  st.BindBlob(1, merkle::Bytes(h));
  st.Bind(2, before_seq);
  st.Bind(3, std::int64_t{std::max(limit, 0)});
  std::vector<StoredRecord> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    StoredRecord r;
    r.seq = st.Int(0);
    r.logged_us = st.Int(1);
    auto parsed = internal::ParseLeaf(st.Text(2));
    if (!parsed.ok()) {
      return Internal("audit record " + std::to_string(r.seq) + ": " + parsed.status().message());
    }
    r.record = std::move(parsed->record);
    if (st.IsNull(3)) {
      r.personal_deleted = true;
    } else {
      Status ps = internal::ParsePersonal(st.Text(3), r.record);
      if (!ps.ok()) return Internal("audit record " + std::to_string(r.seq) + ": " + ps.message());
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Checkpoint>> AuditLog::Checkpoints() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.read_mu);
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      m.rconn->PrepareLiteral(
          "SELECT size, root, time, signature, kid FROM checkpoint ORDER BY size"));
  Statement st(raw);
  std::vector<audit::Checkpoint> out;
  while (true) {
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    audit::Checkpoint cp;
    cp.size = st.Int(0);
    std::optional<merkle::Hash> root = merkle::FromBytes(st.Text(1));
    if (!root.has_value()) {
      return Internal("audit checkpoint " + std::to_string(cp.size) + " has a malformed root");
    }
    cp.root = *root;
    cp.time_us = st.Int(2);
    cp.signature = std::string(st.Text(3));
    cp.kid = std::string(st.Text(4));
    out.push_back(std::move(cp));
  }
  return out;
}

std::int64_t AuditLog::Size() const { return impl_->size.load(); }

Result<merkle::Hash> AuditLog::Root(std::int64_t size) {
  Impl& m = *impl_;
  if (size < 0 || size > Size()) return InvalidArgument("tree size outside the log");
  std::lock_guard<std::mutex> l(m.read_mu);
  internal::DbNodeReader reader(*m.rconn);
  return merkle::Root(reader, static_cast<std::uint64_t>(size));
}

Result<Inclusion> AuditLog::InclusionProof(std::int64_t seq, std::int64_t tree_size) {
  Impl& m = *impl_;
  if (seq < 0 || seq >= tree_size || tree_size > Size()) {
    return InvalidArgument("record or tree size outside the log");
  }
  std::lock_guard<std::mutex> l(m.read_mu);
  internal::DbNodeReader reader(*m.rconn);
  Inclusion out;
  out.seq = seq;
  out.tree_size = tree_size;
  SUND_ASSIGN_OR_RETURN(out.leaf_hash, reader.Node(0, static_cast<std::uint64_t>(seq)));
  SUND_ASSIGN_OR_RETURN(out.path, merkle::InclusionProof(reader, static_cast<std::uint64_t>(seq),
                                                         static_cast<std::uint64_t>(tree_size)));
  return out;
}

Result<Consistency> AuditLog::ConsistencyProof(std::int64_t size1, std::int64_t size2) {
  Impl& m = *impl_;
  if (size1 < 0 || size1 > size2 || size2 > Size()) {
    return InvalidArgument("tree sizes outside the log or out of order");
  }
  std::lock_guard<std::mutex> l(m.read_mu);
  internal::DbNodeReader reader(*m.rconn);
  Consistency out;
  out.size1 = size1;
  out.size2 = size2;
  SUND_ASSIGN_OR_RETURN(out.path,
                        merkle::ConsistencyProof(reader, static_cast<std::uint64_t>(size1),
                                                 static_cast<std::uint64_t>(size2)));
  return out;
}

std::string AuditLog::PublicJwk() const { return impl_->key.PublicJwk(); }

std::function<void(std::function<void(bool)>)> AppendStep(AuditLog& log, Record record) {
  return [&log, record = std::move(record)](std::function<void(bool)> done) {
    log.AppendAsync(record, [done = std::move(done)](Result<std::int64_t> seq) {
      if (!seq.ok()) log::Error("audit: a request was refused: {}", seq.status().message());
      done(seq.ok());
    });
  };
}

}  // namespace sund::audit
