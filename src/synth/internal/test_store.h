// Test support for synth's tests only (included by *_test.cc, never by the library): a temporary
// SQLite data dir, and a small loader that writes resources and transaction Bundles of creates
// through the Store API the way the API's engine stores them (stamped, canonical, validated,
// indexed). The loader gives each urn:uuid entry the UUID as its id and rewrites references to
// it; conditional references ("Practitioner?identifier=...") are kept as they are. The real
// importer (api/importer.h) is exercised by `sund import` and tests/integration.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"
#include "fhir/validate.h"
#include "storage/sqlite/sqlite_store.h"
#include "storage/store.h"

namespace sund::synth::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("sund-synth-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Result<std::unique_ptr<storage::Store>> OpenStoreIn(const std::filesystem::path& dir) {
  storage::SqliteOptions o;
  o.path = (dir / "sund.db").string();
  o.cache_kib = 16 * 1024;
  return storage::OpenSqliteStore(o);
}

// Writes `resource` (with its id) as version 1 inside `w`.
inline Status PutResource(storage::WriteTransaction& w, rapidjson::Document resource,
                          bool validate = true) {
  static std::atomic<std::int64_t> clock{1'700'000'000'000'000};
  std::string type(fhir::ResourceType(resource));
  std::string id(fhir::ResourceId(resource));
  if (type.empty() || id.empty()) return InvalidArgument("a resource needs a type and an id");
  storage::ResourceVersion v;
  v.type = type;
  v.id = id;
  v.version = 1;
  v.last_updated_us = clock++;
  v.method = "PUT";
  fhir::StampResource(resource, v.id, v.version, v.last_updated_us);
  v.json = fhir::CanonicalJson(resource);
  rapidjson::Document plain;
  plain.Parse(v.json.data(), v.json.size());
  if (plain.HasParseError()) return Internal("canonical JSON does not parse");
  if (validate) {
    Status s = fhir::ValidateResource(fhir::Model::R4(), plain);
    if (!s.ok()) return Status(s.code(), type + ": " + s.message());
  }
  return w.Put(v, fhir::Extractor::R4().Extract(type, plain));
}

// Writes resources given as JSON text, in one transaction.
inline Status PutAll(storage::Store& store, const std::vector<std::string>& resources) {
  SUND_ASSIGN_OR_RETURN(auto w, store.BeginWrite());
  for (const std::string& text : resources) {
    SUND_ASSIGN_OR_RETURN(rapidjson::Document doc, fhir::ParseResource(text));
    SUND_RETURN_IF_ERROR(PutResource(*w, std::move(doc)));
  }
  return w->Commit();
}

inline void RewriteReferences(rapidjson::Value& v, const std::map<std::string, std::string>& urls,
                              rapidjson::Document::AllocatorType& a) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (json::View(m.name) == "reference" && m.value.IsString()) {
        auto it = urls.find(std::string(json::View(m.value)));
        if (it != urls.end()) m.value.SetString(it->second.c_str(), a);
      } else {
        RewriteReferences(m.value, urls, a);
      }
    }
  } else if (v.IsArray()) {
    for (auto& item : v.GetArray()) RewriteReferences(item, urls, a);
  }
}

// Loads a Bundle's entries (urn:uuid fullUrls) in one transaction, only those of `types` when
// it is not empty; returns how many.
inline Result<std::size_t> LoadBundle(storage::Store& store, std::string_view text,
                                      bool validate = true,
                                      const std::set<std::string, std::less<>>& types = {}) {
  SUND_ASSIGN_OR_RETURN(rapidjson::Document bundle, fhir::ParseJson(text));
  rapidjson::Value* entries =
      bundle.IsObject() && bundle.HasMember("entry") && bundle["entry"].IsArray() ? &bundle["entry"]
                                                                                  : nullptr;
  if (entries == nullptr) return std::size_t{0};
  std::map<std::string, std::string> urls;
  for (auto& e : entries->GetArray()) {
    std::string_view url = json::GetString(e, "fullUrl");
    const rapidjson::Value* r = json::Find(e, "resource");
    if (r == nullptr || url.rfind("urn:uuid:", 0) != 0) continue;
    urls[std::string(url)] = std::string(fhir::ResourceType(*r)) + "/" +
                             std::string(url.substr(std::string_view("urn:uuid:").size()));
  }
  SUND_ASSIGN_OR_RETURN(auto w, store.BeginWrite());
  std::size_t n = 0;
  for (auto& e : entries->GetArray()) {
    if (!e.IsObject() || !e.HasMember("resource")) continue;
    if (!types.empty() && types.count(fhir::ResourceType(e["resource"])) == 0) continue;
    std::string url(json::GetString(e, "fullUrl"));
    rapidjson::Document doc;
    doc.CopyFrom(e["resource"], doc.GetAllocator());
    RewriteReferences(doc, urls, doc.GetAllocator());
    auto it = urls.find(url);
    if (it == urls.end()) return InvalidArgument("an entry without a urn:uuid fullUrl");
    std::string id = it->second.substr(it->second.find('/') + 1);
    if (doc.HasMember("id")) {
      doc["id"].SetString(id.c_str(), doc.GetAllocator());
    } else {
      doc.AddMember("id", rapidjson::Value(id.c_str(), doc.GetAllocator()), doc.GetAllocator());
    }
    SUND_RETURN_IF_ERROR(PutResource(*w, std::move(doc), validate));
    ++n;
  }
  SUND_RETURN_IF_ERROR(w->Commit());
  return n;
}

}  // namespace sund::synth::testing
