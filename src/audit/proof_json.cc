#include "audit/proof_json.h"

#include <vector>

#include "core/crypto.h"
#include "core/json.h"

namespace sund::audit {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Member(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Hash(Writer& w, const merkle::Hash& h) {
  std::string b64 = crypto::Base64Encode(merkle::Bytes(h));
  w.String(b64.data(), static_cast<rapidjson::SizeType>(b64.size()));
}

void Path(Writer& w, const std::vector<merkle::Hash>& path) {
  w.Key("path");
  w.StartArray();
  for (const auto& h : path) Hash(w, h);
  w.EndArray();
}

std::string Done(const rapidjson::StringBuffer& buf) { return {buf.GetString(), buf.GetSize()}; }

}  // namespace

std::string CheckpointJson(const Checkpoint& checkpoint) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Member(w, "format", kCheckpointFormat);
  Member(w, "alg", "ES256");
  w.Key("size");
  w.Int64(checkpoint.size);
  w.Key("root");
  Hash(w, checkpoint.root);
  w.Key("time");
  w.Int64(checkpoint.time_us);
  Member(w, "signature", crypto::Base64UrlEncode(checkpoint.signature));
  Member(w, "kid", checkpoint.kid);
  w.EndObject();
  return Done(buf);
}

std::string InclusionJson(const Inclusion& inclusion) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("seq");
  w.Int64(inclusion.seq);
  w.Key("tree_size");
  w.Int64(inclusion.tree_size);
  w.Key("leaf_hash");
  Hash(w, inclusion.leaf_hash);
  Path(w, inclusion.path);
  w.EndObject();
  return Done(buf);
}

std::string ConsistencyJson(const Consistency& consistency) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("size1");
  w.Int64(consistency.size1);
  w.Key("size2");
  w.Int64(consistency.size2);
  Path(w, consistency.path);
  w.EndObject();
  return Done(buf);
}

}  // namespace sund::audit
