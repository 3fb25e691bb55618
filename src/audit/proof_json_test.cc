// Tests of the proof documents: exact JSON for fixed inputs (base64 and base64url worked out with
// Python's base64 module), and a round trip through a real AuditLog in a fresh directory where
// the test reads the JSON back by hand, as an outside verifier would, and checks the signature,
// inclusion and consistency with the RFC 9162 algorithms in merkle.h.
#include "audit/proof_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/merkle.h"
#include "core/crypto.h"
#include "core/json.h"

namespace sund::audit {
namespace {

namespace fs = std::filesystem;

// SHA-256 of the empty string, i.e. MTH({}).
constexpr char kEmptyB64[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

// Verifies: REQ-AUD-022
TEST(ProofJsonTest, CheckpointJsonExact) {
  Checkpoint cp;
  cp.size = 3;
  cp.root = merkle::EmptyRoot();
  cp.time_us = 1'700'000'000'000'000;
  for (int i = 0; i < 64; ++i) cp.signature.push_back(static_cast<char>(i));
  cp.kid = "kid-1";
  EXPECT_EQ(CheckpointJson(cp),
            std::string("{\"format\":\"sund-audit-checkpoint\",\"alg\":\"ES256\",\"size\":3,"
                        "\"root\":\"") +
                kEmptyB64 +
                "\",\"time\":1700000000000000,\"signature\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBk"
                "aGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw\",\"kid\":\"kid-1\"}");
}

// Verifies: REQ-AUD-022
TEST(ProofJsonTest, InclusionAndConsistencyJsonExact) {
  Inclusion inc;
  inc.seq = 1;
  inc.tree_size = 2;
  inc.leaf_hash = merkle::EmptyRoot();
  inc.path = {merkle::EmptyRoot()};
  EXPECT_EQ(InclusionJson(inc), std::string("{\"seq\":1,\"tree_size\":2,\"leaf_hash\":\"") +
                                    kEmptyB64 + "\",\"path\":[\"" + kEmptyB64 + "\"]}");
  Consistency con;
  con.size1 = 4;
  con.size2 = 4;
  EXPECT_EQ(ConsistencyJson(con), "{\"size1\":4,\"size2\":4,\"path\":[]}");
}

// ---- Reading the documents back, by hand ----

std::optional<merkle::Hash> HashFromB64(const rapidjson::Value& v) {
  if (!v.IsString()) return std::nullopt;
  auto raw = crypto::Base64Decode(json::View(v));
  if (!raw.ok()) return std::nullopt;
  return merkle::FromBytes(*raw);
}

std::optional<std::int64_t> Int(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = json::Find(obj, name);
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

bool PathFromJson(const rapidjson::Value& obj, std::vector<merkle::Hash>& out) {
  const rapidjson::Value* p = json::Find(obj, "path");
  if (p == nullptr || !p->IsArray()) return false;
  out.clear();
  for (const auto& item : p->GetArray()) {
    auto h = HashFromB64(item);
    if (!h) return false;
    out.push_back(*h);
  }
  return true;
}

struct ParsedCheckpoint {
  std::int64_t size = 0;
  merkle::Hash root{};
  std::int64_t time = 0;
  std::string signature;
  std::string kid;
};

ParsedCheckpoint ParseCheckpoint(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  EXPECT_EQ(json::GetString(d, "format"), "sund-audit-checkpoint");
  EXPECT_EQ(json::GetString(d, "alg"), "ES256");
  ParsedCheckpoint out;
  out.size = Int(d, "size").value_or(-1);
  out.time = Int(d, "time").value_or(-1);
  auto root = HashFromB64(*json::Find(d, "root"));
  EXPECT_TRUE(root.has_value());
  if (root) out.root = *root;
  auto sig = crypto::Base64UrlDecode(json::GetString(d, "signature"));
  EXPECT_TRUE(sig.ok());
  if (sig.ok()) out.signature = *sig;
  out.kid = std::string(json::GetString(d, "kid"));
  return out;
}

Record MakeRecord(int i) {
  Record r;
  r.time_us = 1'700'000'000'000'000 + i;
  r.actor = {"Practitioner/dr-1", "practitioner", "Organization/1", "app-1"};
  r.action = Action::kRead;
  r.outcome = 200;
  r.patient_ids = {"p" + std::to_string(i % 3)};
  r.resources = {"Observation/obs-" + std::to_string(i)};
  r.purpose = "TREAT";
  r.correlation_id = "req-" + std::to_string(i);
  return r;
}

class ProofJsonLogTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-proof-json-test-" + crypto::RandomToken(12));
    Options options;
    options.checkpoint_every_records = 1'000'000;  // checkpoints only on demand
    options.checkpoint_every_us = std::int64_t{1} << 62;
    auto l = AuditLog::Open(dir_.string(), options);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    log_ = std::move(l).value();
  }
  void TearDown() override {
    log_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Append(int n, int first) {
    for (int i = first; i < first + n; ++i) ASSERT_TRUE(log_->Append(MakeRecord(i)).ok());
  }
  // The newest checkpoint, rendered and parsed back, with its signature checked.
  ParsedCheckpoint SignedCheckpoint() {
    EXPECT_TRUE(log_->Checkpoint().ok());
    auto cps = log_->Checkpoints();
    EXPECT_TRUE(cps.ok() && !cps->empty());
    ParsedCheckpoint cp = ParseCheckpoint(CheckpointJson(cps->back()));

    rapidjson::Document jwk;
    std::string jwk_text = log_->PublicJwk();
    jwk.Parse(jwk_text.c_str());
    auto key = crypto::VerifyKey::FromJwk(jwk);
    EXPECT_TRUE(key.ok());
    if (key.ok()) {
      std::string text = CheckpointText(cp.size, cp.root, cp.time);
      EXPECT_TRUE(key->Verify("ES256", text, cp.signature).ok());
      EXPECT_FALSE(
          key->Verify("ES256", CheckpointText(cp.size + 1, cp.root, cp.time), cp.signature).ok());
    }
    EXPECT_EQ(cp.kid, json::GetString(jwk, "kid"));
    return cp;
  }

  fs::path dir_;
  std::unique_ptr<AuditLog> log_;
};

// Verifies: REQ-AUD-013, REQ-AUD-015, REQ-AUD-023
TEST_F(ProofJsonLogTest, InclusionProofRoundTrip) {
  Append(7, 0);
  ParsedCheckpoint cp = SignedCheckpoint();
  ASSERT_EQ(cp.size, 7);
  for (std::int64_t seq = 0; seq < cp.size; ++seq) {
    auto proof = log_->InclusionProof(seq, cp.size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    std::string text = InclusionJson(*proof);
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    ASSERT_FALSE(d.HasParseError()) << text;
    ASSERT_EQ(Int(d, "seq").value_or(-1), seq);
    ASSERT_EQ(Int(d, "tree_size").value_or(-1), cp.size);
    auto leaf = HashFromB64(*json::Find(d, "leaf_hash"));
    ASSERT_TRUE(leaf.has_value());
    std::vector<merkle::Hash> path;
    ASSERT_TRUE(PathFromJson(d, path));
    EXPECT_EQ(path.size(), seq == 6 ? 2u : 3u) << seq;  // RFC 6962: 7 leaves, depth 3
    EXPECT_TRUE(merkle::VerifyInclusion(seq, cp.size, *leaf, path, cp.root)) << seq;

    // A changed path entry or the wrong position no longer leads to the signed root.
    std::vector<merkle::Hash> bad = path;
    bad[0][0] ^= 1;
    EXPECT_FALSE(merkle::VerifyInclusion(seq, cp.size, *leaf, bad, cp.root)) << seq;
    EXPECT_FALSE(merkle::VerifyInclusion((seq + 1) % cp.size, cp.size, *leaf, path, cp.root));
  }
}

// Verifies: REQ-AUD-015, REQ-AUD-016, REQ-AUD-023
TEST_F(ProofJsonLogTest, ConsistencyProofRoundTrip) {
  Append(7, 0);
  ParsedCheckpoint first = SignedCheckpoint();
  Append(6, 7);
  ParsedCheckpoint second = SignedCheckpoint();
  ASSERT_EQ(first.size, 7);
  ASSERT_EQ(second.size, 13);

  auto proof = log_->ConsistencyProof(first.size, second.size);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  std::string text = ConsistencyJson(*proof);
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  ASSERT_FALSE(d.HasParseError()) << text;
  ASSERT_EQ(Int(d, "size1").value_or(-1), 7);
  ASSERT_EQ(Int(d, "size2").value_or(-1), 13);
  std::vector<merkle::Hash> path;
  ASSERT_TRUE(PathFromJson(d, path));
  ASSERT_FALSE(path.empty());
  EXPECT_TRUE(merkle::VerifyConsistency(7, 13, path, first.root, second.root));
  EXPECT_FALSE(merkle::VerifyConsistency(7, 13, path, second.root, first.root));
  path.back()[31] ^= 0x80;
  EXPECT_FALSE(merkle::VerifyConsistency(7, 13, path, first.root, second.root));

  // An old record is still provably in the newer tree.
  auto inc = log_->InclusionProof(2, second.size);
  ASSERT_TRUE(inc.ok());
  std::string inc_text = InclusionJson(*inc);
  rapidjson::Document di;
  di.Parse(inc_text.c_str(), inc_text.size());
  ASSERT_FALSE(di.HasParseError());
  auto leaf = HashFromB64(*json::Find(di, "leaf_hash"));
  ASSERT_TRUE(leaf.has_value());
  std::vector<merkle::Hash> inc_path;
  ASSERT_TRUE(PathFromJson(di, inc_path));
  EXPECT_TRUE(merkle::VerifyInclusion(2, second.size, *leaf, inc_path, second.root));
}

}  // namespace
}  // namespace sund::audit
