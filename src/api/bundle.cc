// Engine::ProcessBundle: batch and transaction Bundles (FHIR R4 http.html#transaction).
#include <algorithm>
#include <functional>
#include <map>
#include <thread>
#include <unordered_map>

#include "api/engine.h"
#include "api/errors.h"
#include "core/ids.h"
#include "fhir/json_patch.h"
#include "fhir/model.h"
#include "fhir/resource.h"
#include "http/query.h"

namespace sund::api {
namespace {

enum class Verb { kGet, kHead, kPost, kPut, kPatch, kDelete };

struct Entry {
  std::size_t index = 0;
  Verb verb = Verb::kGet;
  std::string url;       // request.url
  std::string full_url;  // entry.fullUrl
  std::string type, id;  // from the url
  std::string query;     // conditional criteria in the url ("identifier=x")
  std::string if_none_exist, if_match;
  rapidjson::Value* resource = nullptr;
  // outcome
  int status = 0;
  std::string location, etag, last_modified;
  std::string outcome;  // OperationOutcome JSON for a failed entry (batch)
  std::string body;     // resource JSON for GET entries
  bool failed = false;  // rejected before processing (batch only)
};

Result<Verb> ParseVerb(std::string_view m) {
  if (m == "GET") return Verb::kGet;
  if (m == "HEAD") return Verb::kHead;
  if (m == "POST") return Verb::kPost;
  if (m == "PUT") return Verb::kPut;
  if (m == "PATCH") return Verb::kPatch;
  if (m == "DELETE") return Verb::kDelete;
  return InvalidArgument("unknown request.method '" + std::string(m) + "'");
}

// Splits "Patient/123?x" / "Patient?identifier=..." into type, id, query.
Status ParseEntryUrl(Entry& e) {
  std::string_view url = e.url;
  if (auto q = url.find('?'); q != std::string_view::npos) {
    e.query = std::string(url.substr(q + 1));
    url = url.substr(0, q);
  }
  while (!url.empty() && url.front() == '/') url.remove_prefix(1);
  std::size_t slash = url.find('/');
  e.type = std::string(url.substr(0, slash));
  if (slash != std::string_view::npos) e.id = std::string(url.substr(slash + 1));
  if (!fhir::Model::R4().IsResourceType(e.type)) {
    return InvalidArgument("unknown resource type in request.url");
  }
  return Status::Ok();
}

int Order(Verb v) {
  switch (v) {
    case Verb::kDelete:
      return 0;
    case Verb::kPost:
      return 1;
    case Verb::kPut:
    case Verb::kPatch:
      return 2;
    default:
      return 3;
  }
}

std::optional<std::int64_t> ParseETag(std::string_view etag) {
  if (etag.empty()) return std::nullopt;
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  char* end = nullptr;
  std::string s(etag);
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') return std::nullopt;
  return v;
}

// Rewrites every "reference" string in `v` through `resolve` (urn:uuid placeholders and
// conditional references). Returns the first error.
template <typename F>
Status RewriteReferences(rapidjson::Value& v, rapidjson::Document::AllocatorType& a, F& resolve) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (m.value.IsString() && m.name == "reference") {
        std::string_view ref = json::View(m.value);
        SUND_ASSIGN_OR_RETURN(std::optional<std::string> replaced, resolve(ref));
        if (replaced)
          m.value.SetString(replaced->c_str(), static_cast<rapidjson::SizeType>(replaced->size()),
                            a);
      } else if (m.value.IsObject() || m.value.IsArray()) {
        SUND_RETURN_IF_ERROR(RewriteReferences(m.value, a, resolve));
      }
    }
  } else if (v.IsArray()) {
    for (auto& x : v.GetArray()) SUND_RETURN_IF_ERROR(RewriteReferences(x, a, resolve));
  }
  return Status::Ok();
}

void WriteResponseEntry(rapidjson::Writer<rapidjson::StringBuffer>& w, const Entry& e,
                        std::string_view base) {
  w.StartObject();
  if (!e.location.empty()) {
    std::string full = std::string(base) + "/" + e.location.substr(0, e.location.find("/_history"));
    w.Key("fullUrl");
    w.String(full.c_str());
  }
  if (!e.body.empty()) {
    w.Key("resource");
    w.RawValue(e.body.data(), e.body.size(), rapidjson::kObjectType);
  }
  w.Key("response");
  w.StartObject();
  w.Key("status");
  w.String(HttpStatusLine(e.status).c_str());
  if (!e.location.empty()) {
    w.Key("location");
    w.String(e.location.c_str());
  }
  if (!e.etag.empty()) {
    w.Key("etag");
    w.String(e.etag.c_str());
  }
  if (!e.last_modified.empty()) {
    w.Key("lastModified");
    w.String(e.last_modified.c_str());
  }
  if (!e.outcome.empty()) {
    w.Key("outcome");
    w.RawValue(e.outcome.data(), e.outcome.size(), rapidjson::kObjectType);
  }
  w.EndObject();
  w.EndObject();
}

}  // namespace

Result<std::string> Engine::ProcessBundle(rapidjson::Document bundle, std::string_view base,
                                          const EntryGuard& guard) {
  return RunBundle(nullptr, std::move(bundle), base, nullptr, nullptr, nullptr,
                   guard ? &guard : nullptr);
}

Result<std::int64_t> Engine::ApplyTransaction(storage::WriteTransaction& w,
                                              rapidjson::Document bundle) {
  Txn t;
  t.w = &w;
  std::int64_t written = 0;
  SUND_RETURN_IF_ERROR(w.Savepoint());
  auto r = RunBundle(&t, std::move(bundle), "urn:import", &written);
  // (A batch Bundle's failing entries are undone alone and reported in the response; here only
  // the count of written entries is kept.)
  if (!r.ok()) {
    w.RollbackToSavepoint().IgnoreError();
    return r.status();
  }
  SUND_RETURN_IF_ERROR(w.ReleaseSavepoint());
  return written;
}

Result<std::unique_ptr<DeferredBundle>> Engine::PlanTransaction(
    storage::WriteTransaction& w, rapidjson::Document bundle, std::int64_t* written,
    const std::vector<std::string>* conditional_refs) {
  Txn t;
  t.w = &w;
  std::unique_ptr<DeferredBundle> deferred;
  SUND_RETURN_IF_ERROR(w.Savepoint());
  auto r = RunBundle(&t, std::move(bundle), "urn:import", written, &deferred, conditional_refs);
  if (!r.ok()) {
    w.RollbackToSavepoint().IgnoreError();
    return r.status();
  }
  SUND_RETURN_IF_ERROR(w.ReleaseSavepoint());
  return deferred;
}

void Engine::PrepareDeferred(DeferredBundle& d) {
  for (auto& j : d.jobs) {
    rapidjson::Document doc;
    doc.CopyFrom(*j.resource, doc.GetAllocator());
    if (d.references) {
      const auto& refs = *d.references;
      auto resolve = [&refs](std::string_view ref) -> Result<std::optional<std::string>> {
        auto it = refs.find(std::string(ref));
        if (it != refs.end()) return std::optional<std::string>(it->second);
        if (ref.rfind("urn:uuid:", 0) == 0 || ref.rfind("urn:oid:", 0) == 0) {
          return InvalidArgument("reference to a urn that no entry in the Bundle has");
        }
        if (ref.find('?') != std::string_view::npos) {
          return InvalidArgument("unresolved conditional reference");
        }
        return std::optional<std::string>();
      };
      Status rs = RewriteReferences(doc, doc.GetAllocator(), resolve);
      if (!rs.ok()) {
        j.status = rs;
        continue;
      }
    }
    auto p = PrepareVersion(j.type, j.id, j.version, j.method, doc);
    if (!p.ok()) {
      j.status = p.status();
      continue;
    }
    j.prepared = std::move(p->version);
    j.index = std::move(p->index);
  }
  d.prepared = true;
}

Result<std::int64_t> Engine::WriteDeferred(storage::WriteTransaction& w, DeferredBundle& d) {
  if (!d.prepared) PrepareDeferred(d);
  for (const auto& j : d.jobs) {
    if (!j.status.ok()) return Status(j.status.code(), j.type + " entry: " + j.status.message());
  }
  SUND_RETURN_IF_ERROR(w.Savepoint());
  for (auto& j : d.jobs) {
    Status s = w.Put(j.prepared, std::move(j.index));
    if (!s.ok()) {
      w.RollbackToSavepoint().IgnoreError();
      return s;
    }
  }
  SUND_RETURN_IF_ERROR(w.ReleaseSavepoint());
  return static_cast<std::int64_t>(d.jobs.size());
}

std::vector<std::string> LookupTypes(const rapidjson::Value& bundle,
                                     std::vector<std::string>* conditional_refs) {
  std::vector<std::string> types;
  auto add = [&](std::string_view t) {
    if (std::find(types.begin(), types.end(), t) == types.end()) types.emplace_back(t);
  };
  std::function<void(const rapidjson::Value&)> walk = [&](const rapidjson::Value& v) {
    if (v.IsObject()) {
      for (const auto& m : v.GetObject()) {
        if (m.value.IsString() && m.name == "reference") {
          std::string_view ref = json::View(m.value);
          if (auto q = ref.find('?'); q != std::string_view::npos) {
            add(ref.substr(0, q));
            if (conditional_refs != nullptr &&
                std::find(conditional_refs->begin(), conditional_refs->end(), ref) ==
                    conditional_refs->end()) {
              conditional_refs->emplace_back(ref);
            }
          }
        } else if (m.value.IsObject() || m.value.IsArray()) {
          walk(m.value);
        }
      }
    } else if (v.IsArray()) {
      for (const auto& x : v.GetArray()) walk(x);
    }
  };
  const rapidjson::Value* entries = json::Find(bundle, "entry");
  if (entries == nullptr || !entries->IsArray()) return types;
  for (const auto& e : entries->GetArray()) {
    const rapidjson::Value* req = json::Find(e, "request");
    if (req != nullptr) {
      std::string_view method = json::GetString(*req, "method");
      std::string_view url = json::GetString(*req, "url");
      std::string_view type = url.substr(0, url.find_first_of("/?"));
      if (method != "POST" || !json::GetString(*req, "ifNoneExist").empty()) add(type);
    }
    if (const rapidjson::Value* r = json::Find(e, "resource")) walk(*r);
  }
  return types;
}

Result<std::string> Engine::RunBundle(Txn* outer, rapidjson::Document bundle, std::string_view base,
                                      std::int64_t* written, std::unique_ptr<DeferredBundle>* defer,
                                      const std::vector<std::string>* conditional_refs,
                                      const EntryGuard* guard) {
  if (!bundle.IsObject() || json::GetString(bundle, "resourceType") != "Bundle") {
    return InvalidArgument("expected a Bundle");
  }
  std::string_view bundle_type = json::GetString(bundle, "type");
  bool transaction = bundle_type == "transaction";
  if (!transaction && bundle_type != "batch") {
    return InvalidArgument("Bundle.type must be transaction or batch");
  }

  std::vector<Entry> entries;
  if (auto list_it = bundle.FindMember("entry"); list_it != bundle.MemberEnd()) {
    rapidjson::Value* list = &list_it->value;
    if (!list->IsArray()) return InvalidArgument("Bundle.entry must be an array");
    if (static_cast<int>(list->Size()) > options_.max_bundle_entries) {
      return Status(
          StatusCode::kTooLarge,
          "Bundle has more than " + std::to_string(options_.max_bundle_entries) + " entries");
    }
    std::size_t i = 0;
    for (auto& item : list->GetArray()) {
      Entry e;
      e.index = i++;
      auto check = [&]() -> Status {
        const rapidjson::Value* req = json::Find(item, "request");
        if (req == nullptr || !req->IsObject()) return InvalidArgument("no request");
        SUND_ASSIGN_OR_RETURN(e.verb, ParseVerb(json::GetString(*req, "method")));
        e.url = std::string(json::GetString(*req, "url"));
        e.if_none_exist = std::string(json::GetString(*req, "ifNoneExist"));
        e.if_match = std::string(json::GetString(*req, "ifMatch"));
        e.full_url = std::string(json::GetString(item, "fullUrl"));
        if (e.url.empty()) return InvalidArgument("no request.url");
        SUND_RETURN_IF_ERROR(ParseEntryUrl(e));
        auto it = item.FindMember("resource");
        if (it != item.MemberEnd()) e.resource = &it->value;
        if ((e.verb == Verb::kPost || e.verb == Verb::kPut) &&
            (e.resource == nullptr || !e.resource->IsObject())) {
          return InvalidArgument("needs a resource");
        }
        if (e.resource != nullptr && e.resource->IsObject() &&
            (e.verb == Verb::kPost || e.verb == Verb::kPut) &&
            json::GetString(*e.resource, "resourceType") != e.type) {
          return InvalidArgument("resourceType does not match request.url");
        }
        if (guard != nullptr) {
          EntryView v;
          v.method = json::GetString(*req, "method");
          v.type = e.type;
          v.id = e.id;
          v.query = e.query;
          v.conditional = !e.if_none_exist.empty() ||
                          ((e.verb == Verb::kPut || e.verb == Verb::kDelete) && e.id.empty());
          v.resource = e.resource;
          SUND_RETURN_IF_ERROR((*guard)(v));
        }
        return Status::Ok();
      };
      Status s = check();
      if (!s.ok()) {
        Status named(s.code(), "entry " + std::to_string(e.index) + ": " + s.message());
        // A transaction fails as a whole; a batch reports the entry and goes on.
        if (transaction) return named;
        e.failed = true;
        e.status = HttpStatus(named.code());
        e.outcome = OperationOutcomeJson(named);
        e.resource = nullptr;
      }
      entries.push_back(std::move(e));
    }
  }
  auto& alloc = bundle.GetAllocator();

  // Runs one entry's write in `t`; on success fills status/location/etag.
  auto run_write = [&](Txn& t, Entry& e,
                       const std::unordered_map<std::string, std::string>& planned_ids) -> Status {
    auto fill = [&](const WriteResult& r, int created_status) {
      e.status = r.created ? created_status : 200;
      if (!r.version.id.empty() && r.version.version > 0) {
        e.location =
            r.version.type + "/" + r.version.id + "/_history/" + std::to_string(r.version.version);
        e.etag = "W/\"" + std::to_string(r.version.version) + "\"";
        e.last_modified = FormatInstant(r.version.last_updated_us);
      }
    };
    switch (e.verb) {
      case Verb::kDelete: {
        if (!e.id.empty()) {
          if (auto m = ParseETag(e.if_match)) {
            auto cur = t.w->Read(e.type, e.id);
            std::int64_t current = cur.ok() ? cur->version : 0;
            if (current != *m)
              return PreconditionFailed("ifMatch does not match the current version");
          }
          SUND_ASSIGN_OR_RETURN(WriteResult r, DeleteIn(t, e.type, e.id));
          (void)r;
        } else {
          SUND_ASSIGN_OR_RETURN(auto ids, Match(t, e.type, http::ParseQuery(e.query), 1001));
          if (ids.size() > 1000) {
            return PreconditionFailed("the criteria match more than 1000 resources");
          }
          for (const auto& id : ids) {
            SUND_ASSIGN_OR_RETURN(WriteResult r, DeleteIn(t, e.type, id));
            (void)r;
          }
        }
        e.status = 204;
        return Status::Ok();
      }
      case Verb::kPost: {
        rapidjson::Document doc;
        doc.CopyFrom(*e.resource, doc.GetAllocator());
        auto planned = planned_ids.find(std::to_string(e.index));
        std::string id = planned != planned_ids.end() ? planned->second : std::string();
        SUND_ASSIGN_OR_RETURN(WriteResult r, CreateIn(t, e.type, doc, e.if_none_exist, id));
        fill(r, 201);
        return Status::Ok();
      }
      case Verb::kPut: {
        rapidjson::Document doc;
        doc.CopyFrom(*e.resource, doc.GetAllocator());
        std::string id = e.id;
        if (id.empty()) {
          SUND_ASSIGN_OR_RETURN(auto ids, Match(t, e.type, http::ParseQuery(e.query), 2));
          if (ids.size() > 1) return PreconditionFailed("conditional update matches several");
          id = ids.empty() ? std::string(fhir::ResourceId(doc)) : ids[0];
          if (ids.empty() && !id.empty()) SUND_RETURN_IF_ERROR(RefuseExistingId(t, e.type, id));
          if (id.empty()) id = NewUuid();
        }
        if (fhir::ResourceId(doc).empty()) fhir::StampResource(doc, id, 0, 0);
        SUND_ASSIGN_OR_RETURN(WriteResult r,
                              UpdateIn(t, e.type, id, doc, ParseETag(e.if_match), "PUT"));
        fill(r, 201);
        return Status::Ok();
      }
      case Verb::kPatch: {
        if (e.resource == nullptr) return InvalidArgument("PATCH entry needs a resource");
        const rapidjson::Value* patch = e.resource;
        // FHIR carries JSON Patch in a Binary resource (base64 data).
        if (patch->IsObject()) return NotImplemented("PATCH entries as Binary are not supported");
        auto cur = t.w->Read(e.type, e.id);
        if (!cur.ok()) return cur.status();
        SUND_ASSIGN_OR_RETURN(rapidjson::Document doc, fhir::ParseJson(cur->json));
        SUND_RETURN_IF_ERROR(fhir::ApplyJsonPatch(*patch, doc));
        SUND_ASSIGN_OR_RETURN(WriteResult r,
                              UpdateIn(t, e.type, e.id, doc, ParseETag(e.if_match), "PATCH"));
        fill(r, 200);
        return Status::Ok();
      }
      default:
        return Status::Ok();
    }
  };

  auto run_read = [&](Entry& e) {
    Status s;
    if (!e.id.empty() && e.id.find('/') == std::string::npos) {
      auto r = Read(e.type, e.id);
      if (r.ok()) {
        e.status = 200;
        e.body = e.verb == Verb::kHead ? std::string() : r->json;
        e.etag = "W/\"" + std::to_string(r->version) + "\"";
        return;
      }
      s = r.status();
    } else if (e.id.empty()) {
      auto q = ParseSearch(e.type, http::ParseQuery(e.query), false);
      if (q.ok()) {
        auto page = Search(*q);
        if (page.ok()) {
          std::string b = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[";
          for (std::size_t i = 0; i < page->matches.size(); ++i) {
            if (i) b += ',';
            b += "{\"resource\":" + page->matches[i].json + "}";
          }
          b += "]}";
          e.status = 200;
          e.body = std::move(b);
          return;
        }
        s = page.status();
      } else {
        s = q.status();
      }
    } else {
      s = NotImplemented("this GET form is not supported in a Bundle");
    }
    e.status = HttpStatus(s.code());
    e.outcome = OperationOutcomeJson(s);
  };

  std::vector<Entry*> order;
  for (auto& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const Entry* a, const Entry* b) { return Order(a->verb) < Order(b->verb); });

  if (transaction) {
    Txn own;
    if (outer == nullptr) SUND_RETURN_IF_ERROR(own.Begin(store_));
    Txn& t = outer != nullptr ? *outer : own;
    // Plan ids so references between entries can be rewritten before anything is written.
    std::unordered_map<std::string, std::string> full_url_to_ref;  // fullUrl -> "Type/id"
    std::unordered_map<std::string, std::string> planned_ids;      // entry index -> id
    for (Entry* e : order) {
      if (e->verb == Verb::kPost) {
        std::string id;
        if (!e->if_none_exist.empty()) {
          std::string_view q = e->if_none_exist;
          if (auto p = q.find('?'); p != std::string_view::npos) q = q.substr(p + 1);
          SUND_ASSIGN_OR_RETURN(auto ids, Match(t, e->type, http::ParseQuery(q), 2));
          if (ids.size() > 1) {
            return PreconditionFailed("entry " + std::to_string(e->index) +
                                      ": ifNoneExist matches more than one resource");
          }
          if (ids.size() == 1) id = ids[0];
        }
        if (id.empty()) {
          id = NewUuid();
          planned_ids[std::to_string(e->index)] = id;
        }
        if (!e->full_url.empty()) full_url_to_ref[e->full_url] = e->type + "/" + id;
      } else if (e->verb == Verb::kPut && !e->id.empty() && !e->full_url.empty()) {
        full_url_to_ref[e->full_url] = e->type + "/" + e->id;
      }
    }
    std::unordered_map<std::string, std::string> conditional_cache;
    auto resolve = [&](std::string_view ref) -> Result<std::optional<std::string>> {
      auto it = full_url_to_ref.find(std::string(ref));
      if (it != full_url_to_ref.end()) return std::optional<std::string>(it->second);
      std::size_t q = ref.find('?');
      if (q == std::string_view::npos) {
        if (ref.rfind("urn:uuid:", 0) == 0 || ref.rfind("urn:oid:", 0) == 0) {
          return InvalidArgument("reference to a urn that no entry in the Bundle has");
        }
        return std::optional<std::string>();
      }
      std::string key(ref);
      if (auto c = conditional_cache.find(key); c != conditional_cache.end()) {
        return std::optional<std::string>(c->second);
      }
      std::string type(ref.substr(0, q));
      if (!fhir::Model::R4().IsResourceType(type)) {
        return InvalidArgument("conditional reference with an unknown type");
      }
      SUND_ASSIGN_OR_RETURN(auto ids, Match(t, type, http::ParseQuery(ref.substr(q + 1)), 2));
      if (ids.size() != 1) {
        return PreconditionFailed("conditional reference " + type + "?... matches " +
                                  std::to_string(ids.size()) + " resources (must be 1)");
      }
      std::string out = type + "/" + ids[0];
      conditional_cache.emplace(std::move(key), out);
      return std::optional<std::string>(out);
    };
    bool all_plain = true;
    for (Entry* e : order) {
      bool plain = (e->verb == Verb::kPost && planned_ids.count(std::to_string(e->index))) ||
                   (e->verb == Verb::kPut && !e->id.empty());
      if (!plain) all_plain = false;
    }
    // Deferred Bundles whose conditional references are known have them resolved here and
    // rewritten while preparing, off this (the writer's) thread.
    bool rewrite_later = defer != nullptr && all_plain && conditional_refs != nullptr;
    if (rewrite_later) {
      for (const auto& ref : *conditional_refs) {
        SUND_ASSIGN_OR_RETURN(auto resolved, resolve(ref));
        (void)resolved;
      }
    } else {
      for (Entry* e : order) {
        if (e->resource != nullptr && e->resource->IsObject()) {
          SUND_RETURN_IF_ERROR(RewriteReferences(*e->resource, alloc, resolve));
        }
      }
    }
    // Plain creates and updates are prepared (stamped, serialised, indexed) in parallel and then
    // written in Bundle order; deletes, conditional updates and patches run one by one.
    struct Job {
      Entry* e = nullptr;
      std::string id;
      std::int64_t version = 0;
      PreparedWrite prepared;
      Status status;
    };
    std::vector<Job> jobs;
    std::unordered_map<std::string, std::int64_t> versions;  // "Type/id" -> version in this txn
    auto flush = [&]() -> Status {
      auto prepare = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
          Job& j = jobs[i];
          rapidjson::Document doc;
          doc.CopyFrom(*j.e->resource, doc.GetAllocator());
          auto p = PrepareVersion(j.e->type, j.id, j.version,
                                  j.e->verb == Verb::kPost ? "POST" : "PUT", doc);
          if (p.ok()) {
            j.prepared = std::move(p).value();
          } else {
            j.status = p.status();
          }
        }
      };
      constexpr std::size_t kParallelFrom = 32;
      if (jobs.size() >= kParallelFrom) {
        std::size_t half = jobs.size() / 2;
        std::thread helper(prepare, half, jobs.size());
        prepare(0, half);
        helper.join();
      } else {
        prepare(0, jobs.size());
      }
      for (Job& j : jobs) {
        if (!j.status.ok()) {
          return Status(j.status.code(),
                        "entry " + std::to_string(j.e->index) + ": " + j.status.message());
        }
        Status s = t.w->Put(j.prepared.version, std::move(j.prepared.index));
        if (!s.ok()) {
          return Status(s.code(), "entry " + std::to_string(j.e->index) + ": " + s.message());
        }
        const auto& v = j.prepared.version;
        j.e->status = v.version == 1 ? 201 : 200;
        j.e->location = v.type + "/" + v.id + "/_history/" + std::to_string(v.version);
        j.e->etag = "W/\"" + std::to_string(v.version) + "\"";
        j.e->last_modified = FormatInstant(v.last_updated_us);
      }
      if (written != nullptr) *written += static_cast<std::int64_t>(jobs.size());
      jobs.clear();
      return Status::Ok();
    };
    for (Entry* e : order) {
      if (e->verb == Verb::kGet || e->verb == Verb::kHead) continue;
      auto planned = planned_ids.find(std::to_string(e->index));
      bool plain_post = e->verb == Verb::kPost && planned != planned_ids.end();
      bool plain_put = e->verb == Verb::kPut && !e->id.empty();
      if (plain_post || plain_put) {
        Job j;
        j.e = e;
        if (plain_post) {
          j.id = planned->second;
          j.version = 1;
        } else {
          if (!fhir::IsValidId(e->id)) {
            return InvalidArgument("entry " + std::to_string(e->index) + ": invalid id");
          }
          std::string_view body_id = fhir::ResourceId(*e->resource);
          if (!body_id.empty() && body_id != e->id) {
            return InvalidArgument("entry " + std::to_string(e->index) +
                                   ": the resource id does not match request.url");
          }
          j.id = e->id;
          std::string key = e->type + "/" + e->id;
          std::int64_t current = 0;
          if (auto it = versions.find(key); it != versions.end()) {
            current = it->second;
          } else {
            auto cur = t.w->Read(e->type, e->id);
            if (cur.ok()) {
              current = cur->version;
            } else if (cur.status().code() != StatusCode::kNotFound) {
              return cur.status();
            }
          }
          if (auto m = ParseETag(e->if_match); m && *m != current) {
            return PreconditionFailed("entry " + std::to_string(e->index) +
                                      ": ifMatch does not match the current version");
          }
          j.version = current + 1;
          versions[key] = j.version;
        }
        jobs.push_back(std::move(j));
        continue;
      }
      SUND_RETURN_IF_ERROR(flush());
      Status s = run_write(t, *e, planned_ids);
      if (!s.ok()) {
        return Status(s.code(), "entry " + std::to_string(e->index) + ": " + s.message());
      }
      if (written != nullptr) ++*written;
    }
    if (defer != nullptr && all_plain) {
      auto d = std::make_unique<DeferredBundle>();
      for (Job& j : jobs) {
        DeferredBundle::Job dj;
        dj.resource = j.e->resource;
        dj.type = j.e->type;
        dj.id = j.id;
        dj.method = j.e->verb == Verb::kPost ? "POST" : "PUT";
        dj.version = j.version;
        if (std::find(d->written_types.begin(), d->written_types.end(), dj.type) ==
            d->written_types.end()) {
          d->written_types.push_back(dj.type);
        }
        d->jobs.push_back(std::move(dj));
      }
      if (rewrite_later) {
        auto refs = std::make_shared<std::unordered_map<std::string, std::string>>(
            std::move(full_url_to_ref));
        for (auto& [k, v] : conditional_cache) refs->emplace(k, v);
        d->references = std::move(refs);
      }
      d->doc = std::make_unique<rapidjson::Document>(std::move(bundle));
      *defer = std::move(d);
      return std::string();
    }
    SUND_RETURN_IF_ERROR(flush());
    if (outer != nullptr) return std::string();
    SUND_RETURN_IF_ERROR(t.w->Commit());
    for (Entry* e : order) {
      if (e->verb == Verb::kGet || e->verb == Verb::kHead) run_read(*e);
    }
  } else {
    for (Entry* e : order) {
      if (e->failed) continue;
      if (e->verb == Verb::kGet || e->verb == Verb::kHead) {
        run_read(*e);
        continue;
      }
      Status s;
      {
        Txn t;
        if (outer != nullptr) {
          // Inside the caller's transaction (import): a savepoint per entry.
          t.w = outer->w;
          s = t.w->Savepoint();
        } else {
          s = t.Begin(store_);
        }
        if (s.ok()) {
          std::unordered_map<std::string, std::string> no_plan;
          auto resolve = [&](std::string_view ref) -> Result<std::optional<std::string>> {
            std::size_t q = ref.find('?');
            if (q == std::string_view::npos) return std::optional<std::string>();
            std::string type(ref.substr(0, q));
            if (!fhir::Model::R4().IsResourceType(type)) {
              return InvalidArgument("conditional reference with an unknown type");
            }
            SUND_ASSIGN_OR_RETURN(auto ids, Match(t, type, http::ParseQuery(ref.substr(q + 1)), 2));
            if (ids.size() != 1) {
              return PreconditionFailed("conditional reference matches " +
                                        std::to_string(ids.size()) + " resources (must be 1)");
            }
            return std::optional<std::string>(type + "/" + ids[0]);
          };
          if (e->resource != nullptr && e->resource->IsObject()) {
            s = RewriteReferences(*e->resource, alloc, resolve);
          }
          if (s.ok()) s = run_write(t, *e, no_plan);
          if (outer != nullptr) {
            if (s.ok()) {
              s = t.w->ReleaseSavepoint();
              if (s.ok() && written != nullptr) ++*written;
            } else {
              t.w->RollbackToSavepoint().IgnoreError();
            }
          } else if (s.ok()) {
            s = t.w->Commit();
          }
        }
      }
      if (!s.ok()) {
        e->status = HttpStatus(s.code());
        e->outcome = OperationOutcomeJson(s);
        e->location.clear();
      }
    }
  }

  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Bundle");
  w.Key("id");
  w.String(NewUuid().c_str());
  w.Key("type");
  w.String(transaction ? "transaction-response" : "batch-response");
  w.Key("entry");
  w.StartArray();
  for (const auto& e : entries) WriteResponseEntry(w, e, base);
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sund::api
