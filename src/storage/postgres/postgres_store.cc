#include "storage/postgres/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/json.h"
#include "core/log.h"
#include "fhir/model.h"
#include "storage/internal/queries.h"
#include "storage/internal/sp_ids.h"
#include "storage/postgres/pg.h"
#include "storage/postgres/schema.h"

namespace sund::storage {
namespace {

using pg::Connection;
using pg::CopyRows;
using sql::Param;

// Index values longer than this are cut (at a UTF-8 boundary) before they are stored: a
// PostgreSQL B-tree entry must stay under about 2.7 KB. Searches on such values match on
// their first kMaxIndexBytes bytes only.
constexpr std::size_t kMaxIndexBytes = 1000;

std::string_view Cut(std::string_view s) {
  if (s.size() <= kMaxIndexBytes) return s;
  std::size_t n = kMaxIndexBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// A bounded pool of connections; a lost connection is dropped, not returned.
class Pool {
 public:
  Pool(std::string url, std::string schema, int size, std::chrono::milliseconds wait)
      : url_(std::move(url)), schema_(std::move(schema)), size_(size), wait_(wait) {}

  class Lease {
   public:
    Lease(Pool& p, std::unique_ptr<Connection> c) : p_(&p), c_(std::move(c)) {}
    Lease(Lease&& o) noexcept : p_(o.p_), c_(std::move(o.c_)) {}
    ~Lease() {
      if (c_) p_->Release(std::move(c_));
    }
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

   private:
    Pool* p_;
    std::unique_ptr<Connection> c_;
  };

  Result<Lease> Acquire() {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, wait_, [&] { return !idle_.empty() || open_ < size_; })) {
      return Status(StatusCode::kUnavailable,
                    "postgres: no free connection in " + std::to_string(wait_.count()) + " ms");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(c));
    }
    ++open_;
    l.unlock();
    auto c = Connection::Open(url_, schema_);
    if (!c.ok()) {
      std::lock_guard<std::mutex> g(mu_);
      --open_;
      cv_.notify_one();
      return c.status();
    }
    return Lease(*this, std::move(c).value());
  }

 private:
  void Release(std::unique_ptr<Connection> c) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (c->healthy()) {
        idle_.push_back(std::move(c));
      } else {
        --open_;
      }
    }
    cv_.notify_one();
  }

  const std::string url_, schema_;
  const int size_;
  const std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

class PostgresStore;

class PostgresWriteTransaction final : public WriteTransaction {
 public:
  PostgresWriteTransaction(PostgresStore& store, std::unique_lock<std::mutex> lock,
                           Pool::Lease conn)
      : store_(store), lock_(std::move(lock)), conn_(std::move(conn)) {}
  ~PostgresWriteTransaction() override {
    if (!done_) conn_->Exec("ROLLBACK").IgnoreError();
  }

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override;
  Result<std::vector<std::string>> FindIds(const fhir::SearchQuery& query, int limit) override;
  Status Put(const ResourceVersion& v, std::vector<fhir::IndexEntry> index) override;
  Status Commit() override;
  Status Savepoint() override;
  Status ReleaseSavepoint() override;
  Status RollbackToSavepoint() override;

 private:
  // What this transaction knows of a resource it has looked up or written.
  struct Known {
    std::int64_t rid = 0;
    std::int64_t version = 0;
  };
  static std::string Key(std::string_view type, std::string_view id) {
    std::string k(type);
    k += '/';
    k += id;
    return k;
  }
  Result<std::int64_t> NextRid();
  void BufferIndex(std::int64_t rid, std::string_view type,
                   const std::vector<fhir::IndexEntry>& index);
  // Writes the buffered rows through COPY.
  Status Flush();
  void DropBuffer();

  PostgresStore& store_;
  std::unique_lock<std::mutex> lock_;
  Pool::Lease conn_;
  bool done_ = false;
  std::set<std::string, std::less<>> touched_;  // types written (TypeStamp)
  std::unordered_map<std::string, Known> known_;
  // Rows not yet written: new resources, every new version, and index rows.
  std::unordered_map<std::string, ResourceVersion> pending_;  // "Type/id" -> its newest version
  std::set<std::string, std::less<>> pending_types_;
  CopyRows resources_, versions_;
  CopyRows idx_[10];
  std::size_t buffered_rows_ = 0;
  std::int64_t flushed_rows_ = 0;            // rows written through COPY (for Analyzer)
  std::int64_t rid_next_ = 0, rid_end_ = 0;  // the allocated block [next, end)
};

enum IdxTable {
  kString,
  kToken,
  kTokenText,
  kReference,
  kDate,
  kNumber,
  kQuantity,
  kUri,
  kComposite,
  kTableCount
};
constexpr const char* kCopy[kTableCount] = {
    "COPY idx_string (sp, value, raw, rid) FROM STDIN",
    "COPY idx_token (sp, code, system, rid) FROM STDIN",
    "COPY idx_token_text (sp, value, rid) FROM STDIN",
    "COPY idx_reference (sp, ref_type, ref_id, url, rid) FROM STDIN",
    "COPY idx_date (sp, lo, hi, rid) FROM STDIN",
    "COPY idx_number (sp, value, rid) FROM STDIN",
    "COPY idx_quantity (sp, value, system, code, unit, cunit, cvalue, rid) FROM STDIN",
    "COPY idx_uri (sp, value, rid) FROM STDIN",
    "COPY idx_composite (sp, system1, code1, system2, code2, lo2, hi2, cunit2, cvalue2, rid) "
    "FROM STDIN",
};

// Fresh statistics after bulk writes. PostgreSQL's autovacuum analyzes a table once a tenth of
// it has changed, but up to a minute later; until then the planner sees an empty table after an
// import and picks plans that are slower by ten times (measured: reference and chained searches
// at 38-57 ms instead of 5). So after commits that wrote many rows, this analyzes the store's
// tables on a connection and thread of its own, one run at a time.
class Analyzer {
 public:
  Analyzer(std::string url, std::string schema)
      : url_(std::move(url)), schema_(std::move(schema)) {}
  ~Analyzer() {
    std::thread t;
    {
      std::lock_guard<std::mutex> l(mu_);
      t = std::move(thread_);
    }
    if (t.joinable()) t.join();  // not under mu_: the run takes it at its end
  }

  void Wrote(std::int64_t rows) {
    if (rows <= 0) return;
    std::lock_guard<std::mutex> l(mu_);
    since_ += rows;
    if (running_ || !Due()) return;
    running_ = true;
    if (thread_.joinable()) thread_.join();
    thread_ = std::thread([this] { Run(); });
  }

 private:
  // As autovacuum's rule (a threshold plus a share of the table), without its delay.
  bool Due() const { return since_ >= 20'000 + total_ / 5; }

  // Runs until no more rows are due: writes that commit during a run (an import's next group)
  // are analyzed by another, so the last commit's rows are never left out.
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    while (Due()) {
      total_ += since_;
      since_ = 0;
      l.unlock();
      auto c = pg::Connection::Open(url_, schema_);
      Status s = c.ok() ? (*c)->Exec(
                              "ANALYZE resource, version, idx_string, idx_token, idx_token_text, "
                              "idx_reference, idx_date, idx_number, idx_quantity, idx_uri, "
                              "idx_composite")
                        : c.status();
      if (!s.ok()) log::Warn("storage: ANALYZE after bulk writes failed: {}", s.ToString());
      l.lock();
    }
    running_ = false;
  }

  const std::string url_, schema_;
  std::mutex mu_;
  std::int64_t since_ = 0;  // rows written since the last run
  std::int64_t total_ = 0;  // rows written before it (a lower bound of the tables' size)
  bool running_ = false;
  std::thread thread_;
};

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(PostgresOptions options)
      : options_(std::move(options)),
        pool_(options_.url, options_.schema, std::max(2, options_.pool_size), options_.pool_wait),
        analyzer_(options_.url, options_.schema) {}
  ~PostgresStore() override {
    stop_ = true;
    if (listener_.joinable()) listener_.join();
  }

  // After a commit that wrote `rows` rows (Analyzer).
  void Wrote(std::int64_t rows) { analyzer_.Wrote(rows); }

  Status Open();

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::ReadCurrent(*c, type, id);
  }
  Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                      std::int64_t version) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::ReadVersion(*c, type, id, version);
  }
  Result<HistoryPage> History(const HistoryQuery& query) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::History(*c, query);
  }
  Result<SearchPage> Search(const fhir::SearchQuery& query) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::Search(*c, sp_ids_.lookup(), query, false, 0);
  }
  Result<std::vector<SearchHit>> Everything(std::string_view patient_id, int limit) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::Everything(*c, patient_id, limit);
  }
  Result<bool> InPatientCompartment(std::string_view type, std::string_view id,
                                    std::string_view patient) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::InPatientCompartment(*c, type, id, patient);
  }
  Result<ResourceVersion> ReadInPatientCompartment(std::string_view type, std::string_view id,
                                                   std::string_view patient) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::ReadInPatientCompartment(*c, type, id, patient);
  }
  Result<std::int64_t> LastVid() override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::LastVid(*c);
  }
  Result<SnapshotPage> Snapshot(const SnapshotQuery& query) override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::Snapshot(*c, sp_ids_.lookup(), query);
  }
  Result<std::vector<std::pair<std::string, std::int64_t>>> CountByType() override {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    return sql::CountByType(*c);
  }

  Result<std::unique_ptr<WriteTransaction>> BeginWrite() override;

  Result<std::string> TypeStamp(std::string_view type) override {
    std::lock_guard<std::mutex> l(stamp_mu_);
    auto it = stamps_.find(std::string(type));
    return std::to_string(generation_) + "." + std::to_string(it == stamps_.end() ? 0 : it->second);
  }

  // After a commit: the types it wrote have new stamps.
  void Touched(std::string_view types_csv) {
    std::lock_guard<std::mutex> l(stamp_mu_);
    std::size_t start = 0;
    while (start <= types_csv.size()) {
      std::size_t end = types_csv.find(',', start);
      if (end == std::string_view::npos) end = types_csv.size();
      if (end > start) ++stamps_[std::string(types_csv.substr(start, end - start))];
      start = end + 1;
    }
  }

  const sql::SpLookup& sp_lookup() const { return sp_ids_.lookup(); }
  const sql::SpIds& sp_ids() const { return sp_ids_; }
  const std::string& channel() const { return channel_; }
  const std::string& origin() const { return origin_; }
  std::mutex& write_mutex() { return write_mu_; }
  Pool& pool() { return pool_; }

 private:
  Status Migrate(Connection& c);
  Status LoadSearchParams(Connection& c);
  void Listen();

  PostgresOptions options_;
  Pool pool_;
  std::mutex write_mu_;
  sql::SpIds sp_ids_;
  std::string channel_;  // NOTIFY channel of this schema's commits
  std::string origin_;   // this store's mark on its notifications ("<origin>|Type,Type")
  std::mutex stamp_mu_;
  std::unordered_map<std::string, std::uint64_t> stamps_;
  std::uint64_t generation_ = 0;  // bumped when notifications may have been missed
  std::atomic<bool> stop_{false};
  std::unique_ptr<Connection> listen_conn_;  // from Open until Listen() takes it
  std::thread listener_;
  Analyzer analyzer_;
};

Status PostgresStore::Migrate(Connection& c) {
  // One process migrates at a time (a session lock, released at the end).
  SUND_RETURN_IF_ERROR(c.Exec("SELECT pg_advisory_lock(hashtext(current_schema() || '.migrate'))"));
  auto unlock = [&] {
    c.Exec("SELECT pg_advisory_unlock(hashtext(current_schema() || '.migrate'))").IgnoreError();
  };
  Status s = c.Exec("CREATE TABLE IF NOT EXISTS sund_schema_version (version integer NOT NULL)");
  std::int64_t current = 0;
  if (s.ok()) {
    auto rows = c.Query("SELECT COALESCE(MAX(version), 0) FROM sund_schema_version", {});
    if (!rows.ok()) {
      s = rows.status();
    } else {
      auto row = (*rows)->Next();
      current = row.ok() && *row ? (*rows)->Int(0) : 0;
    }
  }
  const auto& migrations = pg::Migrations();
  const auto count = static_cast<std::int64_t>(migrations.size());
  if (s.ok() && current > count) {
    s = Internal("storage schema version " + std::to_string(current) +
                 " is newer than this sund (" + std::to_string(count) + ")");
  }
  for (std::int64_t i = current; s.ok() && i < count; ++i) {
    s = c.Exec(std::string("BEGIN; ") + migrations[static_cast<std::size_t>(i)] +
               "; DELETE FROM sund_schema_version; INSERT INTO sund_schema_version VALUES (" +
               std::to_string(i + 1) + "); COMMIT;");
    if (!s.ok()) {
      c.Exec("ROLLBACK").IgnoreError();
      break;
    }
    log::Info("storage: migrated PostgreSQL schema to version {}", i + 1);
  }
  unlock();
  return s;
}

Status PostgresStore::LoadSearchParams(Connection& c) {
  // New parameters are added by whichever process gets there first; everyone then reads the
  // table's numbering.
  SUND_RETURN_IF_ERROR(c.Exec("BEGIN"));
  auto rollback = [&](Status s) {
    c.Exec("ROLLBACK").IgnoreError();
    return s;
  };
  // One statement for all of them (a JSON array of rows): thousands of single inserts would
  // cost a round trip each on every open.
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& [type, def] : sql::ModelSearchParams()) {
    w.StartObject();
    w.Key("type");
    w.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
    w.Key("code");
    w.String(def->code.data(), static_cast<rapidjson::SizeType>(def->code.size()));
    w.Key("url");
    w.String(def->url.data(), static_cast<rapidjson::SizeType>(def->url.size()));
    w.EndObject();
  }
  w.EndArray();
  {
    auto r = c.Query(
        "INSERT INTO search_param (type, code, url) SELECT type, code, url FROM "
        "jsonb_to_recordset(CAST(? AS jsonb)) AS x(type text, code text, url text) "
        "ON CONFLICT DO NOTHING",
        {std::string(sb.GetString(), sb.GetSize())});
    if (!r.ok()) return rollback(r.status());
  }
  SUND_RETURN_IF_ERROR(c.Exec("COMMIT"));
  {
    SUND_ASSIGN_OR_RETURN(auto rows, c.Query("SELECT sp, type, code FROM search_param", {}));
    while (true) {
      SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
      if (!row) break;
      sp_ids_.Add(std::string(rows->Text(1)), std::string(rows->Text(2)), rows->Int(0));
    }
  }
  // The compartment's parameters as this schema numbers them, refreshed from the model.
  SUND_RETURN_IF_ERROR(c.Exec("BEGIN; DELETE FROM compartment_sp"));
  {
    std::string ids = "[";
    for (std::int64_t sp : sql::CompartmentSpIds(sp_ids_.lookup())) {
      if (ids.size() > 1) ids += ',';
      ids += std::to_string(sp);
    }
    ids += ']';
    auto r =
        c.Query(std::string("INSERT INTO compartment_sp (sp) SELECT x FROM ") +
                    sql::JsonIntList(sql::Dialect::kPostgres) + " AS t(x) ON CONFLICT DO NOTHING",
                {ids});
    if (!r.ok()) return rollback(r.status());
  }
  SUND_RETURN_IF_ERROR(c.Exec("COMMIT"));
  sp_ids_.IndexModel();
  return Status::Ok();
}

Status PostgresStore::Open() {
  {
    // The schema itself, before any connection is set to it.
    SUND_ASSIGN_OR_RETURN(auto c, Connection::Open(options_.url, ""));
    if (!options_.schema.empty()) {
      SUND_ASSIGN_OR_RETURN(std::string quoted, c->QuoteIdentifier(options_.schema));
      Status s = c->Exec("CREATE SCHEMA IF NOT EXISTS " + quoted);
      // Two processes creating it at once: the loser sees a duplicate, which is fine.
      if (!s.ok() && s.code() != StatusCode::kConflict) return s;
    }
  }
  SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
  SUND_RETURN_IF_ERROR(Migrate(*c));
  SUND_RETURN_IF_ERROR(LoadSearchParams(*c));
  {
    SUND_ASSIGN_OR_RETURN(auto rows, c->Query("SELECT current_schema()", {}));
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    channel_ = "sund_changes." + std::string(row ? rows->Text(0) : "public");
  }
  {
    // Unique among the stores sharing the schema: this connection's backend pid is unique
    // while it lives, and it lives as long as the store does (returned to the pool).
    SUND_ASSIGN_OR_RETURN(auto rows, c->Query("SELECT pg_backend_pid()", {}));
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    origin_ = std::to_string(row ? rows->Int(0) : 0) + "." +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  // Listening before Open returns: a commit of another process after this point is heard, and
  // the stamps do not change under a caller when the listener's first connection comes up.
  SUND_ASSIGN_OR_RETURN(listen_conn_, Connection::Open(options_.url, options_.schema));
  SUND_ASSIGN_OR_RETURN(std::string quoted_channel, listen_conn_->QuoteIdentifier(channel_));
  SUND_RETURN_IF_ERROR(listen_conn_->Exec("LISTEN " + quoted_channel));
  listener_ = std::thread([this] { Listen(); });
  return Status::Ok();
}

// Commits of other processes sharing the schema arrive as notifications naming the types they
// wrote; this process's own commits bump their stamps directly as well. While the listening
// connection is down, notifications may be lost: every stamp changes (generation) when it is
// back, so no cached decision outlives a write it did not hear of.
void PostgresStore::Listen() {
  std::unique_ptr<Connection> conn = std::move(listen_conn_);  // listening since Open
  auto next_try = std::chrono::steady_clock::now();
  while (!stop_) {
    if (!conn || !conn->healthy()) {
      conn.reset();
      if (std::chrono::steady_clock::now() < next_try) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      next_try = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      auto c = Connection::Open(options_.url, options_.schema);
      if (!c.ok()) continue;
      auto quoted = (*c)->QuoteIdentifier(channel_);
      if (!quoted.ok() || !(*c)->Exec("LISTEN " + *quoted).ok()) continue;
      conn = std::move(c).value();
      std::lock_guard<std::mutex> l(stamp_mu_);
      ++generation_;
    }
    pollfd p{PQsocket(conn->raw()), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (PQconsumeInput(conn->raw()) == 0) continue;  // lost: reconnect above
    while (PGnotify* n = PQnotifies(conn->raw())) {
      // Its own commits were stamped when they returned; a late echo would change the stamp
      // with no write behind it.
      std::string_view payload = n->extra;
      std::size_t bar = payload.find('|');
      if (bar != std::string_view::npos && payload.substr(0, bar) != origin_) {
        Touched(payload.substr(bar + 1));
      }
      PQfreemem(n);
    }
  }
}

Result<std::unique_ptr<WriteTransaction>> PostgresStore::BeginWrite() {
  std::unique_lock<std::mutex> lock(write_mu_);
  // A lost connection is replaced (the pool drops it): a few tries before giving up.
  Status last = Status::Ok();
  for (int attempt = 0; attempt < 3; ++attempt) {
    SUND_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    // Writers in every process sharing this schema take turns (decision 0010).
    last = c->Exec("BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.writer'))");
    if (last.ok()) {
      return std::unique_ptr<WriteTransaction>(
          new PostgresWriteTransaction(*this, std::move(lock), std::move(c)));
    }
    c->Exec("ROLLBACK").IgnoreError();
    if (last.code() != StatusCode::kUnavailable) break;
  }
  return last;
}

Result<ResourceVersion> PostgresWriteTransaction::Read(std::string_view type, std::string_view id) {
  std::string key = Key(type, id);
  auto p = pending_.find(key);
  if (p != pending_.end()) return p->second;
  SUND_ASSIGN_OR_RETURN(
      auto rows, conn_->QueryLiteral(
                     "SELECT r.rid, r.version, r.last_updated, r.deleted, v.method, v.json FROM "
                     "resource r JOIN version v ON v.rid = r.rid AND v.version = r.version "
                     "WHERE r.type = ? AND r.id = ?",
                     {std::string(type), std::string(id)}));
  SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
  // Remembered for the Put that usually follows (an update reads first): no second lookup.
  if (!row) {
    known_[key] = Known{};
    return NotFound(key + " is not known");
  }
  ResourceVersion v;
  v.type = std::string(type);
  v.id = std::string(id);
  v.version = rows->Int(1);
  v.last_updated_us = rows->Int(2);
  v.deleted = rows->Int(3) != 0;
  v.method = std::string(rows->Text(4));
  v.json = std::string(rows->Text(5));
  known_[key] = Known{rows->Int(0), v.version};
  return v;
}

Result<std::vector<std::string>> PostgresWriteTransaction::FindIds(const fhir::SearchQuery& query,
                                                                   int limit) {
  // Buffered rows matter only to searches that can see their resources' types.
  bool needs_flush = query.type.empty() || pending_types_.contains(query.type);
  for (const auto& c : query.criteria) {
    if (c.chain || c.reverse_chain) needs_flush = true;
  }
  if (needs_flush) SUND_RETURN_IF_ERROR(Flush());
  SUND_ASSIGN_OR_RETURN(SearchPage page,
                        sql::Search(*conn_, store_.sp_lookup(), query, true, limit));
  std::vector<std::string> ids;
  for (auto& h : page.matches) ids.push_back(std::move(h.id));
  return ids;
}

Result<std::int64_t> PostgresWriteTransaction::NextRid() {
  if (rid_next_ == rid_end_) {
    // The sequence hands out blocks of 1,000 (INCREMENT BY 1000): one round trip per block.
    SUND_ASSIGN_OR_RETURN(auto rows, conn_->Query("SELECT nextval('resource_rid')", {}));
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (!row) return Internal("postgres: no rid from the sequence");
    rid_next_ = rows->Int(0);
    rid_end_ = rid_next_ + 1000;
  }
  return rid_next_++;
}

void PostgresWriteTransaction::BufferIndex(std::int64_t rid, std::string_view type,
                                           const std::vector<fhir::IndexEntry>& index) {
  const auto* sp_of_type = store_.sp_ids().ForType(std::string(type));
  if (sp_of_type == nullptr) return;
  const auto& sp_of = *sp_of_type;
  using T = fhir::SearchParamType;
  // The key tables take each (key) row once, as SQLite's INSERT OR IGNORE does: a row is
  // written, then taken back if this resource already has the same one in that table.
  struct Written {
    int table;
    std::size_t offset, size;
  };
  std::vector<Written> written;
  auto keep_once = [&](int table, std::size_t offset) {
    std::string& buf = idx_[table].mutable_data();
    std::string_view row(buf.data() + offset, buf.size() - offset);
    for (const auto& w : written) {
      if (w.table == table && w.size == row.size() &&
          std::string_view(buf.data() + w.offset, w.size) == row) {
        buf.resize(offset);
        return;
      }
    }
    written.push_back(Written{table, offset, row.size()});
    ++buffered_rows_;
  };
  for (const auto& e : index) {
    auto sp_it = sp_of.find(e.param);
    if (sp_it == sp_of.end()) continue;
    const std::int64_t sp = sp_it->second;
    std::size_t offset = 0;
    int current = -1;
    auto start = [&](int table) -> CopyRows& {
      offset = idx_[table].data().size();
      current = table;
      return idx_[table];
    };
    switch (e.type) {
      case T::kString:
        start(kString).Int(sp).Text(Cut(e.text)).Text(Cut(e.raw)).Int(rid);
        break;
      case T::kToken:
        if (!e.code.empty()) start(kToken).Int(sp).Text(Cut(e.code)).Text(Cut(e.system)).Int(rid);
        break;
      case T::kReference:
        start(kReference)
            .Int(sp)
            .Text(Cut(e.ref_type))
            .Text(Cut(e.ref_id))
            .Text(Cut(e.url))
            .Int(rid);
        break;
      case T::kDate:
        start(kDate).Int(sp).Int(e.lo_ms).Int(e.hi_ms).Int(rid);
        break;
      case T::kNumber:
        start(kNumber).Int(sp).Double(e.number).Int(rid);
        break;
      case T::kQuantity: {
        CopyRows& row = start(kQuantity);
        row.Int(sp).Double(e.number).Text(Cut(e.system)).Text(Cut(e.code)).Text(Cut(e.unit));
        if (e.has_canonical) {
          row.Text(Cut(e.canonical_unit)).Double(e.canonical_value);
        } else {
          row.Null().Null();
        }
        row.Int(rid);
        break;
      }
      case T::kUri:
        start(kUri).Int(sp).Text(Cut(e.url)).Int(rid);
        break;
      case T::kComposite: {
        CopyRows& row = start(kComposite);
        row.Int(sp).Text(Cut(e.system)).Text(Cut(e.code)).Text(Cut(e.system2)).Text(Cut(e.code2));
        row.Double(e.lo2).Double(e.hi2);
        if (e.has_canonical) {
          row.Text(Cut(e.canonical_unit)).Double(e.canonical_value);
        } else {
          row.Null().Null();
        }
        row.Int(rid);
        break;
      }
      default:
        break;
    }
    if (current >= 0) {
      idx_[current].EndRow();
      if (current == kQuantity || current == kComposite) {
        ++buffered_rows_;  // no key: every row is kept
      } else {
        keep_once(current, offset);
      }
    }
    if (e.type == T::kToken && !e.text.empty()) {
      offset = idx_[kTokenText].data().size();
      idx_[kTokenText].Int(sp).Text(Cut(e.text)).Int(rid).EndRow();
      keep_once(kTokenText, offset);
    }
  }
}

Status PostgresWriteTransaction::Put(const ResourceVersion& v,
                                     std::vector<fhir::IndexEntry> index) {
  if (!touched_.contains(v.type)) touched_.insert(v.type);
  std::string key = Key(v.type, v.id);
  // A first version of a resource this transaction has not seen is taken to be new without a
  // lookup (a create's id is fresh; an update reads first): should the resource exist after
  // all, the key (type, id) is unique and the flush fails with kConflict.
  Known k;
  auto known = known_.find(key);
  if (known != known_.end()) {
    k = known->second;
  } else if (v.version != 1) {
    SUND_ASSIGN_OR_RETURN(
        auto rows, conn_->QueryLiteral("SELECT rid, version FROM resource WHERE type = ? AND "
                                       "id = ?",
                                       {v.type, v.id}));
    SUND_ASSIGN_OR_RETURN(bool row, rows->Next());
    if (row) k = Known{rows->Int(0), rows->Int(1)};
  }
  if (v.version != k.version + 1) {
    return Conflict(v.type + "/" + v.id + ": version " + std::to_string(v.version) +
                    " does not follow the current version " + std::to_string(k.version));
  }
  if (k.rid == 0) {
    SUND_ASSIGN_OR_RETURN(k.rid, NextRid());
    resources_.Int(k.rid)
        .Text(v.type)
        .Text(v.id)
        .Int(v.version)
        .Int(v.last_updated_us)
        .Int(v.deleted ? 1 : 0);
    resources_.EndRow();
  } else {
    // Its earlier rows may still be buffered: written first, so that they are replaced.
    if (pending_.contains(key)) SUND_RETURN_IF_ERROR(Flush());
    SUND_ASSIGN_OR_RETURN(
        auto rows,
        conn_->QueryLiteral(
            "WITH d1 AS (DELETE FROM idx_string WHERE rid = $1), "
            "d2 AS (DELETE FROM idx_token WHERE rid = $1), "
            "d3 AS (DELETE FROM idx_token_text WHERE rid = $1), "
            "d4 AS (DELETE FROM idx_reference WHERE rid = $1), "
            "d5 AS (DELETE FROM idx_date WHERE rid = $1), "
            "d6 AS (DELETE FROM idx_number WHERE rid = $1), "
            "d7 AS (DELETE FROM idx_quantity WHERE rid = $1), "
            "d8 AS (DELETE FROM idx_uri WHERE rid = $1), "
            "d9 AS (DELETE FROM idx_composite WHERE rid = $1) "
            "UPDATE resource SET version = $2, last_updated = $3, deleted = $4 WHERE rid = $1",
            {k.rid, v.version, v.last_updated_us, static_cast<std::int64_t>(v.deleted ? 1 : 0)}));
  }
  versions_.Int(k.rid).Int(v.version).Int(v.last_updated_us).Text(v.method);
  if (v.deleted) {
    versions_.Null();
  } else {
    versions_.Text(v.json);
  }
  versions_.EndRow();
  ++buffered_rows_;
  k.version = v.version;
  known_[key] = k;
  pending_[key] = v;
  pending_types_.insert(v.type);
  if (!v.deleted) BufferIndex(k.rid, v.type, index);
  constexpr std::size_t kMaxBufferedRows = 20'000;
  if (buffered_rows_ > kMaxBufferedRows) return Flush();
  return Status::Ok();
}

Status PostgresWriteTransaction::Flush() {
  if (pending_.empty() && buffered_rows_ == 0) return Status::Ok();
  flushed_rows_ += static_cast<std::int64_t>(buffered_rows_);
  if (!resources_.empty()) {
    SUND_RETURN_IF_ERROR(
        conn_->Copy("COPY resource (rid, type, id, version, last_updated, deleted) FROM STDIN",
                    resources_.data()));
  }
  // In the order they were written: vids (assigned here) follow the transaction's own order.
  if (!versions_.empty()) {
    SUND_RETURN_IF_ERROR(conn_->Copy(
        "COPY version (rid, version, last_updated, method, json) FROM STDIN", versions_.data()));
  }
  for (int t = 0; t < kTableCount; ++t) {
    if (!idx_[t].empty()) SUND_RETURN_IF_ERROR(conn_->Copy(kCopy[t], idx_[t].data()));
  }
  DropBuffer();
  return Status::Ok();
}

void PostgresWriteTransaction::DropBuffer() {
  resources_.clear();
  versions_.clear();
  for (auto& t : idx_) t.clear();
  pending_.clear();
  pending_types_.clear();
  buffered_rows_ = 0;
}

Status PostgresWriteTransaction::Savepoint() {
  // Everything before the savepoint is written, so a rollback to it only drops the buffer.
  SUND_RETURN_IF_ERROR(Flush());
  return conn_->Exec("SAVEPOINT batch");
}

Status PostgresWriteTransaction::ReleaseSavepoint() {
  return conn_->Exec("RELEASE SAVEPOINT batch");
}

Status PostgresWriteTransaction::RollbackToSavepoint() {
  DropBuffer();
  known_.clear();  // what was learnt after the savepoint may be undone
  return conn_->Exec("ROLLBACK TO SAVEPOINT batch; RELEASE SAVEPOINT batch");
}

Status PostgresWriteTransaction::Commit() {
  if (done_) return Internal("transaction already finished");
  done_ = true;
  std::string types;
  for (const auto& t : touched_) {
    if (!types.empty()) types += ',';
    types += t;
  }
  Status s = Flush();
  if (s.ok() && !types.empty()) {
    // Delivered to the other processes' listeners at the commit, not before.
    auto r =
        conn_->Query("SELECT pg_notify(?, ?)", {store_.channel(), store_.origin() + "|" + types});
    if (!r.ok()) s = r.status();
  }
  if (s.ok()) s = conn_->Exec("COMMIT");
  if (!s.ok()) {
    conn_->Exec("ROLLBACK").IgnoreError();
    return s;
  }
  // After the commit, so that whoever sees the new stamp also sees the data.
  store_.Touched(types);
  store_.Wrote(flushed_rows_);
  return s;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  auto store = std::make_unique<PostgresStore>(options);
  SUND_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

Status DropPostgresSchema(const std::string& url, const std::string& schema) {
  SUND_ASSIGN_OR_RETURN(auto c, Connection::Open(url, ""));
  SUND_ASSIGN_OR_RETURN(std::string quoted, c->QuoteIdentifier(schema));
  return c->Exec("DROP SCHEMA IF EXISTS " + quoted + " CASCADE");
}

}  // namespace sund::storage
