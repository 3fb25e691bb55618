#include "api/importer.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "core/file_reader.h"
#include "core/log.h"
#include "core/progress.h"
#include "fhir/resource.h"

namespace sund::api {
namespace {

struct Loaded {
  std::size_t index = 0;
  std::string path;
  Result<std::string> content = Status(StatusCode::kInternal, "not read");
  std::uint64_t bytes = 0;
  // Parsed on the reader thread (JSON files; NDJSON is parsed line by line by the writer).
  std::optional<Result<rapidjson::Document>> doc;
  // Facts about a transaction Bundle, computed on the reader thread (see Engine::PlanTransaction).
  std::vector<std::string> lookup_types;
  std::vector<std::string> conditional_refs;
  bool deferrable = false;
};

bool IsNdjson(const std::string& path) {
  std::string p = path;
  for (const char* ext : {".bz2", ".gz"}) {
    if (p.size() > std::strlen(ext) &&
        p.compare(p.size() - std::strlen(ext), std::string::npos, ext) == 0) {
      p.resize(p.size() - std::strlen(ext));
    }
  }
  return p.size() > 7 &&
         (p.compare(p.size() - 7, 7, ".ndjson") == 0 || p.compare(p.size() - 6, 6, ".jsonl") == 0);
}

Result<std::vector<std::string>> ExpandFiles(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (std::filesystem::is_directory(a, ec)) {
      std::vector<std::string> inside;
      for (const auto& e : std::filesystem::directory_iterator(a, ec)) {
        if (!e.is_regular_file()) continue;
        std::string name = e.path().filename().string();
        if (name.find(".json") != std::string::npos || name.find(".ndjson") != std::string::npos) {
          inside.push_back(e.path().string());
        }
      }
      std::sort(inside.begin(), inside.end());
      out.insert(out.end(), inside.begin(), inside.end());
    } else if (std::filesystem::exists(a, ec)) {
      out.push_back(a);
    } else {
      return NotFound("no such file: " + a);
    }
  }
  return out;
}

// NDJSON: batches of up to 1,000 lines become one transaction Bundle each (PUT for lines with
// an id, POST otherwise), built from the parsed lines without serialising them again.
Status ImportNdjson(Engine& engine, const std::string& content, std::int64_t& written) {
  constexpr int kBatch = 1000;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < content.size()) {
    rapidjson::Document bundle(rapidjson::kObjectType);
    auto& a = bundle.GetAllocator();
    rapidjson::Value entries(rapidjson::kArrayType);
    while (pos < content.size() && static_cast<int>(entries.Size()) < kBatch) {
      std::size_t end = content.find('\n', pos);
      if (end == std::string::npos) end = content.size();
      std::string_view line(content.data() + pos, end - pos);
      pos = end + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.empty()) continue;
      auto doc = fhir::ParseResource(line);
      if (!doc.ok()) {
        return InvalidArgument("line " + std::to_string(line_no) + ": " + doc.status().message());
      }
      std::string_view id = fhir::ResourceId(*doc);
      std::string url(fhir::ResourceType(*doc));
      if (!id.empty()) url += "/" + std::string(id);
      rapidjson::Value request(rapidjson::kObjectType);
      request.AddMember("method", rapidjson::StringRef(id.empty() ? "POST" : "PUT"), a);
      request.AddMember("url", rapidjson::Value(url.c_str(), a), a);
      rapidjson::Value entry(rapidjson::kObjectType);
      entry.AddMember("resource", rapidjson::Value(*doc, a), a);
      entry.AddMember("request", request, a);
      entries.PushBack(entry, a);
    }
    if (entries.Empty()) continue;
    bundle.AddMember("resourceType", "Bundle", a);
    bundle.AddMember("type", "transaction", a);
    bundle.AddMember("entry", entries, a);
    SUND_ASSIGN_OR_RETURN(auto w, engine.store().BeginWrite());
    SUND_ASSIGN_OR_RETURN(std::int64_t n, engine.ApplyTransaction(*w, std::move(bundle)));
    SUND_RETURN_IF_ERROR(w->Commit());
    written += n;
  }
  return Status::Ok();
}

// True when every entry is a create without ifNoneExist or an update by id: such a Bundle can
// be planned ahead of the previous one's writes.
bool Deferrable(const rapidjson::Value& bundle) {
  const rapidjson::Value* entries = json::Find(bundle, "entry");
  if (entries == nullptr || !entries->IsArray()) return false;
  for (const auto& e : entries->GetArray()) {
    const rapidjson::Value* req = json::Find(e, "request");
    if (req == nullptr) return false;
    std::string_view method = json::GetString(*req, "method");
    std::string_view url = json::GetString(*req, "url");
    bool post = method == "POST" && json::GetString(*req, "ifNoneExist").empty();
    bool put = method == "PUT" && url.find('?') == std::string_view::npos &&
               url.find('/') != std::string_view::npos;
    if (!post && !put) return false;
  }
  return true;
}

}  // namespace

Result<ImportSummary> Import(Engine& engine, const std::vector<std::string>& args,
                             const ImportOptions& options) {
  SUND_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandFiles(args));
  ImportSummary summary;
  std::uint64_t total_bytes = 0;
  for (const auto& f : files) {
    std::error_code ec;
    total_bytes += std::filesystem::file_size(f, ec);
  }
  ProgressBar::Options popts;
  if (!options.progress) popts.terminal = false;
  ProgressBar bar("import", total_bytes, "resources", popts);

  int threads = options.reader_threads > 0
                    ? options.reader_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Readers decompress ahead of the writer, bounded so memory stays small.
  const std::size_t kMaxAhead = static_cast<std::size_t>(threads) * 2;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Loaded>> ready(files.size());
  std::size_t next_to_read = 0;
  std::size_t next_to_write = 0;
  bool stop = false;

  auto reader = [&] {
    while (true) {
      std::size_t i;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] {
          return stop || next_to_read >= files.size() || next_to_read < next_to_write + kMaxAhead;
        });
        if (stop || next_to_read >= files.size()) return;
        i = next_to_read++;
      }
      auto item = std::make_unique<Loaded>();
      item->index = i;
      item->path = files[i];
      std::error_code ec;
      item->bytes = std::filesystem::file_size(files[i], ec);
      item->content = ReadFileDecompressed(files[i]);
      if (item->content.ok() && !IsNdjson(files[i])) {
        item->doc = fhir::ParseJson(*item->content);
        item->content = std::string();  // the parsed tree owns copies of the strings
        if (item->doc->ok()) {
          item->lookup_types = LookupTypes(**item->doc, &item->conditional_refs);
          item->deferrable = Deferrable(**item->doc);
        }
      }
      {
        std::lock_guard<std::mutex> l(mu);
        ready[i] = std::move(item);
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(reader);

  auto start = std::chrono::steady_clock::now();
  // Transaction Bundles are applied in groups inside one database transaction (a savepoint per
  // Bundle), which saves most of the cost of committing; a failing Bundle is undone alone.
  constexpr std::int64_t kGroupEntries = 20'000;
  std::unique_ptr<storage::WriteTransaction> group;
  std::int64_t group_entries = 0;
  auto commit_group = [&]() -> Status {
    if (!group) return Status::Ok();
    Status s = group->Commit();
    group.reset();
    group_entries = 0;
    return s;
  };
  // Transaction Bundles planned and being prepared on helper threads, oldest first; they are
  // written in order, while later ones are still being prepared.
  struct Inflight {
    std::unique_ptr<DeferredBundle> bundle;
    std::thread thread;
    std::string name;
    std::uint64_t bytes = 0;
  };
  // Opens the group transaction if none is open.
  auto open_group = [&]() -> Status {
    if (group) return Status::Ok();
    SUND_ASSIGN_OR_RETURN(group, engine.store().BeginWrite());
    return Status::Ok();
  };
  std::deque<Inflight> inflight;
  constexpr std::size_t kPipelineDepth = 4;
  auto finish_oldest = [&]() -> Status {
    if (inflight.empty()) return Status::Ok();
    Inflight f = std::move(inflight.front());
    inflight.pop_front();
    if (f.thread.joinable()) f.thread.join();
    SUND_RETURN_IF_ERROR(open_group());
    auto n = engine.WriteDeferred(*group, *f.bundle);
    std::int64_t written = 0;
    if (n.ok()) {
      written = *n;
      group_entries += written;
    } else {
      ++summary.failed_files;
      summary.errors.push_back(f.name + ": " + n.status().ToString());
      log::Warn("import: {}: {}", f.name, n.status().ToString());
    }
    summary.resources += written;
    bar.Add(f.bytes, static_cast<std::uint64_t>(written));
    summary.timeline.emplace_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        summary.resources);
    if (group_entries >= kGroupEntries) return commit_group();
    return Status::Ok();
  };
  auto finish_inflight = [&]() -> Status {
    Status s;
    while (!inflight.empty()) {
      Status one = finish_oldest();
      if (s.ok()) s = one;
    }
    return s;
  };
  Status fatal;
  for (std::size_t i = 0; i < files.size() && fatal.ok(); ++i) {
    std::unique_ptr<Loaded> item;
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return ready[i] != nullptr; });
      item = std::move(ready[i]);
      next_to_write = i + 1;
    }
    cv.notify_all();
    ++summary.files;
    std::int64_t written = 0;
    Status s;
    if (!item->content.ok()) {
      s = item->content.status();
    } else if (IsNdjson(item->path)) {
      fatal = finish_inflight();
      if (fatal.ok()) fatal = commit_group();
      if (fatal.ok()) s = ImportNdjson(engine, *item->content, written);
    } else if (!item->doc || !item->doc->ok()) {
      s = item->doc ? item->doc->status() : Internal("file was not parsed");
    } else {
      rapidjson::Document doc = std::move(*item->doc).value();
      std::string_view rtype = json::GetString(doc, "resourceType");
      std::string_view btype = json::GetString(doc, "type");
      if (rtype == "Bundle" && btype == "transaction") {
        const std::vector<std::string>& lookups = item->lookup_types;
        bool conflicts = false;
        for (const auto& f : inflight) {
          for (const auto& t : lookups) {
            for (const auto& w : f.bundle->written_types) conflicts = conflicts || t == w;
          }
        }
        if (conflicts || !item->deferrable) fatal = finish_inflight();
        if (fatal.ok()) fatal = open_group();
        if (!fatal.ok()) break;
        auto planned =
            engine.PlanTransaction(*group, std::move(doc), &written, &item->conditional_refs);
        if (!planned.ok()) {
          s = planned.status();
        } else if (*planned != nullptr) {
          // Prepare this Bundle on a helper thread while the previous one is written.
          Inflight f;
          f.bundle = std::move(planned).value();
          DeferredBundle* raw = f.bundle.get();
          f.thread = std::thread([&engine, raw] { engine.PrepareDeferred(*raw); });
          f.name = std::filesystem::path(item->path).filename().string();
          f.bytes = item->bytes;
          inflight.push_back(std::move(f));
          while (fatal.ok() && inflight.size() > kPipelineDepth) fatal = finish_oldest();
          continue;
        } else {
          group_entries += written;
          if (group_entries >= kGroupEntries) fatal = commit_group();
        }
      } else if (rtype == "Bundle" && btype == "batch") {
        // Inside the open group, a savepoint per entry (a failing entry is undone alone).
        fatal = finish_inflight();
        if (fatal.ok()) fatal = open_group();
        if (!fatal.ok()) break;
        auto n = engine.ApplyTransaction(*group, std::move(doc));
        if (n.ok()) {
          written = *n;
          group_entries += written;
          if (group_entries >= kGroupEntries) fatal = commit_group();
        } else {
          s = n.status();
        }
      } else {
        fatal = finish_inflight();
        if (fatal.ok()) fatal = commit_group();
        std::string type(fhir::ResourceType(doc));
        std::string id(fhir::ResourceId(doc));
        if (type.empty()) {
          s = InvalidArgument("neither a Bundle nor a resource");
        } else {
          auto r = id.empty() ? engine.Create(type, std::move(doc))
                              : engine.Update(type, id, std::move(doc));
          if (r.ok()) {
            written = 1;
          } else {
            s = r.status();
          }
        }
      }
    }
    if (!s.ok()) {
      ++summary.failed_files;
      std::string name = std::filesystem::path(item->path).filename().string();
      summary.errors.push_back(name + ": " + s.ToString());
      log::Warn("import: {}: {}", name, s.ToString());
    }
    summary.resources += written;
    bar.Add(item->bytes, static_cast<std::uint64_t>(written));
    summary.timeline.emplace_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        summary.resources);
  }
  if (fatal.ok()) fatal = finish_inflight();
  for (auto& f : inflight) {
    if (f.thread.joinable()) f.thread.join();
  }
  if (fatal.ok()) fatal = commit_group();
  {
    std::lock_guard<std::mutex> l(mu);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  bar.Finish();
  if (!fatal.ok()) return fatal;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace sund::api
