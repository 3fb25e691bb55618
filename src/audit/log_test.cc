// Tests of AuditLog and Verify on a real audit.db in a fresh directory per test. Tampering is
// done the way an attacker with write access to the file would do it: straight SQL through the
// sqlite3 C API on the closed log, then Verify must name the kind of change and the first bad
// record. Time comes from a ManualClock; the concurrency tests print the measured append rates
// (blocking Append from 1 and 8 threads, AppendAsync with 64 appends in flight) and bytes per
// record on "[ rate ]" lines.
#include "audit/log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "core/json.h"
#include "storage/testing/test_store.h"

namespace sund::audit {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kDay = 86'400'000'000;
constexpr std::int64_t kStart = 1'700'000'000'000'000;  // 2023-11-14, microseconds

class ManualClock final : public Clock {
 public:
  std::int64_t NowMicros() const override { return now_.load(); }
  void Set(std::int64_t us) { now_.store(us); }
  void Advance(std::int64_t us) { now_.fetch_add(us); }

 private:
  std::atomic<std::int64_t> now_{kStart};
};

Record MakeRecord(int i, std::vector<std::string> patients) {
  Record r;
  r.time_us = kStart + i;
  r.actor = {"Practitioner/dr-" + std::to_string(i % 2), "practitioner", "Organization/1", "app-1"};
  r.action = i % 3 == 0 ? Action::kSearch : Action::kRead;
  r.outcome = 200;
  r.patient_ids = std::move(patients);
  r.resources = {"Observation/obs-" + std::to_string(i)};
  r.query = i % 3 == 0 ? "code=8867-4&_count=10" : "";
  r.detail = "";
  r.purpose = "TREAT";
  r.consent_basis = {"Consent/c1"};
  r.source = "10.0.0.7";
  r.correlation_id = "req-" + std::to_string(i);
  return r;
}

// Counts AppendAsync callbacks; a test waits for the number it expects. The wait gives up after
// a minute so that a lost callback fails the test instead of hanging it.
class CallbackCounter {
 public:
  void Add() {
    // Notified under the lock, so that the waiter cannot return (and destroy this) first.
    std::lock_guard<std::mutex> l(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::minutes(1), [&] { return n_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> l(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AuditLogTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-audit-test-" + crypto::RandomToken(12));
    options_.clock = &clock_;
    options_.checkpoint_every_records = 5;
    options_.maintenance_every_us = 0;  // the tests call Checkpoint and ApplyRetention
  }
  void TearDown() override {
    log_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Open() {
    log_.reset();
    auto l = AuditLog::Open(dir_.string(), options_);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    log_ = std::move(l).value();
  }
  void Close() { log_.reset(); }

  // Appends records 0..n-1; record i names patient "p<i % 3>".
  void AppendN(int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      auto seq = log_->Append(MakeRecord(i, {"p" + std::to_string(i % 3)}));
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      ASSERT_EQ(*seq, i);
      clock_.Advance(1000);
    }
  }

  VerifyReport MustVerify() {
    auto r = Verify(dir_.string());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }

  // Runs SQL on the closed log's database, as an attacker with file access would.
  void Sql(const std::string& sql) {
    Status s = storage::testing::ExecOnSqliteFile((dir_ / "audit.db").string(), sql);
    ASSERT_TRUE(s.ok()) << s.ToString() << " in " << sql;
  }

  // Runs one statement with blob parameters.
  void SqlBlobs(const std::string& sql, const std::vector<std::string>& blobs) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "audit.db").string().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      sqlite3_bind_blob(st, static_cast<int>(i + 1), blobs[i].data(),
                        static_cast<int>(blobs[i].size()), SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_DONE) << msg;
  }

  // One column of one row as bytes.
  std::string SqlValue(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "audit.db").string().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(st, 0);
      out.assign(static_cast<const char*>(p), sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  // Builds the standard tampering subject: 20 records, checkpoints at 5, 10, 15 and 20, closed.
  void BuildTwenty() {
    Open();
    AppendN(20);
    Close();
    VerifyReport r = MustVerify();
    ASSERT_TRUE(r.ok()) << r.first_problem->detail;
    ASSERT_EQ(r.records, 20);
    ASSERT_EQ(r.checkpoints, 4);
  }

  void ExpectFinding(Problem problem, std::int64_t seq) {
    auto r = Verify(dir_.string());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(r->ok()) << "tampering not detected";
    EXPECT_EQ(ProblemName(r->first_problem->problem), ProblemName(problem))
        << r->first_problem->detail;
    EXPECT_EQ(r->first_problem->seq, seq) << r->first_problem->detail;
  }

  fs::path dir_;
  ManualClock clock_;
  Options options_;
  std::unique_ptr<AuditLog> log_;
};

// Verifies: REQ-AUD-001, REQ-AUD-002, REQ-AUD-003
TEST_F(AuditLogTest, AppendsAndFindsRecordsByPatient) {
  Open();
  Record r = MakeRecord(0, {"p1", "p2", "p1"});
  r.action = Action::kBreakGlass;
  r.purpose = "ETREAT";
  r.detail = "unconscious patient in the emergency room";
  r.query = "patient=p1&_include=Observation:subject";
  auto seq = log_->Append(r);
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 0);
  AppendN(9, 1);
  EXPECT_EQ(log_->Size(), 10);

  // p1: record 0, and records 1, 4, 7 (i % 3 == 1); newest first.
  auto found = log_->RecordsForPatient("p1", 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::int64_t> seqs;
  for (const auto& s : *found) seqs.push_back(s.seq);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{7, 4, 1, 0}));

  const StoredRecord& first = found->back();
  EXPECT_FALSE(first.personal_deleted);
  EXPECT_EQ(first.logged_us, kStart);
  EXPECT_EQ(first.record.time_us, r.time_us);
  EXPECT_EQ(first.record.actor.user_id, r.actor.user_id);
  EXPECT_EQ(first.record.actor.role, "practitioner");
  EXPECT_EQ(first.record.actor.organization, "Organization/1");
  EXPECT_EQ(first.record.actor.client_id, "app-1");
  EXPECT_EQ(first.record.action, Action::kBreakGlass);
  EXPECT_EQ(first.record.outcome, 200);
  EXPECT_EQ(first.record.patient_ids, r.patient_ids);
  EXPECT_EQ(first.record.resources, r.resources);
  EXPECT_EQ(first.record.query, r.query);
  EXPECT_EQ(first.record.detail, r.detail);
  EXPECT_EQ(first.record.purpose, "ETREAT");
  EXPECT_EQ(first.record.consent_basis, r.consent_basis);
  EXPECT_EQ(first.record.source, r.source);
  EXPECT_EQ(first.record.correlation_id, r.correlation_id);

  // Paging and limits.
  auto page = log_->RecordsForPatient("p1", 2, 7);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 4);
  EXPECT_EQ((*page)[1].seq, 1);
  auto p2 = log_->RecordsForPatient("p2", 100);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->size(), 4u);  // 0, 2, 5, 8
  auto none = log_->RecordsForPatient("nobody", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // The leaves hold no clear patient id, query or detail: only their HMACs.
  Close();
  std::string leaf0 = SqlValue("SELECT leaf FROM record WHERE seq = 0");
  EXPECT_NE(leaf0.find("\"actor\":{\"user\":\"Practitioner/dr-0\""), std::string::npos) << leaf0;
  EXPECT_EQ(leaf0.find("\"p1\""), std::string::npos) << leaf0;
  EXPECT_EQ(leaf0.find("emergency"), std::string::npos) << leaf0;
  EXPECT_EQ(leaf0.find("_include"), std::string::npos) << leaf0;
  std::string salt_b64 = ReadFile(dir_ / "audit-salt");
  salt_b64.erase(salt_b64.find_last_not_of('\n') + 1);
  auto salt = crypto::Base64UrlDecode(salt_b64);
  ASSERT_TRUE(salt.ok());
  std::string p1_hmac = crypto::HmacSha256(*salt, "p1");
  std::string hex;
  for (unsigned char c : p1_hmac) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  EXPECT_NE(leaf0.find(hex), std::string::npos) << "the leaf carries HMAC(salt, patient id)";
}

// Verifies: REQ-AUD-004, REQ-AUD-024
TEST_F(AuditLogTest, KeyAndSaltFilesAreSecretAndReused) {
  Open();
  AppendN(3);
  std::string jwk = log_->PublicJwk();
  Close();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "audit-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((dir_ / "audit-salt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  Open();
  EXPECT_EQ(log_->PublicJwk(), jwk);
  auto found = log_->RecordsForPatient("p0", 10);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);  // the same salt after reopening
  AppendN(3, 3);
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.records, 6);
}

// Verifies: REQ-AUD-010, REQ-AUD-012, REQ-AUD-013, REQ-AUD-024
TEST_F(AuditLogTest, CheckpointsAreSignedEveryNRecordsAndAfterTime) {
  options_.checkpoint_every_records = 4;
  options_.checkpoint_every_us = 60'000'000;
  Open();
  AppendN(9);
  auto cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 2u);
  EXPECT_EQ((*cps)[0].size, 4);
  EXPECT_EQ((*cps)[1].size, 8);
  clock_.Advance(61'000'000);
  AppendN(1, 9);  // a minute later: checkpoint at 10 though only 2 records passed
  cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 3u);
  EXPECT_EQ((*cps)[2].size, 10);
  AppendN(1, 10);
  ASSERT_TRUE(log_->Checkpoint().ok());
  ASSERT_TRUE(log_->Checkpoint().ok());  // nothing new: no second checkpoint of size 11
  cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 4u);
  EXPECT_EQ((*cps)[3].size, 11);

  // Each signature verifies with the published key over the documented text; the root is the
  // tree's root at that size; times do not decrease.
  rapidjson::Document jwk;
  std::string jwk_text = log_->PublicJwk();
  jwk.Parse(jwk_text.c_str());
  auto key = crypto::VerifyKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::int64_t prev_time = 0;
  for (const auto& cp : *cps) {
    std::string text = CheckpointText(cp.size, cp.root, cp.time_us);
    EXPECT_EQ(text.rfind("sund-audit-checkpoint\n" + std::to_string(cp.size) + "\n", 0), 0u);
    EXPECT_TRUE(key->Verify("ES256", text, cp.signature).ok()) << cp.size;
    EXPECT_FALSE(key->Verify("ES256", text + "x", cp.signature).ok());
    auto root = log_->Root(cp.size);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, cp.root);
    EXPECT_GE(cp.time_us, prev_time);
    prev_time = cp.time_us;
  }
  EXPECT_EQ(CheckpointText(3, merkle::EmptyRoot(), 17),
            "sund-audit-checkpoint\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n17");

  // Closing signs the tail.
  AppendN(2, 11);
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.verified_size, 13);
}

// Verifies: REQ-AUD-015, REQ-AUD-016, REQ-AUD-017, REQ-AUD-032
TEST_F(AuditLogTest, ProofsVerifyAgainstCheckpointRoots) {
  options_.checkpoint_every_records = 37;
  Open();
  AppendN(300);  // several stored nodes (level 6 and up: every 64 records)
  auto cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 8u);  // 37, 74, ..., 296
  Close();
  Open();  // proofs and appends after reopening use the rebuilt right edge and stored nodes
  AppendN(33, 300);
  ASSERT_TRUE(log_->Checkpoint().ok());
  cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->back().size, 333);

  // Leaf hashes computed here from the stored bytes, independently of the log's own column.
  auto leaf_hash = [&](std::int64_t seq) {
    return merkle::HashLeaf(SqlValue("SELECT leaf FROM record WHERE seq = " + std::to_string(seq)));
  };
  for (const auto& cp : *cps) {
    for (std::int64_t seq : {std::int64_t{0}, cp.size / 2, cp.size - 1}) {
      auto proof = log_->InclusionProof(seq, cp.size);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_EQ(proof->leaf_hash, leaf_hash(seq));
      EXPECT_TRUE(merkle::VerifyInclusion(seq, cp.size, leaf_hash(seq), proof->path, cp.root))
          << seq << " in " << cp.size;
      EXPECT_FALSE(merkle::VerifyInclusion(
          seq, cp.size, leaf_hash(seq + 1 == cp.size ? 0 : seq + 1), proof->path, cp.root));
    }
  }
  for (std::size_t i = 0; i < cps->size(); ++i) {
    for (std::size_t j = i; j < cps->size(); ++j) {
      const auto& a = (*cps)[i];
      const auto& b = (*cps)[j];
      auto proof = log_->ConsistencyProof(a.size, b.size);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_TRUE(merkle::VerifyConsistency(a.size, b.size, proof->path, a.root, b.root))
          << a.size << " to " << b.size;
      if (i != j) {
        EXPECT_FALSE(merkle::VerifyConsistency(a.size, b.size, proof->path, b.root, a.root));
      }
    }
  }
  EXPECT_FALSE(log_->InclusionProof(333, 333).ok());
  EXPECT_FALSE(log_->InclusionProof(0, 334).ok());
  EXPECT_FALSE(log_->InclusionProof(-1, 10).ok());
  EXPECT_FALSE(log_->ConsistencyProof(10, 9).ok());
  EXPECT_FALSE(log_->ConsistencyProof(10, 334).ok());
  EXPECT_FALSE(log_->Root(334).ok());
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;

  // A changed stored node would make the log serve wrong proofs: Verify names it.
  Sql("UPDATE node SET hash = zeroblob(32) WHERE level = 6 AND idx = 2");
  ExpectFinding(Problem::kBadNode, 128);
}

// Verifies: REQ-AUD-001, REQ-AUD-005, REQ-AUD-024
TEST_F(AuditLogTest, ConcurrentAppendsGetUniqueContiguousSequenceNumbers) {
  options_.checkpoint_every_records = 1000;
  Open();
  // Single thread first: every append is its own transaction and fsync.
  constexpr int kSingle = 300;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kSingle; ++i) {
    auto seq = log_->Append(MakeRecord(i, {"p" + std::to_string(i % 50)}));
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  }
  double single_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        auto seq = log_->Append(MakeRecord(n, {"p" + std::to_string(n % 50)}));
        if (!seq.ok()) {
          failures.fetch_add(1);
          continue;
        }
        seqs[t].push_back(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  double multi_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(failures.load(), 0);

  std::vector<std::int64_t> all;
  for (const auto& v : seqs) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // one thread's appends stay in order
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(all[i], kSingle + static_cast<std::int64_t>(i));
  EXPECT_EQ(log_->Size(), kSingle + kThreads * kPerThread);
  Close();

  std::int64_t n = kSingle + kThreads * kPerThread;
  auto bytes = static_cast<double>(fs::file_size(dir_ / "audit.db"));
  std::printf("[ rate ] audit append, 1 thread: %.0f records/s (%d records, %.2f s)\n",
              kSingle / single_s, kSingle, single_s);
  std::printf("[ rate ] audit append, %d threads: %.0f records/s (%d records, %.2f s)\n", kThreads,
              kThreads * kPerThread / multi_s, kThreads * kPerThread, multi_s);
  std::printf("[ rate ] audit.db: %.0f bytes per record (%lld records, %.0f bytes)\n", bytes / n,
              static_cast<long long>(n), bytes);
  RecordProperty("append_per_s_1_thread", static_cast<int>(kSingle / single_s));
  RecordProperty("append_per_s_8_threads", static_cast<int>(kThreads * kPerThread / multi_s));
  RecordProperty("bytes_per_record", static_cast<int>(bytes / n));

  auto t1 = std::chrono::steady_clock::now();
  VerifyReport r = MustVerify();
  double verify_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("[ rate ] audit verify: %.0f records/s\n", n / verify_s);
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, n);
  EXPECT_EQ(r.verified_size, n);
}

// Verifies: REQ-AUD-005, REQ-AUD-006, REQ-AUD-024
TEST_F(AuditLogTest, AsyncAppendsFromManyThreadsGetOneCallbackEachWithContiguousSeqs) {
  options_.checkpoint_every_records = 1000;
  Open();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr int kTotal = kThreads * kPerThread;
  // Per record: how often its callback ran, the seq it got, and whether it ran on a caller.
  std::vector<std::atomic<int>> calls(kTotal);
  std::vector<std::int64_t> seqs(kTotal, -1);
  std::atomic<int> failures{0};
  std::atomic<int> on_caller_thread{0};
  std::mutex ids_mu;
  std::set<std::thread::id> caller_ids;
  std::set<std::thread::id> callback_ids;
  CallbackCounter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::thread::id me = std::this_thread::get_id();
      {
        std::lock_guard<std::mutex> l(ids_mu);
        caller_ids.insert(me);
      }
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        log_->AppendAsync(MakeRecord(n, {"p" + std::to_string(n % 50)}),
                          [&, n, me](Result<std::int64_t> seq) {
                            if (std::this_thread::get_id() == me) on_caller_thread.fetch_add(1);
                            {
                              std::lock_guard<std::mutex> l(ids_mu);
                              callback_ids.insert(std::this_thread::get_id());
                            }
                            calls[n].fetch_add(1);
                            if (seq.ok()) {
                              seqs[n] = *seq;
                            } else {
                              failures.fetch_add(1);
                            }
                            counter.Add();
                          });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(counter.WaitFor(kTotal)) << counter.count() << " of " << kTotal << " callbacks";
  EXPECT_EQ(log_->Size(), kTotal);
  Close();  // no callback may come late, or twice

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(on_caller_thread.load(), 0);
  EXPECT_EQ(callback_ids.size(), 1u) << "every callback runs on the one writer thread";
  for (auto id : callback_ids) EXPECT_EQ(caller_ids.count(id), 0u);
  for (int n = 0; n < kTotal; ++n) ASSERT_EQ(calls[n].load(), 1) << "record " << n;
  for (int t = 0; t < kThreads; ++t) {
    // One thread's appends are queued, and so written, in order.
    auto first = seqs.begin() + t * kPerThread;
    EXPECT_TRUE(std::is_sorted(first, first + kPerThread)) << "thread " << t;
  }
  std::vector<std::int64_t> sorted = seqs;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < kTotal; ++i) ASSERT_EQ(sorted[i], i);

  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, kTotal);
  EXPECT_EQ(r.verified_size, kTotal);
}

// Verifies: REQ-AUD-007
TEST_F(AuditLogTest, AsyncCallbackComesAfterTheRecordIsCommitted) {
  Open();
  constexpr int kRecords = 40;
  CallbackCounter counter;
  std::atomic<int> committed{0};
  std::vector<std::string> problems(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    // Each record names its own patient, so the query below finds exactly that record.
    std::string patient = "only-" + std::to_string(i);
    log_->AppendAsync(MakeRecord(i, {patient}), [&, i, patient](Result<std::int64_t> seq) {
      if (!seq.ok()) {
        problems[i] = seq.status().ToString();
      } else if (log_->Size() < *seq + 1) {
        problems[i] = "Size() does not include the record yet";
      } else {
        // The query connection sees committed data only.
        auto found = log_->RecordsForPatient(patient, 10);
        if (!found.ok()) {
          problems[i] = found.status().ToString();
        } else if (found->size() != 1 || (*found)[0].seq != *seq ||
                   (*found)[0].record.correlation_id != "req-" + std::to_string(i)) {
          problems[i] = "the record is not readable from the query connection";
        } else {
          committed.fetch_add(1);
        }
      }
      counter.Add();
    });
  }
  ASSERT_TRUE(counter.WaitFor(kRecords));
  Close();  // the writer is done with the locals above
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(problems[i], "") << "record " << i;
  EXPECT_EQ(committed.load(), kRecords);
}

// Verifies: REQ-AUD-008
TEST_F(AuditLogTest, FailedAsyncBatchReportsUnavailableToEveryCallback) {
  options_.checkpoint_every_records = 1000;
  Open();
  AppendN(3);
  // Hold the writer inside the callback of record 3 (after its commit), so that the next ten
  // appends queue up and form one batch.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  log_->AppendAsync(MakeRecord(3, {"p0"}), [&](Result<std::int64_t> seq) {
    EXPECT_TRUE(seq.ok() && *seq == 3);
    entered.set_value();
    release_future.wait();
  });
  entered.get_future().wait();
  // Another writer takes sequence number 9 behind the log's back: the batch 4..13 fails there,
  // and records 4..8, which would have fitted, must fail with it.
  SqlBlobs("INSERT INTO record (seq, logged, leaf_hash, leaf) VALUES (9, 0, ?, ?)",
           {std::string(32, 'x'), "{}"});
  constexpr int kBatch = 10;
  CallbackCounter counter;
  std::vector<Status> outcomes(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    log_->AppendAsync(MakeRecord(4 + i, {"p1"}), [&, i](Result<std::int64_t> seq) {
      outcomes[i] = seq.ok() ? Status::Ok() : seq.status();
      counter.Add();
    });
  }
  release.set_value();
  ASSERT_TRUE(counter.WaitFor(kBatch));
  for (int i = 0; i < kBatch; ++i) {
    EXPECT_EQ(outcomes[i].code(), StatusCode::kUnavailable) << "append " << i;
  }
  EXPECT_EQ(log_->Size(), 4);
  Sql("DELETE FROM record WHERE seq = 9");
  AppendN(3, 4);  // 4, 5, 6: nothing of the failed batch remained
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, 7);
}

// Verifies: REQ-AUD-009
TEST_F(AuditLogTest, CallbacksMayCallTheLog) {
  Open();
  std::promise<std::string> outcome;
  log_->AppendAsync(MakeRecord(0, {"p0"}), [&](Result<std::int64_t> seq) {
    // On the writer thread: the blocking calls must not wait for the writer itself.
    auto second = log_->Append(MakeRecord(1, {"p1"}));
    Status cp = log_->Checkpoint();
    auto purged = log_->ApplyRetention(kStart);
    if (!seq.ok() || *seq != 0 || !second.ok() || *second != 1 || !cp.ok() || !purged.ok()) {
      outcome.set_value("a call from the callback failed");
      return;
    }
    outcome.set_value("");
  });
  auto f = outcome.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::minutes(1)), std::future_status::ready);
  EXPECT_EQ(f.get(), "");
  EXPECT_EQ(log_->Size(), 2);
  auto cps = log_->Checkpoints();
  ASSERT_TRUE(cps.ok());
  ASSERT_FALSE(cps->empty());
  EXPECT_EQ(cps->back().size, 2);
  Close();  // the writer is done with `outcome`
}

// Verifies: REQ-AUD-010
TEST_F(AuditLogTest, DestructorWritesQueuedAsyncAppends) {
  options_.checkpoint_every_records = 1000;
  Open();
  constexpr int kRecords = 100;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < kRecords; ++i) {
    log_->AppendAsync(MakeRecord(i, {"p0"}),
                      [&](Result<std::int64_t> seq) { (seq.ok() ? ok : failed).fetch_add(1); });
  }
  Close();  // at once: most appends are still queued
  EXPECT_EQ(ok.load(), kRecords);
  EXPECT_EQ(failed.load(), 0);
  Open();
  EXPECT_EQ(log_->Size(), kRecords);
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, kRecords);
  EXPECT_EQ(r.verified_size, kRecords);  // the final checkpoint came after the queued appends
}

// Verifies: REQ-AUD-006, REQ-AUD-024
TEST_F(AuditLogTest, AsyncAppendsWithManyInFlight) {
  options_.checkpoint_every_records = 1000;
  Open();
  // 64 chains: each callback starts the chain's next append, so 64 stay in flight, like 64
  // requests waiting for their audit records.
  constexpr int kInFlight = 64;
  constexpr int kTotal = 6400;
  std::atomic<int> issued{0};
  std::atomic<int> failures{0};
  CallbackCounter counter;
  std::function<void()> next = [&] {
    int n = issued.fetch_add(1);
    if (n >= kTotal) return;
    log_->AppendAsync(MakeRecord(n, {"p" + std::to_string(n % 50)}), [&](Result<std::int64_t> seq) {
      if (!seq.ok()) failures.fetch_add(1);
      counter.Add();
      next();
    });
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kInFlight; ++i) next();
  ASSERT_TRUE(counter.WaitFor(kTotal));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(log_->Size(), kTotal);
  std::printf("[ rate ] audit append async, %d in flight: %.0f records/s (%d records, %.2f s)\n",
              kInFlight, kTotal / s, kTotal, s);
  RecordProperty("append_async_per_s_64_in_flight", static_cast<int>(kTotal / s));
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, kTotal);
}

// The writer's own upkeep: retention at its first maintenance after opening, and a checkpoint
// signed once it is due by time, with no further appends to trigger it.
// Verifies: REQ-AUD-014, REQ-AUD-035
TEST_F(AuditLogTest, TheWriterAppliesRetentionAndSignsDueCheckpointsByItself) {
  options_.checkpoint_every_records = 1000;
  options_.checkpoint_every_us = 60'000'000;  // a minute of log time
  Open();
  AppendN(3);
  Close();  // signs a last checkpoint
  clock_.Advance(731 * kDay);
  options_.maintenance_every_us = 10'000;
  options_.retention_chunk = 2;  // records 0 and 1 at the first maintenance, 2 at the next
  Open();
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 300 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };
  EXPECT_TRUE(wait_for([&] {
    auto found = log_->RecordsForPatient("p2", 10);
    return found.ok() && found->size() == 1 && (*found)[0].personal_deleted;
  })) << "retention did not run to the end of its backlog";
  auto first = log_->RecordsForPatient("p0", 10);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE((*first)[0].personal_deleted);
  auto before = log_->Checkpoints();
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(log_->Append(MakeRecord(3, {"p0"})).ok());
  clock_.Advance(61'000'000);
  EXPECT_TRUE(wait_for([&] {
    auto cps = log_->Checkpoints();
    return cps.ok() && cps->size() == before->size() + 1 && cps->back().size == 4;
  })) << "no checkpoint for the last record";
  Close();
  EXPECT_TRUE(MustVerify().ok());
}

// Verifies: REQ-AUD-034
TEST_F(AuditLogTest, RetentionDeletesClearDataAndVerifyStillPasses) {
  options_.retention_chunk = 4;  // ApplyRetention goes on chunk after chunk: 4 + 2
  Open();
  // Records 0..5 now, 6..11 a year later, all for patients p0, p1, p2.
  AppendN(6);
  clock_.Advance(365 * kDay);
  for (int i = 6; i < 12; ++i) {
    ASSERT_TRUE(log_->Append(MakeRecord(i, {"p" + std::to_string(i % 3)})).ok());
  }
  // Two years and a day after the first records: only they are expired.
  std::int64_t now = kStart + 731 * kDay;
  auto purged = log_->ApplyRetention(now);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(*purged, 6);
  auto again = log_->ApplyRetention(now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  auto found = log_->RecordsForPatient("p1", 100);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 4u);  // 10, 7 (kept), 4, 1 (expired)
  EXPECT_EQ((*found)[0].seq, 10);
  EXPECT_FALSE((*found)[0].personal_deleted);
  EXPECT_EQ((*found)[0].record.patient_ids, std::vector<std::string>{"p1"});
  EXPECT_EQ((*found)[0].record.resources, std::vector<std::string>{"Observation/obs-10"});
  EXPECT_EQ((*found)[2].seq, 4);
  EXPECT_TRUE((*found)[2].personal_deleted);
  EXPECT_TRUE((*found)[2].record.patient_ids.empty());
  EXPECT_TRUE((*found)[2].record.resources.empty());
  EXPECT_EQ((*found)[2].record.actor.user_id, "Practitioner/dr-0");  // accountability stays
  Close();

  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, 12);
  // The clear data of expired records is gone from the file, not just unlinked.
  std::string bytes = ReadFile(dir_ / "audit.db");
  EXPECT_EQ(bytes.find("Observation/obs-4\""), std::string::npos);
  EXPECT_NE(bytes.find("Observation/obs-10\""), std::string::npos);
}

// Verifies: REQ-AUD-008
TEST_F(AuditLogTest, FailedAppendIsNotAcknowledgedAndTheLogRecovers) {
  Open();
  AppendN(3);
  // Another writer takes sequence number 3 behind the log's back: the next append fails.
  SqlBlobs("INSERT INTO record (seq, logged, leaf_hash, leaf) VALUES (3, 0, ?, ?)",
           {std::string(32, 'x'), "{}"});
  auto failed = log_->Append(MakeRecord(3, {"p0"}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  Sql("DELETE FROM record WHERE seq = 3");
  AppendN(3, 3);  // the same sequence number again: nothing of the failed batch remained
  Close();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, 6);
}

// Verifies: REQ-AUD-011, REQ-AUD-024
TEST_F(AuditLogTest, VerifyRunsBesideALiveLog) {
  Open();
  AppendN(12);
  EXPECT_EQ(SqlValue("PRAGMA journal_mode"), "wal");
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, 12);
  EXPECT_EQ(r.verified_size, 10);  // the last two records are not yet under a checkpoint
  AppendN(3, 12);
  r = MustVerify();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.records, 15);
  EXPECT_EQ(r.verified_size, 15);
}

// Verifies: REQ-AUD-033
TEST_F(AuditLogTest, VerifyNeedsALog) {
  auto r = Verify(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

// --- Tampering: each kind of change is found, with the first bad record. ---

// Verifies: REQ-AUD-025
TEST_F(AuditLogTest, DetectsModifiedRecordBytes) {
  BuildTwenty();
  Sql("UPDATE record SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"outcome\":200', "
      "'\"outcome\":403') AS BLOB) WHERE seq = 7");
  ExpectFinding(Problem::kModified, 7);
}

// Verifies: REQ-AUD-025
TEST_F(AuditLogTest, DetectsChangedLeafHash) {
  BuildTwenty();
  Sql("UPDATE record SET leaf_hash = (SELECT leaf_hash FROM record WHERE seq = 8) WHERE seq = 7");
  ExpectFinding(Problem::kModified, 7);
}

// Verifies: REQ-AUD-026
TEST_F(AuditLogTest, DetectsConsistentRewriteThroughTheSignedRoot) {
  BuildTwenty();
  // The attacker rewrites record 7 and its leaf hash to match: only the checkpoint of size 10
  // can tell, and the change lies after the last good checkpoint (5).
  std::string leaf = SqlValue("SELECT leaf FROM record WHERE seq = 7");
  std::size_t at = leaf.find("dr-1");
  ASSERT_NE(at, std::string::npos);
  leaf.replace(at, 4, "dr-9");
  SqlBlobs("UPDATE record SET leaf = ?1, leaf_hash = ?2 WHERE seq = 7",
           {leaf, std::string(merkle::Bytes(merkle::HashLeaf(leaf)))});
  ExpectFinding(Problem::kRootMismatch, 5);
}

// Verifies: REQ-AUD-027
TEST_F(AuditLogTest, DetectsDeletedRecord) {
  BuildTwenty();
  Sql("DELETE FROM record WHERE seq = 7");
  ExpectFinding(Problem::kDeleted, 7);
}

// Verifies: REQ-AUD-027
TEST_F(AuditLogTest, DetectsDeletedAndRenumberedRecord) {
  BuildTwenty();
  Sql("DELETE FROM record WHERE seq = 7; UPDATE record SET seq = -(seq - 1) WHERE seq > 7; "
      "UPDATE record SET seq = -seq WHERE seq < 0;");
  ExpectFinding(Problem::kDeleted, 7);
}

// Verifies: REQ-AUD-027
TEST_F(AuditLogTest, DetectsDeletedTail) {
  BuildTwenty();
  Sql("DELETE FROM record WHERE seq >= 17");
  ExpectFinding(Problem::kDeleted, 17);
}

// Verifies: REQ-AUD-028
TEST_F(AuditLogTest, DetectsSwappedRecords) {
  BuildTwenty();
  Sql("UPDATE record SET seq = -1 WHERE seq = 7; UPDATE record SET seq = 7 WHERE seq = 8; "
      "UPDATE record SET seq = 8 WHERE seq = -1;");
  ExpectFinding(Problem::kReordered, 7);
}

// Verifies: REQ-AUD-028
TEST_F(AuditLogTest, DetectsInsertedRecord) {
  BuildTwenty();
  // Make room at 5 and put in a made-up record that claims to be number 5, with a valid hash.
  std::string leaf = SqlValue("SELECT leaf FROM record WHERE seq = 5");
  std::size_t at = leaf.find("\"outcome\":200");
  ASSERT_NE(at, std::string::npos);
  leaf.replace(at, 13, "\"outcome\":201");
  std::string logged = SqlValue("SELECT CAST(logged AS TEXT) FROM record WHERE seq = 5");
  Sql("UPDATE record SET seq = -(seq + 1) WHERE seq >= 5; "
      "UPDATE record SET seq = -seq WHERE seq < 0;");
  SqlBlobs("INSERT INTO record (seq, logged, leaf_hash, leaf) VALUES (5, " + logged + ", ?, ?)",
           {std::string(merkle::Bytes(merkle::HashLeaf(leaf))), leaf});
  ExpectFinding(Problem::kInserted, 5);
}

// Verifies: REQ-AUD-029
TEST_F(AuditLogTest, DetectsForgedCheckpointRoot) {
  BuildTwenty();
  Sql("UPDATE checkpoint SET root = (SELECT root FROM checkpoint WHERE size = 5) "
      "WHERE size = 10");
  ExpectFinding(Problem::kBadCheckpoint, 10);
}

// Verifies: REQ-AUD-029
TEST_F(AuditLogTest, DetectsCheckpointSignedWithAnotherKey) {
  BuildTwenty();
  // Rewrite record 7 consistently and re-sign checkpoint 10 with the attacker's key, under the
  // log's key id.
  std::string leaf = SqlValue("SELECT leaf FROM record WHERE seq = 7");
  std::size_t at = leaf.find("dr-1");
  ASSERT_NE(at, std::string::npos);
  leaf.replace(at, 4, "dr-9");
  SqlBlobs("UPDATE record SET leaf = ?1, leaf_hash = ?2 WHERE seq = 7",
           {leaf, std::string(merkle::Bytes(merkle::HashLeaf(leaf)))});
  std::vector<merkle::Hash> leaves;
  for (int i = 0; i < 10; ++i) {
    leaves.push_back(
        merkle::HashLeaf(SqlValue("SELECT leaf FROM record WHERE seq = " + std::to_string(i))));
  }
  merkle::Hash root = merkle::RootOfLeafHashes(leaves);
  auto other = crypto::SigningKey::Generate("ES256");
  ASSERT_TRUE(other.ok());
  std::string time = SqlValue("SELECT CAST(time AS TEXT) FROM checkpoint WHERE size = 10");
  auto sig = other->Sign(CheckpointText(10, root, std::stoll(time)));
  ASSERT_TRUE(sig.ok());
  SqlBlobs("UPDATE checkpoint SET root = ?1, signature = ?2 WHERE size = 10",
           {std::string(merkle::Bytes(root)), *sig});
  ExpectFinding(Problem::kBadCheckpoint, 10);
}

// Verifies: REQ-AUD-054
TEST_F(AuditLogTest, DetectsCheckpointsOfAForeignKey) {
  BuildTwenty();
  // Verified with another key than the log's: the first checkpoint already fails.
  auto other = crypto::SigningKey::Generate("ES256");
  ASSERT_TRUE(other.ok());
  fs::path other_path = dir_ / "other-key.pem";
  {
    std::ofstream out(other_path, std::ios::binary);
    out << other->ToPem();
  }
  auto r = Verify(dir_.string(), other_path.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->ok()) << "a foreign key was accepted";
  EXPECT_EQ(r->first_problem->problem, Problem::kBadCheckpoint);
  EXPECT_EQ(r->first_problem->seq, 5);
  EXPECT_NE(r->first_problem->detail.find("not the log's"), std::string::npos)
      << r->first_problem->detail;
  // A checkpoint that names another key id than the log's.
  Sql("UPDATE checkpoint SET kid = 'someone-elses-key' WHERE size = 10");
  ExpectFinding(Problem::kBadCheckpoint, 10);
}

// The log's own key signs a checkpoint older than the one before it (a clock set back, or an
// attacker holding the key): the order of the signed tree heads is checked too.
// Verifies: REQ-AUD-055
TEST_F(AuditLogTest, DetectsCheckpointTimeGoingBackwards) {
  BuildTwenty();
  auto key = crypto::SigningKey::FromPem(ReadFile(dir_ / "audit-key.pem"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::optional<merkle::Hash> root =
      merkle::FromBytes(SqlValue("SELECT root FROM checkpoint WHERE size = 10"));
  ASSERT_TRUE(root.has_value());
  std::int64_t earlier =
      std::stoll(SqlValue("SELECT CAST(time AS TEXT) FROM checkpoint WHERE size = 5")) - 1;
  auto sig = key->Sign(CheckpointText(10, *root, earlier));
  ASSERT_TRUE(sig.ok());
  SqlBlobs("UPDATE checkpoint SET time = " + std::to_string(earlier) +
               ", signature = ?1 WHERE size = 10",
           {*sig});
  auto r = Verify(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->ok()) << "a checkpoint older than its predecessor was accepted";
  EXPECT_EQ(r->first_problem->problem, Problem::kBadCheckpoint);
  EXPECT_EQ(r->first_problem->seq, 10);
  EXPECT_NE(r->first_problem->detail.find("older than the one before it"), std::string::npos)
      << r->first_problem->detail;
}

// Record 7 rewritten, with a matching hash, to a log time before record 6's: found at once as
// out of order, before any checkpoint is reached.
// Verifies: REQ-AUD-055
TEST_F(AuditLogTest, DetectsRecordLogTimeGoingBackwards) {
  BuildTwenty();
  std::string logged6 = SqlValue("SELECT CAST(logged AS TEXT) FROM record WHERE seq = 6");
  std::string logged7 = SqlValue("SELECT CAST(logged AS TEXT) FROM record WHERE seq = 7");
  std::string earlier = std::to_string(std::stoll(logged6) - 1);
  std::string leaf = SqlValue("SELECT leaf FROM record WHERE seq = 7");
  std::string field = "\"logged\":" + logged7;
  std::size_t at = leaf.find(field);
  ASSERT_NE(at, std::string::npos) << leaf;
  leaf.replace(at, field.size(), "\"logged\":" + earlier);
  SqlBlobs("UPDATE record SET leaf = ?1, leaf_hash = ?2, logged = " + earlier + " WHERE seq = 7",
           {leaf, std::string(merkle::Bytes(merkle::HashLeaf(leaf)))});
  ExpectFinding(Problem::kReordered, 7);
}

// Verify cannot check anything without the log's key or its salt: it answers an error, not a
// finding.
// Verifies: REQ-AUD-056
TEST_F(AuditLogTest, VerifyNeedsTheKeyAndTheSalt) {
  BuildTwenty();
  fs::rename(dir_ / "audit-key.pem", dir_ / "key.moved");
  auto no_key = Verify(dir_.string());
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.status().code(), StatusCode::kNotFound);
  fs::rename(dir_ / "key.moved", dir_ / "audit-key.pem");
  fs::rename(dir_ / "audit-salt", dir_ / "salt.moved");
  auto no_salt = Verify(dir_.string());
  ASSERT_FALSE(no_salt.ok());
  EXPECT_EQ(no_salt.status().code(), StatusCode::kNotFound);
  fs::rename(dir_ / "salt.moved", dir_ / "audit-salt");
  EXPECT_TRUE(MustVerify().ok());
}

// The tail after the last checkpoint is cut off, with the checkpoint that covered it and its
// patient index rows, but its clear personal data is left behind: that data shows the records
// existed. (Cut off with their personal rows as well, see the next test.)
// Verifies: REQ-AUD-057
TEST_F(AuditLogTest, DetectsDeletedTailThroughItsPersonalData) {
  BuildTwenty();
  Sql("DELETE FROM record WHERE seq >= 17; DELETE FROM patient_index WHERE seq >= 17; "
      "DELETE FROM checkpoint WHERE size = 20;");
  ExpectFinding(Problem::kDeleted, 17);
}

// A limit (src/audit/README.md): the newest records removed together with everything that
// names them, checkpoints included, leave a log that verifies, only shorter. The report's
// verified size then tells how far the signatures reach, to compare with checkpoints published
// earlier (GET /audit/checkpoints).
// Verifies: REQ-AUD-058
TEST_F(AuditLogTest, ATailRemovedWithItsCheckpointShowsOnlyAsAShorterLog) {
  BuildTwenty();
  Sql("DELETE FROM record WHERE seq >= 17; DELETE FROM patient_index WHERE seq >= 17; "
      "DELETE FROM personal WHERE seq >= 17; DELETE FROM checkpoint WHERE size = 20;");
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok()) << r.first_problem->detail;
  EXPECT_EQ(r.records, 17);
  EXPECT_EQ(r.checkpoints, 3);
  EXPECT_EQ(r.verified_size, 15);
}

// Verifies: REQ-AUD-030
TEST_F(AuditLogTest, DetectsRecordHiddenFromThePatientsLog) {
  BuildTwenty();
  Sql("DELETE FROM patient_index WHERE seq = 11");
  ExpectFinding(Problem::kModified, 11);
}

// Verifies: REQ-AUD-030
TEST_F(AuditLogTest, DetectsAccessAttributedToAnotherPatient) {
  BuildTwenty();
  // Record 3 names p0; an index row that adds p1 to it would show a false access in p1's log.
  SqlBlobs(
      "INSERT INTO patient_index (patient_hash, seq) VALUES "
      "((SELECT patient_hash FROM patient_index WHERE seq = 1), 3)",
      {});
  ExpectFinding(Problem::kModified, 3);
}

// Verifies: REQ-AUD-031
TEST_F(AuditLogTest, DetectsChangedClearPersonalData) {
  BuildTwenty();
  Sql("UPDATE personal SET data = CAST(replace(CAST(data AS TEXT), 'obs-9', 'obs-8') AS BLOB) "
      "WHERE seq = 9");
  ExpectFinding(Problem::kModified, 9);
}

}  // namespace
}  // namespace sund::audit
