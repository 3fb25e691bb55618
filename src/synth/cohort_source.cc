// The two ResourceSources of cohort extraction: a Store read directly, and a FHIR server's REST
// API read through a GET callback.
#include <set>

#include "core/json_bounded.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "http/query.h"
#include "storage/store.h"
#include "synth/cohort.h"

namespace sund::synth {
namespace {

// Parses stored JSON with plain RapidJSON (numbers as numbers).
Status ParsePlain(std::string_view text, rapidjson::Document& doc) {
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) {
    return Internal("a stored resource is not a JSON object");
  }
  return Status::Ok();
}

class StoreResourceSource final : public ResourceSource {
 public:
  explicit StoreResourceSource(storage::Store& store) : store_(store) {}

  Status Scan(std::string_view type, const Params& params, int page_size,
              const Visit& visit) override {
    SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q,
                          fhir::ParseSearch(fhir::Model::R4(), type, params, /*strict=*/true,
                                            fhir::SearchLimits{page_size, page_size}));
    q.count = page_size;
    rapidjson::Document doc;
    while (true) {
      SUND_ASSIGN_OR_RETURN(storage::SearchPage page, store_.Search(q));
      for (const storage::SearchHit& hit : page.matches) {
        SUND_RETURN_IF_ERROR(ParsePlain(hit.json, doc));
        SUND_RETURN_IF_ERROR(visit(doc));
      }
      if (!page.has_more || page.matches.empty()) return Status::Ok();
      q.cursor = page.next_cursor;
    }
  }

  Result<std::string> Read(std::string_view type, std::string_view id) override {
    SUND_ASSIGN_OR_RETURN(storage::ResourceVersion v, store_.Read(type, id));
    if (v.deleted) return NotFound(std::string(type) + " was deleted");
    return std::move(v.json);
  }

 private:
  storage::Store& store_;
};

// Percent-encodes a query-string component, keeping ',' (FHIR's separator of alternatives)
// when `keep_commas`.
std::string Encode(std::string_view s, bool keep_commas) {
  if (!keep_commas) return http::PercentEncode(s);
  std::string out;
  for (std::size_t start = 0;;) {
    std::size_t comma = s.find(',', start);
    out += http::PercentEncode(s.substr(start, comma - start));
    if (comma == std::string_view::npos) return out;
    out += ',';
    start = comma + 1;
  }
}

class RestResourceSource final : public ResourceSource {
 public:
  RestResourceSource(std::string base, HttpGet get) : base_(std::move(base)), get_(std::move(get)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  Status Scan(std::string_view type, const Params& params, int page_size,
              const Visit& visit) override {
    std::string url = base_ + "/" + std::string(type) + "?_count=" + std::to_string(page_size);
    for (const auto& [name, value] : params) {
      url += "&" + Encode(name, false) + "=" + Encode(value, true);
    }
    std::set<std::string> seen;
    int page_no = 0;
    rapidjson::Document bundle;
    while (true) {
      ++page_no;
      auto body = get_(url);
      if (!body.ok()) {
        return Status(body.status().code(), "reading " + std::string(type) + " (page " +
                                                std::to_string(page_no) +
                                                "): " + body.status().message());
      }
      json::ParseBounded(bundle, *body);
      if (bundle.HasParseError() || json::GetString(bundle, "resourceType") != "Bundle") {
        return InvalidArgument("the server's answer to a " + std::string(type) +
                               " search is not a Bundle");
      }
      if (const rapidjson::Value* entries = json::Find(bundle, "entry");
          entries != nullptr && entries->IsArray()) {
        for (const auto& e : entries->GetArray()) {
          // Only matches: _include'd resources (search.mode "include") are not asked for.
          const rapidjson::Value* search = json::Find(e, "search");
          if (search != nullptr && json::GetString(*search, "mode") == "include") continue;
          const rapidjson::Value* resource = json::Find(e, "resource");
          if (resource == nullptr || !resource->IsObject()) continue;
          if (json::GetString(*resource, "resourceType") != type) continue;
          SUND_RETURN_IF_ERROR(visit(*resource));
        }
      }
      std::string next;
      if (const rapidjson::Value* links = json::Find(bundle, "link");
          links != nullptr && links->IsArray()) {
        for (const auto& l : links->GetArray()) {
          if (json::GetString(l, "relation") == "next") next = json::GetString(l, "url");
        }
      }
      if (next.empty()) return Status::Ok();
      if (!seen.insert(next).second) {
        return Internal("the server's " + std::string(type) + " search pages loop");
      }
      url = std::move(next);
    }
  }

  Result<std::string> Read(std::string_view type, std::string_view id) override {
    return get_(base_ + "/" + std::string(type) + "/" + Encode(id, false));
  }

 private:
  std::string base_;
  HttpGet get_;
};

}  // namespace

std::unique_ptr<ResourceSource> StoreSource(storage::Store& store) {
  return std::make_unique<StoreResourceSource>(store);
}

std::unique_ptr<ResourceSource> RestSource(std::string base, HttpGet get) {
  return std::make_unique<RestResourceSource>(std::move(base), std::move(get));
}

}  // namespace sund::synth
