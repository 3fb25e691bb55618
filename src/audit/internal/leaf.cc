#include "audit/internal/leaf.h"

#include <algorithm>
#include <limits>

#include "core/crypto.h"
#include "core/json.h"

namespace sund::audit::internal {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void String(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void StringArray(Writer& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const auto& s : items) String(w, s);
  w.EndArray();
}

merkle::Hash ToHash(const std::string& raw) {
  std::optional<merkle::Hash> h = merkle::FromBytes(raw);
  SUND_CHECK(h.has_value());
  return *h;
}

// Member `name` of `obj` when it is a string.
bool GetString(const rapidjson::Value& obj, const char* name, std::string& out) {
  const rapidjson::Value* v = json::Find(obj, name);
  if (v == nullptr || !v->IsString()) return false;
  out.assign(v->GetString(), v->GetStringLength());
  return true;
}

bool GetStringArray(const rapidjson::Value& obj, const char* name, std::vector<std::string>& out) {
  const rapidjson::Value* v = json::Find(obj, name);
  if (v == nullptr || !v->IsArray()) return false;
  out.clear();
  for (const auto& item : v->GetArray()) {
    if (!item.IsString()) return false;
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return true;
}

bool GetInt64(const rapidjson::Value& obj, const char* name, std::int64_t& out) {
  const rapidjson::Value* v = json::Find(obj, name);
  if (v == nullptr || !v->IsInt64()) return false;
  out = v->GetInt64();
  return true;
}

Status Malformed(const char* what) {
  return InvalidArgument(std::string("audit leaf is malformed: ") + what);
}

}  // namespace

merkle::Hash PatientHash(const crypto::HmacSha256Key& salt, std::string_view patient_id) {
  return ToHash(salt.Mac(patient_id));
}

merkle::Hash PersonalDigest(const crypto::HmacSha256Key& salt, std::string_view personal) {
  return ToHash(salt.Mac(personal));
}

PreparedLeaf Prepare(const Record& record, const crypto::HmacSha256Key& salt) {
  PreparedLeaf out;
  for (const auto& id : record.patient_ids) out.patient_hashes.push_back(PatientHash(salt, id));
  std::sort(out.patient_hashes.begin(), out.patient_hashes.end());
  out.patient_hashes.erase(std::unique(out.patient_hashes.begin(), out.patient_hashes.end()),
                           out.patient_hashes.end());

  {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("patients");
    StringArray(w, record.patient_ids);
    w.Key("resources");
    StringArray(w, record.resources);
    w.Key("query");
    String(w, record.query);
    w.Key("detail");
    String(w, record.detail);
    w.EndObject();
    out.personal.assign(buf.GetString(), buf.GetSize());
  }
  merkle::Hash digest = PersonalDigest(salt, out.personal);

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("time");
  w.Int64(record.time_us);
  w.Key("actor");
  w.StartObject();
  w.Key("user");
  String(w, record.actor.user_id);
  w.Key("role");
  String(w, record.actor.role);
  w.Key("org");
  String(w, record.actor.organization);
  w.Key("app");
  String(w, record.actor.client_id);
  w.EndObject();
  w.Key("action");
  String(w, ActionName(record.action));
  w.Key("outcome");
  w.Int(record.outcome);
  w.Key("purpose");
  String(w, record.purpose);
  w.Key("consent");
  StringArray(w, record.consent_basis);
  w.Key("source");
  String(w, record.source);
  w.Key("correlation");
  String(w, record.correlation_id);
  w.Key("patients");
  w.StartArray();
  for (const auto& h : out.patient_hashes) String(w, merkle::ToHex(h));
  w.EndArray();
  w.Key("personal");
  String(w, merkle::ToHex(digest));
  w.EndObject();
  // Drop the opening brace: LeafBytes puts the version, sequence number and log time first.
  out.body.assign(buf.GetString() + 1, buf.GetSize() - 1);
  return out;
}

std::string LeafBytes(std::int64_t seq, std::int64_t logged_us, const PreparedLeaf& prepared) {
  std::string out;
  out.reserve(prepared.body.size() + 64);
  out += "{\"v\":";
  out += std::to_string(kLeafVersion);
  out += ",\"seq\":";
  out += std::to_string(seq);
  out += ",\"logged\":";
  out += std::to_string(logged_us);
  out += ',';
  out += prepared.body;
  return out;
}

Result<ParsedLeaf> ParseLeaf(std::string_view bytes) {
  rapidjson::Document d;
  d.Parse(bytes.data(), bytes.size());
  if (d.HasParseError() || !d.IsObject()) return Malformed("not a JSON object");
  std::int64_t version = 0;
  if (!GetInt64(d, "v", version) || version != kLeafVersion) return Malformed("version");
  ParsedLeaf out;
  if (!GetInt64(d, "seq", out.seq)) return Malformed("seq");
  if (!GetInt64(d, "logged", out.logged_us)) return Malformed("logged");
  Record& r = out.record;
  if (!GetInt64(d, "time", r.time_us)) return Malformed("time");
  const rapidjson::Value* actor = json::Find(d, "actor");
  if (actor == nullptr || !actor->IsObject()) return Malformed("actor");
  if (!GetString(*actor, "user", r.actor.user_id) || !GetString(*actor, "role", r.actor.role) ||
      !GetString(*actor, "org", r.actor.organization) ||
      !GetString(*actor, "app", r.actor.client_id)) {
    return Malformed("actor");
  }
  std::string action;
  if (!GetString(d, "action", action)) return Malformed("action");
  std::optional<Action> a = ParseAction(action);
  if (!a.has_value()) return Malformed("unknown action");
  r.action = *a;
  std::int64_t outcome = 0;
  if (!GetInt64(d, "outcome", outcome) || outcome < std::numeric_limits<int>::min() ||
      outcome > std::numeric_limits<int>::max()) {
    return Malformed("outcome");
  }
  r.outcome = static_cast<int>(outcome);
  if (!GetString(d, "purpose", r.purpose)) return Malformed("purpose");
  if (!GetStringArray(d, "consent", r.consent_basis)) return Malformed("consent");
  if (!GetString(d, "source", r.source)) return Malformed("source");
  if (!GetString(d, "correlation", r.correlation_id)) return Malformed("correlation");
  std::vector<std::string> patients;
  if (!GetStringArray(d, "patients", patients)) return Malformed("patients");
  for (const auto& hex : patients) {
    std::optional<merkle::Hash> h = merkle::FromHex(hex);
    if (!h.has_value()) return Malformed("patient hash");
    out.patient_hashes.push_back(*h);
  }
  std::string personal;
  if (!GetString(d, "personal", personal)) return Malformed("personal");
  std::optional<merkle::Hash> digest = merkle::FromHex(personal);
  if (!digest.has_value()) return Malformed("personal digest");
  out.personal_digest = *digest;
  return out;
}

Status ParsePersonal(std::string_view bytes, Record& record) {
  rapidjson::Document d;
  d.Parse(bytes.data(), bytes.size());
  if (d.HasParseError() || !d.IsObject()) {
    return InvalidArgument("audit personal block is not a JSON object");
  }
  if (!GetStringArray(d, "patients", record.patient_ids) ||
      !GetStringArray(d, "resources", record.resources) || !GetString(d, "query", record.query) ||
      !GetString(d, "detail", record.detail)) {
    return InvalidArgument("audit personal block is malformed");
  }
  return Status::Ok();
}

}  // namespace sund::audit::internal
