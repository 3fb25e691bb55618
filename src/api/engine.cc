#include "api/engine.h"

#include <map>
#include <unordered_map>

#include "core/ids.h"
#include "fhir/json_patch.h"
#include "fhir/model.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"
#include "fhir/validate.h"
#include "http/query.h"

namespace sund::api {

using storage::ResourceVersion;

Engine::Engine(storage::Store& store, const Clock& clock, EngineOptions options)
    : store_(store), clock_(clock), options_(options) {}

std::int64_t Engine::NextTimestamp() {
  // Strictly increasing, so versions of one resource never share a lastUpdated.
  std::int64_t now = clock_.NowMicros();
  std::int64_t prev = last_ts_.load();
  while (true) {
    std::int64_t next = now > prev ? now : prev + 1;
    if (last_ts_.compare_exchange_weak(prev, next)) return next;
  }
}

Result<Engine::PreparedWrite> Engine::PrepareVersion(std::string_view type, std::string id,
                                                     std::int64_t version, std::string_view method,
                                                     rapidjson::Document& resource) {
  PreparedWrite p;
  ResourceVersion& v = p.version;
  v.type = std::string(type);
  v.id = std::move(id);
  v.version = version;
  v.last_updated_us = NextTimestamp();
  v.method = std::string(method);
  fhir::StampResource(resource, v.id, v.version, v.last_updated_us);
  v.json = fhir::CanonicalJson(resource);
  // Validation and indexing need numeric values: they read the canonical text parsed plainly.
  rapidjson::Document plain;
  plain.Parse(v.json.data(), v.json.size());
  if (plain.HasParseError()) return Internal("canonical JSON does not parse");
  SUND_RETURN_IF_ERROR(fhir::ValidateResource(fhir::Model::R4(), plain));
  p.index = fhir::Extractor::R4().Extract(type, plain);
  return p;
}

Result<ResourceVersion> Engine::Read(std::string_view type, std::string_view id) {
  if (!fhir::IsValidId(id)) return InvalidArgument("invalid id");
  SUND_ASSIGN_OR_RETURN(ResourceVersion v, store_.Read(type, id));
  if (v.deleted) {
    return Status(StatusCode::kGone, std::string(type) + "/" + std::string(id) +
                                         " was deleted (version " + std::to_string(v.version) +
                                         ")");
  }
  return v;
}

Result<ResourceVersion> Engine::VRead(std::string_view type, std::string_view id,
                                      std::string_view version) {
  if (!fhir::IsValidId(id)) return InvalidArgument("invalid id");
  char* end = nullptr;
  std::string vs(version);
  long long n = std::strtoll(vs.c_str(), &end, 10);
  if (vs.empty() || *end != '\0' || n < 1) return NotFound("no such version '" + vs + "'");
  SUND_ASSIGN_OR_RETURN(ResourceVersion v, store_.ReadVersion(type, id, n));
  if (v.deleted) {
    return Status(StatusCode::kGone,
                  std::string(type) + "/" + std::string(id) + "/_history/" + vs + " is a deletion");
  }
  return v;
}

Result<fhir::SearchQuery> Engine::ParseSearch(std::string_view type, const QueryParams& params,
                                              bool strict) {
  return fhir::ParseSearch(fhir::Model::R4(), type, params, strict, options_.limits);
}

Result<storage::SearchPage> Engine::Search(const fhir::SearchQuery& q) { return store_.Search(q); }

Result<storage::HistoryPage> Engine::History(const storage::HistoryQuery& q) {
  return store_.History(q);
}

Result<std::vector<std::string>> Engine::Match(Txn& t, std::string_view type,
                                               const QueryParams& criteria, int limit) {
  if (criteria.empty()) return InvalidArgument("a conditional interaction needs search criteria");
  for (const auto& [name, value] : criteria) {
    // Result parameters would change which matches are seen (and so allow duplicates).
    if (name == "_count" || name == "_offset" || name == "_getpagesoffset" || name == "_cursor" ||
        name == "_sort" || name == "_summary" || name == "_elements" || name == "_include" ||
        name == "_revinclude" || name == "_total" || name.rfind("_include:", 0) == 0 ||
        name.rfind("_revinclude:", 0) == 0) {
      return InvalidArgument("conditional criteria must not use " + name);
    }
  }
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q, ParseSearch(type, criteria, true));
  if (!q.criteria.empty() || type.empty()) return t.w->FindIds(q, limit);
  return InvalidArgument("a conditional interaction needs search criteria");
}

namespace {

Status CheckType(std::string_view type, const rapidjson::Document& resource) {
  if (fhir::ResourceType(resource) != type) {
    return InvalidArgument("resourceType '" + std::string(fhir::ResourceType(resource)) +
                           "' does not match the URL's type '" + std::string(type) + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<WriteResult> Engine::CreateIn(Txn& t, std::string_view type, rapidjson::Document& resource,
                                     std::string_view if_none_exist, std::string id) {
  SUND_RETURN_IF_ERROR(CheckType(type, resource));
  if (!if_none_exist.empty()) {
    std::string_view q = if_none_exist;
    if (auto p = q.find('?'); p != std::string_view::npos) q = q.substr(p + 1);
    SUND_ASSIGN_OR_RETURN(auto ids, Match(t, type, http::ParseQuery(q), 2));
    if (ids.size() > 1) {
      return PreconditionFailed("If-None-Exist criteria match more than one resource");
    }
    if (ids.size() == 1) {
      SUND_ASSIGN_OR_RETURN(ResourceVersion v, t.w->Read(type, ids[0]));
      return WriteResult{std::move(v), false, true};
    }
  }
  if (id.empty()) id = NewUuid();
  SUND_ASSIGN_OR_RETURN(PreparedWrite p, PrepareVersion(type, std::move(id), 1, "POST", resource));
  SUND_RETURN_IF_ERROR(t.w->Put(p.version, std::move(p.index)));
  return WriteResult{std::move(p.version), true, false};
}

Result<WriteResult> Engine::UpdateIn(Txn& t, std::string_view type, std::string_view id,
                                     rapidjson::Document& resource,
                                     std::optional<std::int64_t> if_match,
                                     std::string_view method) {
  SUND_RETURN_IF_ERROR(CheckType(type, resource));
  if (!fhir::IsValidId(id)) return InvalidArgument("invalid id '" + std::string(id) + "'");
  std::string_view body_id = fhir::ResourceId(resource);
  if (body_id.empty()) return InvalidArgument("the resource in an update must have an id");
  if (body_id != id) {
    return InvalidArgument("the resource id '" + std::string(body_id) +
                           "' does not match the URL id '" + std::string(id) + "'");
  }
  std::int64_t current = 0;
  auto cur = t.w->Read(type, id);
  if (cur.ok()) {
    current = cur->version;
  } else if (cur.status().code() != StatusCode::kNotFound) {
    return cur.status();
  }
  if (if_match && *if_match != current) {
    return PreconditionFailed("If-Match expects version " + std::to_string(*if_match) +
                              " but the current version is " + std::to_string(current));
  }
  SUND_ASSIGN_OR_RETURN(PreparedWrite p,
                        PrepareVersion(type, std::string(id), current + 1, method, resource));
  SUND_RETURN_IF_ERROR(t.w->Put(p.version, std::move(p.index)));
  return WriteResult{std::move(p.version), current == 0, false};
}

Result<WriteResult> Engine::DeleteIn(Txn& t, std::string_view type, std::string_view id) {
  if (!fhir::IsValidId(id)) return InvalidArgument("invalid id '" + std::string(id) + "'");
  auto cur = t.w->Read(type, id);
  if (!cur.ok()) {
    if (cur.status().code() == StatusCode::kNotFound) {
      ResourceVersion none;
      none.type = std::string(type);
      none.id = std::string(id);
      none.deleted = true;
      return WriteResult{std::move(none), false, true};
    }
    return cur.status();
  }
  if (cur->deleted) return WriteResult{std::move(cur).value(), false, true};
  ResourceVersion v;
  v.type = std::string(type);
  v.id = std::string(id);
  v.version = cur->version + 1;
  v.last_updated_us = NextTimestamp();
  v.method = "DELETE";
  v.deleted = true;
  SUND_RETURN_IF_ERROR(t.w->Put(v, {}));
  return WriteResult{std::move(v), false, false};
}

Result<WriteResult> Engine::Create(std::string_view type, rapidjson::Document resource,
                                   std::string_view if_none_exist) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  SUND_ASSIGN_OR_RETURN(WriteResult r, CreateIn(t, type, resource, if_none_exist, ""));
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return r;
}

Result<WriteResult> Engine::Update(std::string_view type, std::string_view id,
                                   rapidjson::Document resource,
                                   std::optional<std::int64_t> if_match) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  SUND_ASSIGN_OR_RETURN(WriteResult r, UpdateIn(t, type, id, resource, if_match, "PUT"));
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return r;
}

Status Engine::RefuseExistingId(Txn& t, std::string_view type, std::string_view id) {
  auto cur = t.w->Read(type, id);
  if (cur.ok() && !cur->deleted) {
    return Conflict("the criteria match no resource, and the resource's id names another one");
  }
  if (!cur.ok() && cur.status().code() != StatusCode::kNotFound) return cur.status();
  return Status::Ok();
}

Result<WriteResult> Engine::ConditionalUpdate(std::string_view type, const QueryParams& criteria,
                                              rapidjson::Document resource,
                                              std::optional<std::int64_t> if_match) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  SUND_ASSIGN_OR_RETURN(auto ids, Match(t, type, criteria, 2));
  if (ids.size() > 1) return PreconditionFailed("the criteria match more than one resource");
  std::string_view body_id = fhir::ResourceId(resource);
  WriteResult r;
  if (ids.empty()) {
    if (!body_id.empty()) {
      std::string id(body_id);
      SUND_RETURN_IF_ERROR(RefuseExistingId(t, type, id));
      SUND_ASSIGN_OR_RETURN(r, UpdateIn(t, type, id, resource, if_match, "PUT"));
    } else {
      SUND_ASSIGN_OR_RETURN(r, CreateIn(t, type, resource, "", ""));
    }
  } else {
    if (!body_id.empty() && body_id != ids[0]) {
      return InvalidArgument("the resource id does not match the resource the criteria found");
    }
    if (body_id.empty()) {
      fhir::StampResource(resource, ids[0], 0, 0);  // sets the id; meta is rewritten below
    }
    SUND_ASSIGN_OR_RETURN(r, UpdateIn(t, type, ids[0], resource, if_match, "PUT"));
  }
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return r;
}

Result<WriteResult> Engine::Patch(std::string_view type, std::string_view id,
                                  const rapidjson::Value& patch,
                                  std::optional<std::int64_t> if_match) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  auto cur = t.w->Read(type, id);
  if (!cur.ok()) return cur.status();
  if (cur->deleted) return Gone(std::string(type) + "/" + std::string(id) + " was deleted");
  if (if_match && *if_match != cur->version) {
    return PreconditionFailed("If-Match expects version " + std::to_string(*if_match) +
                              " but the current version is " + std::to_string(cur->version));
  }
  auto parsed = fhir::ParseJson(cur->json);
  if (!parsed.ok()) return Internal("stored resource is not valid JSON");
  rapidjson::Document doc = std::move(parsed).value();
  SUND_RETURN_IF_ERROR(fhir::ApplyJsonPatch(patch, doc));
  if (!doc.IsObject() || fhir::ResourceType(doc) != type) {
    return Unprocessable("the patch must not change the resource type");
  }
  if (fhir::ResourceId(doc) != id) return Unprocessable("the patch must not change the id");
  SUND_ASSIGN_OR_RETURN(WriteResult r, UpdateIn(t, type, id, doc, cur->version, "PATCH"));
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return r;
}

Result<WriteResult> Engine::Delete(std::string_view type, std::string_view id,
                                   std::optional<std::int64_t> if_match) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  if (if_match) {
    auto cur = t.w->Read(type, id);
    std::int64_t current = cur.ok() ? cur->version : 0;
    if (!cur.ok() && cur.status().code() != StatusCode::kNotFound) return cur.status();
    if (current != *if_match) {
      return PreconditionFailed("If-Match expects version " + std::to_string(*if_match) +
                                " but the current version is " + std::to_string(current));
    }
  }
  SUND_ASSIGN_OR_RETURN(WriteResult r, DeleteIn(t, type, id));
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return r;
}

Result<int> Engine::ConditionalDelete(std::string_view type, const QueryParams& criteria) {
  Txn t;
  SUND_RETURN_IF_ERROR(t.Begin(store_));
  constexpr int kMaxConditionalDelete = 1000;
  SUND_ASSIGN_OR_RETURN(auto ids, Match(t, type, criteria, kMaxConditionalDelete + 1));
  if (static_cast<int>(ids.size()) > kMaxConditionalDelete) {
    return PreconditionFailed("the criteria match more than " +
                              std::to_string(kMaxConditionalDelete) + " resources");
  }
  for (const auto& id : ids) {
    SUND_ASSIGN_OR_RETURN(WriteResult r, DeleteIn(t, type, id));
    (void)r;
  }
  SUND_RETURN_IF_ERROR(t.w->Commit());
  return static_cast<int>(ids.size());
}

}  // namespace sund::api
