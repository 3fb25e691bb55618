#include "storage/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "core/log.h"
#include "core/time.h"
#include "fhir/model.h"
#include "storage/internal/queries.h"
#include "storage/internal/sp_ids.h"
#include "storage/sqlite/db.h"
#include "storage/sqlite/internal/schema.h"

namespace sund::storage {
namespace {

using sqlite::Connection;
using sqlite::Param;
using sqlite::Statement;

class SqliteStore;

class SqliteWriteTransaction final : public WriteTransaction {
 public:
  SqliteWriteTransaction(SqliteStore& store, std::unique_lock<std::mutex> lock);
  ~SqliteWriteTransaction() override;

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override;
  Result<std::vector<std::string>> FindIds(const fhir::SearchQuery& query, int limit) override;
  Status Put(const ResourceVersion& v, std::vector<fhir::IndexEntry> index) override;
  Status Commit() override;
  Status Savepoint() override;
  Status ReleaseSavepoint() override;
  Status RollbackToSavepoint() override;

 private:
  Status InsertEntry(std::int64_t rid, std::int64_t sp, const fhir::IndexEntry& e, bool text_row);
  Status InsertIndex(std::int64_t rid, const std::vector<fhir::IndexEntry>& index,
                     std::string_view type);
  // Index rows of newly created resources are buffered and written sorted by key (at the
  // latest before a search in this transaction or the commit): sorted inserts touch each B-tree
  // page once instead of at random, which is most of the cost of a large import.
  struct Buffered {
    std::int64_t rid;
    std::string type;
    std::vector<fhir::IndexEntry> entries;
  };
  Status Flush();
  std::vector<Buffered> buffer_;
  std::size_t buffered_entries_ = 0;
  std::vector<std::size_t> savepoint_marks_;  // buffer_.size() at each open savepoint

  SqliteStore& store_;
  std::unique_lock<std::mutex> lock_;
  bool done_ = false;
  std::set<std::string, std::less<>> touched_;  // types written (for TypeStamp)
};

// Checkpoints run on a thread of their own, as SQLite advises for busy writers: the writer only
// appends its commits to the WAL; this thread copies the pages into the database file and syncs
// it, once the WAL holds `start_frames` pages. Should the WAL still grow to four times that (the
// checkpoint cannot keep up, or a reader holds an old snapshot), the writer checkpoints itself
// after its commit, as SQLite's own autocheckpoint would.
class Checkpointer {
 public:
  Checkpointer(std::unique_ptr<Connection> conn, int start_frames)
      : conn_(std::move(conn)), start_frames_(start_frames), thread_([this] { Run(); }) {}
  ~Checkpointer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  // Installed as the writer connection's WAL hook (replacing SQLite's autocheckpoint): called
  // after each commit with the number of frames in the WAL.
  static int OnCommit(void* self, sqlite3* db, const char* schema, int frames) {
    auto* c = static_cast<Checkpointer*>(self);
    if (frames >= 4 * c->start_frames_) {
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames >= c->start_frames_) {
      {
        std::lock_guard<std::mutex> l(c->mu_);
        c->pending_ = true;
      }
      c->cv_.notify_one();
    }
    return SQLITE_OK;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [&] { return stop_ || pending_; });
      if (stop_) return;
      pending_ = false;
      l.unlock();
      int rc = sqlite3_wal_checkpoint_v2(conn_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                         nullptr);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log::Warn("storage: background checkpoint failed: {}", sqlite3_errmsg(conn_->raw()));
      }
      l.lock();
    }
  }

  std::unique_ptr<Connection> conn_;
  const int start_frames_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteStore() override {
    // The checkpointer first (its connection), then the readers; the writer closes last and
    // checkpoints what is left.
    if (writer_ != nullptr) sqlite3_wal_hook(writer_->raw(), nullptr, nullptr);
    checkpointer_.reset();
    readers_.clear();
    writer_.reset();
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  }

  Status Open();

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override;
  Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                      std::int64_t version) override;
  Result<HistoryPage> History(const HistoryQuery& query) override;
  Result<SearchPage> Search(const fhir::SearchQuery& query) override;
  Result<std::vector<SearchHit>> Everything(std::string_view patient_id, int limit) override;
  Result<bool> InPatientCompartment(std::string_view type, std::string_view id,
                                    std::string_view patient) override;
  Result<ResourceVersion> ReadInPatientCompartment(std::string_view type, std::string_view id,
                                                   std::string_view patient) override;
  Result<std::int64_t> LastVid() override;
  Result<SnapshotPage> Snapshot(const SnapshotQuery& query) override;
  Result<std::unique_ptr<WriteTransaction>> BeginWrite() override;
  Result<std::string> TypeStamp(std::string_view type) override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType() override;

  Connection& writer() { return *writer_; }
  std::mutex& write_mutex() { return write_mu_; }
  // After a commit: the types it wrote have new stamps.
  void Touched(const std::set<std::string, std::less<>>& types) {
    std::lock_guard<std::mutex> l(stamp_mu_);
    for (const auto& t : types) {
      auto it = stamps_.find(t);
      if (it == stamps_.end()) {
        stamps_.emplace(t, 1);
      } else {
        ++it->second;
      }
    }
  }

  // The search compiler's parameter ids.
  const sql::SpLookup& sp_lookup() const { return sp_ids_.lookup(); }
  const sql::SpIds& sp_ids() const { return sp_ids_; }

 private:
  class ReaderLease {
   public:
    ReaderLease(SqliteStore& s, std::unique_ptr<Connection> c) : s_(s), c_(std::move(c)) {}
    ~ReaderLease() {
      std::lock_guard<std::mutex> l(s_.readers_mu_);
      s_.readers_.push_back(std::move(c_));
    }
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

   private:
    SqliteStore& s_;
    std::unique_ptr<Connection> c_;
  };
  Result<std::unique_ptr<ReaderLease>> Reader();
  Status Configure(Connection& c, bool writer);
  Status Migrate();
  Status LoadSearchParams();

  SqliteOptions options_;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::mutex write_mu_;
  int lock_fd_ = -1;  // DB.lock, flocked while open: one process owns the database
  std::mutex stamp_mu_;
  std::unordered_map<std::string, std::uint64_t> stamps_;  // type -> commits that wrote it
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> readers_;
  sql::SpIds sp_ids_;
};

Status SqliteStore::Configure(Connection& c, bool writer) {
  SUND_RETURN_IF_ERROR(
      c.Exec("PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY;"
             "PRAGMA mmap_size = 1073741824;"));
  SUND_RETURN_IF_ERROR(c.Exec("PRAGMA cache_size = -" + std::to_string(options_.cache_kib)));
  if (writer) {
    // Larger pages: fewer write system calls per commit (effective only on a new database).
    SUND_RETURN_IF_ERROR(c.Exec("PRAGMA page_size = 16384"));
    SUND_RETURN_IF_ERROR(c.Exec("PRAGMA journal_mode = WAL"));
    SUND_RETURN_IF_ERROR(c.Exec(options_.sync == SyncMode::kFull ? "PRAGMA synchronous = FULL"
                                                                 : "PRAGMA synchronous = NORMAL"));
  }
  return Status::Ok();
}

Status SqliteStore::Migrate() {
  return sqlite::ApplyMigrations(*writer_, sqlite::Migrations(), "storage");
}

Status SqliteStore::LoadSearchParams() {
  {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                          writer_->Prepare("SELECT sp, type, code FROM search_param"));
    Statement st(raw);
    while (true) {
      SUND_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      sp_ids_.Add(std::string(st.Text(1)), std::string(st.Text(2)), st.Int(0));
    }
  }
  SUND_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
  SUND_ASSIGN_OR_RETURN(
      sqlite3_stmt * ins,
      writer_->Prepare("INSERT INTO search_param (type, code, url) VALUES (?, ?, ?)"));
  for (const auto& [type, def] : sql::ModelSearchParams()) {
    if (sp_ids_.Has(type, def->code)) continue;
    Statement st(ins);
    st.Bind(1, std::string_view(type));
    st.Bind(2, std::string_view(def->code));
    st.Bind(3, std::string_view(def->url));
    Status s = st.Run();
    if (!s.ok()) {
      writer_->Exec("ROLLBACK").IgnoreError();
      return s;
    }
    sp_ids_.Add(type, def->code, writer_->LastInsertRowid());
  }
  SUND_RETURN_IF_ERROR(writer_->Exec("COMMIT"));
  // The compartment's parameters, as this database numbers them (schema migration 3).
  {
    SUND_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE; DELETE FROM compartment_sp;"));
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                          writer_->Prepare("INSERT OR IGNORE INTO compartment_sp (sp) VALUES (?)"));
    for (std::int64_t sp : sql::CompartmentSpIds(sp_ids_.lookup())) {
      Statement st(raw);
      st.Bind(1, sp);
      if (Status s = st.Run(); !s.ok()) {
        writer_->Exec("ROLLBACK").IgnoreError();
        return s;
      }
    }
    SUND_RETURN_IF_ERROR(writer_->Exec("COMMIT"));
  }
  sp_ids_.IndexModel();
  return Status::Ok();
}

Status SqliteStore::Open() {
  std::filesystem::path p(options_.path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return Internal("cannot create data directory " + p.parent_path().string());
  }
  // One process at a time: TypeStamp counts this process's commits, and the audit log and
  // the authorization server beside the database assume a single owner too.
  std::string lock_path = options_.path + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    int err = errno;
    std::string why = "cannot open " + lock_path + ": " + std::strerror(err);
    if (err == EACCES || err == EPERM || err == EROFS) {
      return Status(StatusCode::kPermissionDenied,
                    why + " (sund needs write access to its data directory)");
    }
    return Internal(why);
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status(StatusCode::kUnavailable,
                    options_.path + " is in use by another sund process (stop it first)");
    }
    return Internal("cannot lock " + lock_path);
  }
  SUND_ASSIGN_OR_RETURN(writer_, Connection::Open(options_.path, false));
  SUND_RETURN_IF_ERROR(Configure(*writer_, true));
  SUND_RETURN_IF_ERROR(Migrate());
  SUND_RETURN_IF_ERROR(LoadSearchParams());
  SUND_ASSIGN_OR_RETURN(auto conn, Connection::Open(options_.path, false));
  checkpointer_ = std::make_unique<Checkpointer>(std::move(conn), options_.checkpoint_frames);
  sqlite3_wal_hook(writer_->raw(), &Checkpointer::OnCommit, checkpointer_.get());
  return Status::Ok();
}

Result<std::unique_ptr<SqliteStore::ReaderLease>> SqliteStore::Reader() {
  {
    std::lock_guard<std::mutex> l(readers_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return std::make_unique<ReaderLease>(*this, std::move(c));
    }
  }
  SUND_ASSIGN_OR_RETURN(auto conn, Connection::Open(options_.path, false));
  SUND_RETURN_IF_ERROR(Configure(*conn, false));
  return std::make_unique<ReaderLease>(*this, std::move(conn));
}

Result<ResourceVersion> SqliteStore::Read(std::string_view type, std::string_view id) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::ReadCurrent(**reader, type, id);
}

Result<ResourceVersion> SqliteStore::ReadVersion(std::string_view type, std::string_view id,
                                                 std::int64_t version) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::ReadVersion(**reader, type, id, version);
}

Result<HistoryPage> SqliteStore::History(const HistoryQuery& q) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::History(**reader, q);
}

Result<bool> SqliteStore::InPatientCompartment(std::string_view type, std::string_view id,
                                               std::string_view patient) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::InPatientCompartment(**reader, type, id, patient);
}

Result<ResourceVersion> SqliteStore::ReadInPatientCompartment(std::string_view type,
                                                              std::string_view id,
                                                              std::string_view patient) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::ReadInPatientCompartment(**reader, type, id, patient);
}

Result<SearchPage> SqliteStore::Search(const fhir::SearchQuery& q) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::Search(**reader, sp_lookup(), q, false, 0);
}

Result<std::vector<SearchHit>> SqliteStore::Everything(std::string_view patient_id, int limit) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::Everything(**reader, patient_id, limit);
}

Result<std::int64_t> SqliteStore::LastVid() {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::LastVid(**reader);
}

Result<SnapshotPage> SqliteStore::Snapshot(const SnapshotQuery& q) {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::Snapshot(**reader, sp_lookup(), q);
}

Result<std::unique_ptr<WriteTransaction>> SqliteStore::BeginWrite() {
  std::unique_lock<std::mutex> lock(write_mu_);
  SUND_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
  return std::unique_ptr<WriteTransaction>(new SqliteWriteTransaction(*this, std::move(lock)));
}

Result<std::string> SqliteStore::TypeStamp(std::string_view type) {
  // Commits of this process are the only writes while it holds the lock (see Open).
  std::lock_guard<std::mutex> l(stamp_mu_);
  auto it = stamps_.find(std::string(type));
  return std::to_string(it == stamps_.end() ? 0 : it->second);
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::CountByType() {
  SUND_ASSIGN_OR_RETURN(auto reader, Reader());
  return sql::CountByType(**reader);
}

SqliteWriteTransaction::SqliteWriteTransaction(SqliteStore& store,
                                               std::unique_lock<std::mutex> lock)
    : store_(store), lock_(std::move(lock)) {}

SqliteWriteTransaction::~SqliteWriteTransaction() {
  if (!done_) store_.writer().Exec("ROLLBACK").IgnoreError();
}

Result<ResourceVersion> SqliteWriteTransaction::Read(std::string_view type, std::string_view id) {
  return sql::ReadCurrent(store_.writer(), type, id);
}

Result<std::vector<std::string>> SqliteWriteTransaction::FindIds(const fhir::SearchQuery& query,
                                                                 int limit) {
  // Buffered rows matter only to searches that can see their resources' types.
  bool needs_flush = query.type.empty();
  for (const auto& c : query.criteria) {
    if (c.chain || c.reverse_chain) needs_flush = true;
  }
  if (!needs_flush) {
    for (const auto& b : buffer_) {
      if (b.type == query.type) {
        needs_flush = true;
        break;
      }
    }
  }
  if (needs_flush) SUND_RETURN_IF_ERROR(Flush());
  SUND_ASSIGN_OR_RETURN(SearchPage page,
                        sql::Search(store_.writer(), store_.sp_lookup(), query, true, limit));
  std::vector<std::string> ids;
  for (auto& h : page.matches) ids.push_back(std::move(h.id));
  return ids;
}

Status SqliteWriteTransaction::InsertIndex(std::int64_t rid,
                                           const std::vector<fhir::IndexEntry>& index,
                                           std::string_view type) {
  const auto* sp_of_type = store_.sp_ids().ForType(std::string(type));
  if (sp_of_type == nullptr) return Status::Ok();
  const auto& sp_of = *sp_of_type;
  for (const auto& e : index) {
    auto sp_it = sp_of.find(e.param);
    if (sp_it == sp_of.end()) continue;
    SUND_RETURN_IF_ERROR(InsertEntry(rid, sp_it->second, e, false));
    if (e.type == fhir::SearchParamType::kToken && !e.text.empty()) {
      SUND_RETURN_IF_ERROR(InsertEntry(rid, sp_it->second, e, true));
    }
  }
  return Status::Ok();
}

Status SqliteWriteTransaction::InsertEntry(std::int64_t rid, std::int64_t sp,
                                           const fhir::IndexEntry& e, bool text_row) {
  auto& w = store_.writer();
  using T = fhir::SearchParamType;
  if (text_row) {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        w.PrepareLiteral("INSERT OR IGNORE INTO idx_token_text (sp, value, rid) VALUES (?, ?, ?)"));
    Statement st(raw);
    st.Bind(1, sp);
    st.Bind(2, std::string_view(e.text));
    st.Bind(3, rid);
    SUND_RETURN_IF_ERROR(st.Run());
    return Status::Ok();
  }
  const char* sql = nullptr;
  switch (e.type) {
    case T::kString:
      sql = "INSERT OR IGNORE INTO idx_string (sp, value, raw, rid) VALUES (?, ?, ?, ?)";
      break;
    case T::kToken:
      sql = e.code.empty()
                ? nullptr
                : "INSERT OR IGNORE INTO idx_token (sp, code, system, rid) VALUES (?, ?, ?, ?)";
      break;
    case T::kReference:
      sql =
          "INSERT OR IGNORE INTO idx_reference (sp, ref_type, ref_id, url, rid) VALUES (?, ?, ?, "
          "?, ?)";
      break;
    case T::kDate:
      sql = "INSERT OR IGNORE INTO idx_date (sp, lo, hi, rid) VALUES (?, ?, ?, ?)";
      break;
    case T::kNumber:
      sql = "INSERT OR IGNORE INTO idx_number (sp, value, rid) VALUES (?, ?, ?)";
      break;
    case T::kQuantity:
      sql =
          "INSERT INTO idx_quantity (sp, value, system, code, unit, cunit, cvalue, rid) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
      break;
    case T::kUri:
      sql = "INSERT OR IGNORE INTO idx_uri (sp, value, rid) VALUES (?, ?, ?)";
      break;
    case T::kComposite:
      sql =
          "INSERT INTO idx_composite (sp, system1, code1, system2, code2, lo2, hi2, cunit2, "
          "cvalue2, rid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
      break;
    default:
      break;
  }
  if (sql != nullptr) {
    SUND_ASSIGN_OR_RETURN(sqlite3_stmt * raw, w.PrepareLiteral(sql));
    Statement st(raw);
    st.Bind(1, sp);
    switch (e.type) {
      case T::kString:
        st.Bind(2, std::string_view(e.text));
        st.Bind(3, std::string_view(e.raw));
        st.Bind(4, rid);
        break;
      case T::kToken:
        st.Bind(2, std::string_view(e.code));
        st.Bind(3, std::string_view(e.system));
        st.Bind(4, rid);
        break;
      case T::kReference:
        st.Bind(2, std::string_view(e.ref_type));
        st.Bind(3, std::string_view(e.ref_id));
        st.Bind(4, std::string_view(e.url));
        st.Bind(5, rid);
        break;
      case T::kDate:
        st.Bind(2, e.lo_ms);
        st.Bind(3, e.hi_ms);
        st.Bind(4, rid);
        break;
      case T::kNumber:
        st.Bind(2, e.number);
        st.Bind(3, rid);
        break;
      case T::kQuantity:
        st.Bind(2, e.number);
        st.Bind(3, std::string_view(e.system));
        st.Bind(4, std::string_view(e.code));
        st.Bind(5, std::string_view(e.unit));
        if (e.has_canonical) {
          st.Bind(6, std::string_view(e.canonical_unit));
          st.Bind(7, e.canonical_value);
        } else {
          st.BindNull(6);
          st.BindNull(7);
        }
        st.Bind(8, rid);
        break;
      case T::kUri:
        st.Bind(2, std::string_view(e.url));
        st.Bind(3, rid);
        break;
      case T::kComposite:
        st.Bind(2, std::string_view(e.system));
        st.Bind(3, std::string_view(e.code));
        st.Bind(4, std::string_view(e.system2));
        st.Bind(5, std::string_view(e.code2));
        st.Bind(6, e.lo2);
        st.Bind(7, e.hi2);
        if (e.has_canonical) {
          st.Bind(8, std::string_view(e.canonical_unit));
          st.Bind(9, e.canonical_value);
        } else {
          st.BindNull(8);
          st.BindNull(9);
        }
        st.Bind(10, rid);
        break;
      default:
        break;
    }
    SUND_RETURN_IF_ERROR(st.Run());
  }
  return Status::Ok();
}

Status SqliteWriteTransaction::Put(const ResourceVersion& v, std::vector<fhir::IndexEntry> index) {
  auto& w = store_.writer();
  if (!touched_.contains(v.type)) touched_.insert(v.type);
  std::int64_t rid = 0;
  std::int64_t current = 0;
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        w.PrepareLiteral("SELECT rid, version FROM resource WHERE type = ? AND id = ?"));
    Statement st(raw);
    st.Bind(1, std::string_view(v.type));
    st.Bind(2, std::string_view(v.id));
    SUND_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      rid = st.Int(0);
      current = st.Int(1);
    }
  }
  if (v.version != current + 1) {
    return Conflict(v.type + "/" + v.id + ": version " + std::to_string(v.version) +
                    " does not follow the current version " + std::to_string(current));
  }
  bool created = rid == 0;
  if (!created) SUND_RETURN_IF_ERROR(Flush());  // its old rows may still be buffered
  if (rid == 0) {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        w.PrepareLiteral("INSERT INTO resource (type, id, version, last_updated, deleted) "
                         "VALUES (?, ?, ?, ?, ?)"));
    Statement st(raw);
    st.Bind(1, std::string_view(v.type));
    st.Bind(2, std::string_view(v.id));
    st.Bind(3, v.version);
    st.Bind(4, v.last_updated_us);
    st.Bind(5, static_cast<std::int64_t>(v.deleted));
    SUND_RETURN_IF_ERROR(st.Run());
    rid = w.LastInsertRowid();
  } else {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        w.Prepare("UPDATE resource SET version = ?, last_updated = ?, deleted = ? WHERE rid = ?"));
    Statement st(raw);
    st.Bind(1, v.version);
    st.Bind(2, v.last_updated_us);
    st.Bind(3, static_cast<std::int64_t>(v.deleted));
    st.Bind(4, rid);
    SUND_RETURN_IF_ERROR(st.Run());
    for (const char* table :
         {"idx_string", "idx_token", "idx_token_text", "idx_reference", "idx_date", "idx_number",
          "idx_quantity", "idx_uri", "idx_composite"}) {
      SUND_ASSIGN_OR_RETURN(sqlite3_stmt * del,
                            w.Prepare(std::string("DELETE FROM ") + table + " WHERE rid = ?"));
      Statement d(del);
      d.Bind(1, rid);
      SUND_RETURN_IF_ERROR(d.Run());
    }
  }
  {
    SUND_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        w.PrepareLiteral("INSERT INTO version (rid, version, last_updated, method, json) "
                         "VALUES (?, ?, ?, ?, ?)"));
    Statement st(raw);
    st.Bind(1, rid);
    st.Bind(2, v.version);
    st.Bind(3, v.last_updated_us);
    st.Bind(4, std::string_view(v.method));
    if (v.deleted) {
      st.BindNull(5);
    } else {
      st.BindBlob(5, v.json);
    }
    SUND_RETURN_IF_ERROR(st.Run());
  }
  if (v.deleted) return Status::Ok();
  if (!created) return InsertIndex(rid, index, v.type);
  buffered_entries_ += index.size();
  buffer_.push_back(Buffered{rid, v.type, std::move(index)});
  constexpr std::size_t kMaxBufferedEntries = 10'000;
  if (buffered_entries_ > kMaxBufferedEntries) return Flush();
  return Status::Ok();
}

Status SqliteWriteTransaction::Savepoint() {
  SUND_RETURN_IF_ERROR(store_.writer().Exec("SAVEPOINT batch"));
  savepoint_marks_.push_back(buffer_.size());
  return Status::Ok();
}

Status SqliteWriteTransaction::ReleaseSavepoint() {
  if (!savepoint_marks_.empty()) savepoint_marks_.pop_back();
  return store_.writer().Exec("RELEASE batch");
}

Status SqliteWriteTransaction::RollbackToSavepoint() {
  if (!savepoint_marks_.empty()) {
    // Buffered rows written after the savepoint are dropped (rows already flushed are undone by
    // SQLite itself).
    std::size_t mark = std::min(savepoint_marks_.back(), buffer_.size());
    for (std::size_t i = mark; i < buffer_.size(); ++i) {
      buffered_entries_ -= buffer_[i].entries.size();
    }
    buffer_.resize(mark);
    savepoint_marks_.pop_back();
  }
  SUND_RETURN_IF_ERROR(store_.writer().Exec("ROLLBACK TO batch"));
  return store_.writer().Exec("RELEASE batch");
}

Status SqliteWriteTransaction::Flush() {
  if (buffer_.empty()) return Status::Ok();
  struct Row {
    const fhir::IndexEntry* e;
    std::int64_t rid;
    std::int64_t sp;
    int table;  // SearchParamType, or 100 for token text rows
  };
  std::vector<Row> rows;
  rows.reserve(buffered_entries_ + buffered_entries_ / 2);
  for (const auto& b : buffer_) {
    const auto* sp_of_type = store_.sp_ids().ForType(b.type);
    if (sp_of_type == nullptr) continue;
    for (const auto& e : b.entries) {
      auto sp_it = sp_of_type->find(e.param);
      if (sp_it == sp_of_type->end()) continue;
      rows.push_back(Row{&e, b.rid, sp_it->second, static_cast<int>(e.type)});
      if (e.type == fhir::SearchParamType::kToken && !e.text.empty()) {
        rows.push_back(Row{&e, b.rid, sp_it->second, 100});
      }
    }
  }
  using T = fhir::SearchParamType;
  // The order of each table's primary key (schema.cc).
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    if (x.table != y.table) return x.table < y.table;
    const auto& a = *x.e;
    const auto& b = *y.e;
    switch (x.table) {
      case 100:
        return std::tie(x.sp, a.text, x.rid) < std::tie(y.sp, b.text, y.rid);
      case static_cast<int>(T::kString):
        return std::tie(x.sp, a.text, x.rid) < std::tie(y.sp, b.text, y.rid);
      case static_cast<int>(T::kToken):
        return std::tie(x.sp, a.code, a.system, x.rid) < std::tie(y.sp, b.code, b.system, y.rid);
      case static_cast<int>(T::kReference):
        return std::tie(a.ref_id, a.ref_type, x.sp, x.rid) <
               std::tie(b.ref_id, b.ref_type, y.sp, y.rid);
      case static_cast<int>(T::kDate):
        return std::tie(x.sp, a.lo_ms, a.hi_ms, x.rid) < std::tie(y.sp, b.lo_ms, b.hi_ms, y.rid);
      case static_cast<int>(T::kComposite):
        return std::tie(x.sp, a.code, a.system, x.rid) < std::tie(y.sp, b.code, b.system, y.rid);
      default:
        return std::tie(x.sp, a.number, a.url, x.rid) < std::tie(y.sp, b.number, b.url, y.rid);
    }
  });
  for (const Row& r : rows) {
    SUND_RETURN_IF_ERROR(InsertEntry(r.rid, r.sp, *r.e, r.table == 100));
  }
  buffer_.clear();
  buffered_entries_ = 0;
  for (auto& m : savepoint_marks_) m = 0;
  return Status::Ok();
}

Status SqliteWriteTransaction::Commit() {
  if (done_) return Internal("transaction already finished");
  if (Status f = Flush(); !f.ok()) {
    store_.writer().Exec("ROLLBACK").IgnoreError();
    done_ = true;
    return f;
  }
  Status s = store_.writer().Exec("COMMIT");
  done_ = true;
  if (!s.ok()) {
    store_.writer().Exec("ROLLBACK").IgnoreError();
    return s;
  }
  // After the commit, so that whoever sees the new stamp also sees the data.
  store_.Touched(touched_);
  return s;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  SUND_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace sund::storage
