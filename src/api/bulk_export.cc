#include "api/bulk_export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/access.h"
#include "api/errors.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/resource.h"
#include "fhir/search_query.h"
#include "http/query.h"

namespace sund::api {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kJobFile = "job.json";
constexpr std::string_view kCancelledMarker = "cancelled";
constexpr std::string_view kFormat = "sund-bulk-export/1";
constexpr std::string_view kNdjson = "application/fhir+ndjson";

// --- Small helpers -------------------------------------------------------------------------

http::Response Outcome(int status, std::string_view severity, std::string_view code,
                       std::string_view message) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/fhir+json; charset=utf-8");
  r.body = fhir::OutcomeJson(severity, code, message);
  return r;
}

std::string Quoted(std::string_view s) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return {b.GetString(), b.GetSize()};
}

// 1234567 -> "1,234,567".
std::string Thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A job id or file name as this service makes them: letters, digits, '-', '_' and '.', never a
// path or a dot file.
bool SafeName(std::string_view n) {
  if (n.empty() || n.size() > 128 || n.front() == '.') return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return n.find("..") == std::string_view::npos;
}

std::string ErrnoText() { return std::strerror(errno); }

// --- Durable files ---------------------------------------------------------------------------

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("write failed: " + ErrnoText());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Status SyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open a folder to sync it: " + ErrnoText());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("fsync of a folder failed: " + ErrnoText());
  return Status::Ok();
}

// Replaces `path` with `data` atomically and durably: a temporary file, fsync'ed, renamed over
// it, and the folder fsync'ed.
Status WriteFileAtomic(const fs::path& path, std::string_view data) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot write the job's state: " + ErrnoText());
  Status s = WriteAll(fd, data);
  if (s.ok() && ::fsync(fd) != 0) s = Internal("fsync of the job's state failed: " + ErrnoText());
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal("cannot replace the job's state: " + ErrnoText());
  }
  return SyncDir(path.parent_path());
}

Result<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.filename().string());
  std::string out{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return Internal("cannot read " + path.filename().string());
  return out;
}

// An output file being appended to.
class OutputFile {
 public:
  OutputFile() = default;
  ~OutputFile() { Close(); }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // `fresh`: create (or empty) the file; otherwise append to it.
  Status Open(const fs::path& path, bool fresh) {
    Close();
    int flags = O_WRONLY | O_CLOEXEC | (fresh ? O_CREAT | O_TRUNC : O_APPEND);
    fd_ = ::open(path.c_str(), flags, 0644);
    if (fd_ < 0) return Internal("cannot open an output file: " + ErrnoText());
    path_ = path;
    return Status::Ok();
  }
  bool open() const { return fd_ >= 0; }
  const fs::path& path() const { return path_; }
  // Writes and fsyncs.
  Status Append(std::string_view data) {
    SUND_RETURN_IF_ERROR(WriteAll(fd_, data));
    if (::fdatasync(fd_) != 0) return Internal("fsync of an output file failed: " + ErrnoText());
    return Status::Ok();
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  fs::path path_;
};

// --- Jobs ------------------------------------------------------------------------------------

struct OutFile {
  std::string name;
  std::int64_t count = 0;
  std::int64_t bytes = 0;
};

// One type's part of a job.
struct TypeState {
  std::string type;
  std::string filter;          // the _typeFilter's query ("" for none)
  std::int64_t estimate = -1;  // current resources of the type when the job started (-1: unknown)
  std::int64_t cursor = 0;     // SnapshotQuery::after_rid to go on from
  bool done = false;
  std::int64_t count = 0;  // resources written (in `files`)
  std::vector<OutFile> files;
};

struct Job {
  // Fixed at the kick-off.
  std::string id, owner, request_url;
  ExportLevel level = ExportLevel::kSystem;
  std::string group_id;
  std::optional<std::int64_t> since_us;
  std::int64_t as_of_vid = 0;
  std::int64_t transaction_time_us = 0;
  std::int64_t created_us = 0;
  std::optional<consent::Request> consent;
  bool requires_token = false;
  bool resumed = false;  // loaded from its folder at Open: the files must be reconciled first

  std::atomic<bool> cancelled{false};
  std::mutex mu;
  // Guarded by mu (written by the one worker that runs the job).
  ExportState state = ExportState::kQueued;
  Status error;
  std::vector<TypeState> types;
  std::size_t current = 0;  // the type being exported
  bool preparing = true;
};

std::string_view LevelName(ExportLevel l) {
  switch (l) {
    case ExportLevel::kSystem:
      return "system";
    case ExportLevel::kPatient:
      return "patient";
    case ExportLevel::kGroup:
      return "group";
  }
  return "system";
}

std::string_view StateName(ExportState s) {
  switch (s) {
    case ExportState::kQueued:
    case ExportState::kRunning:
      return "running";
    case ExportState::kCompleted:
      return "completed";
    case ExportState::kFailed:
      return "failed";
  }
  return "running";
}

std::string_view UserKindName(consent::UserKind k) {
  switch (k) {
    case consent::UserKind::kPatientSelf:
      return "patient";
    case consent::UserKind::kPractitioner:
      return "practitioner";
    case consent::UserKind::kRelatedPerson:
      return "related-person";
    case consent::UserKind::kSystem:
      return "system";
  }
  return "practitioner";
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, const char* k) { w.Key(k); }
void StringMember(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

// job.json (docs/bulk-data.md, "The job folder"). Call with job.mu held.
std::string JobJson(const Job& job) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  StringMember(w, "format", kFormat);
  StringMember(w, "id", job.id);
  StringMember(w, "owner", job.owner);
  StringMember(w, "state", StateName(job.state));
  if (job.state == ExportState::kFailed) {
    Key(w, "error");
    w.StartObject();
    StringMember(w, "code", StatusCodeName(job.error.code()));
    StringMember(w, "message", job.error.message());
    w.EndObject();
  }
  Key(w, "created");
  w.Int64(job.created_us);
  StringMember(w, "request", job.request_url);
  Key(w, "requiresAccessToken");
  w.Bool(job.requires_token);
  StringMember(w, "level", LevelName(job.level));
  if (job.level == ExportLevel::kGroup) StringMember(w, "group", job.group_id);
  if (job.since_us) {
    Key(w, "since");
    w.Int64(*job.since_us);
  }
  Key(w, "asOfVid");
  w.Int64(job.as_of_vid);
  Key(w, "transactionTime");
  w.Int64(job.transaction_time_us);
  if (job.consent) {
    const consent::Request& c = *job.consent;
    Key(w, "consent");
    w.StartObject();
    StringMember(w, "user", UserKindName(c.user));
    StringMember(w, "patient", c.patient);
    StringMember(w, "relatedPerson", c.related_person);
    StringMember(w, "practitioner", c.practitioner);
    StringMember(w, "practitionerRole", c.practitioner_role);
    for (const auto& [key, list] :
         {std::pair{"organizations", &c.organizations}, std::pair{"careTeams", &c.care_teams}}) {
      Key(w, key);
      w.StartArray();
      for (const auto& s : *list) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      w.EndArray();
    }
    StringMember(w, "device", c.device);
    StringMember(w, "clientId", c.client_id);
    StringMember(w, "purpose", c.purpose);
    StringMember(w, "breakGlassReason", c.break_glass_reason);
    Key(w, "now");
    w.Int64(c.now_ms);
    w.EndObject();
  }
  Key(w, "types");
  w.StartArray();
  for (const auto& t : job.types) {
    w.StartObject();
    StringMember(w, "type", t.type);
    if (!t.filter.empty()) StringMember(w, "filter", t.filter);
    Key(w, "estimate");
    w.Int64(t.estimate);
    Key(w, "cursor");
    w.Int64(t.cursor);
    Key(w, "done");
    w.Bool(t.done);
    Key(w, "count");
    w.Int64(t.count);
    Key(w, "files");
    w.StartArray();
    for (const auto& f : t.files) {
      w.StartObject();
      StringMember(w, "name", f.name);
      Key(w, "count");
      w.Int64(f.count);
      Key(w, "bytes");
      w.Int64(f.bytes);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// Reads job.json back; InvalidArgument names what is wrong with it.
Result<std::shared_ptr<Job>> ParseJobJson(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("job.json is not JSON");
  if (json::GetString(d, "format") != kFormat) {
    return InvalidArgument("job.json has an unknown format");
  }
  auto bad = [](std::string_view what) {
    return InvalidArgument("job.json: " + std::string(what) + " is missing or malformed");
  };
  auto int64 = [](const rapidjson::Value& o, const char* k) -> std::optional<std::int64_t> {
    const auto* v = json::Find(o, k);
    if (v == nullptr || !v->IsInt64()) return std::nullopt;
    return v->GetInt64();
  };
  auto job = std::make_shared<Job>();
  job->id = std::string(json::GetString(d, "id"));
  job->owner = std::string(json::GetString(d, "owner"));
  job->request_url = std::string(json::GetString(d, "request"));
  if (!SafeName(job->id)) return bad("id");
  std::string_view state = json::GetString(d, "state");
  if (state == "running") {
    job->state = ExportState::kQueued;
  } else if (state == "completed") {
    job->state = ExportState::kCompleted;
  } else if (state == "failed") {
    job->state = ExportState::kFailed;
    const auto* e = json::Find(d, "error");
    std::string message(e == nullptr ? "" : json::GetString(*e, "message"));
    job->error = Status(StatusCode::kInternal, message.empty() ? "the export failed" : message);
  } else {
    return bad("state");
  }
  std::string_view level = json::GetString(d, "level");
  if (level == "system") {
    job->level = ExportLevel::kSystem;
  } else if (level == "patient") {
    job->level = ExportLevel::kPatient;
  } else if (level == "group") {
    job->level = ExportLevel::kGroup;
    job->group_id = std::string(json::GetString(d, "group"));
    if (!fhir::IsValidId(job->group_id)) return bad("group");
  } else {
    return bad("level");
  }
  const auto* rt = json::Find(d, "requiresAccessToken");
  job->requires_token = rt != nullptr && rt->IsBool() && rt->GetBool();
  auto created = int64(d, "created");
  auto as_of = int64(d, "asOfVid");
  auto tt = int64(d, "transactionTime");
  if (!created || !as_of || !tt) return bad("created, asOfVid or transactionTime");
  job->created_us = *created;
  job->as_of_vid = *as_of;
  job->transaction_time_us = *tt;
  if (json::Find(d, "since") != nullptr) {
    job->since_us = int64(d, "since");
    if (!job->since_us) return bad("since");
  }
  if (const auto* c = json::Find(d, "consent"); c != nullptr) {
    if (!c->IsObject()) return bad("consent");
    consent::Request r;
    std::string_view user = json::GetString(*c, "user");
    if (user == "patient") {
      r.user = consent::UserKind::kPatientSelf;
    } else if (user == "practitioner") {
      r.user = consent::UserKind::kPractitioner;
    } else if (user == "related-person") {
      r.user = consent::UserKind::kRelatedPerson;
    } else if (user == "system") {
      r.user = consent::UserKind::kSystem;
    } else {
      return bad("consent.user");
    }
    r.patient = std::string(json::GetString(*c, "patient"));
    r.related_person = std::string(json::GetString(*c, "relatedPerson"));
    r.practitioner = std::string(json::GetString(*c, "practitioner"));
    r.practitioner_role = std::string(json::GetString(*c, "practitionerRole"));
    for (const auto& [key, list] :
         {std::pair{"organizations", &r.organizations}, std::pair{"careTeams", &r.care_teams}}) {
      const auto* a = json::Find(*c, key);
      if (a == nullptr || !a->IsArray()) return bad(std::string("consent.") + key);
      for (const auto& s : a->GetArray()) {
        if (!s.IsString()) return bad(std::string("consent.") + key);
        list->emplace_back(json::View(s));
      }
    }
    r.device = std::string(json::GetString(*c, "device"));
    r.client_id = std::string(json::GetString(*c, "clientId"));
    r.purpose = std::string(json::GetString(*c, "purpose"));
    r.break_glass_reason = std::string(json::GetString(*c, "breakGlassReason"));
    auto now = int64(*c, "now");
    if (!now || r.purpose.empty()) return bad("consent");
    r.now_ms = *now;
    job->consent = std::move(r);
  }
  const auto* types = json::Find(d, "types");
  if (types == nullptr || !types->IsArray() || types->Empty()) return bad("types");
  for (const auto& t : types->GetArray()) {
    TypeState ts;
    ts.type = std::string(json::GetString(t, "type"));
    if (!fhir::Model::R4().IsResourceType(ts.type)) return bad("types[].type");
    ts.filter = std::string(json::GetString(t, "filter"));
    auto estimate = int64(t, "estimate");
    auto cursor = int64(t, "cursor");
    auto count = int64(t, "count");
    const auto* done = json::Find(t, "done");
    const auto* files = json::Find(t, "files");
    if (!estimate || !cursor || !count || done == nullptr || !done->IsBool() || files == nullptr ||
        !files->IsArray()) {
      return bad("types[]");
    }
    ts.estimate = *estimate;
    ts.cursor = *cursor;
    ts.count = *count;
    ts.done = done->GetBool();
    for (const auto& f : files->GetArray()) {
      OutFile of;
      of.name = std::string(json::GetString(f, "name"));
      auto fc = int64(f, "count");
      auto fb = int64(f, "bytes");
      if (!SafeName(of.name) || !fc || !fb || *fc < 0 || *fb < 0) return bad("types[].files[]");
      of.count = *fc;
      of.bytes = *fb;
      ts.files.push_back(std::move(of));
    }
    job->types.push_back(std::move(ts));
  }
  return job;
}

// The Patient ids a Group's members name: member.entity references to Patient, without the
// members marked inactive. Absolute references count by their last two segments.
std::vector<std::string> GroupMembers(std::string_view group_json) {
  std::vector<std::string> out;
  rapidjson::Document d;
  d.Parse(group_json.data(), group_json.size());
  const auto* members = json::Find(d, "member");
  if (members == nullptr || !members->IsArray()) return out;
  for (const auto& m : members->GetArray()) {
    const auto* inactive = json::Find(m, "inactive");
    if (inactive != nullptr && inactive->IsBool() && inactive->GetBool()) continue;
    const auto* entity = json::Find(m, "entity");
    if (entity == nullptr) continue;
    std::string_view ref = json::GetString(*entity, "reference");
    std::size_t slash = ref.rfind('/');
    if (slash == std::string_view::npos) continue;
    std::string_view id = ref.substr(slash + 1);
    std::string_view before = ref.substr(0, slash);
    std::size_t prev = before.rfind('/');
    std::string_view type = prev == std::string_view::npos ? before : before.substr(prev + 1);
    if (type != "Patient" || !fhir::IsValidId(id)) continue;
    out.emplace_back(id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// A _typeFilter query parsed for `type`: criteria only (no paging, sorting, includes or
// summaries: an export writes whole resources).
Result<fhir::SearchQuery> ParseTypeFilter(std::string_view type, std::string_view query) {
  auto params = http::ParseQuery(query);
  if (params.empty()) {
    return InvalidArgument("_typeFilter for " + std::string(type) + " has no criteria");
  }
  static constexpr std::string_view kResultParams[] = {
      "_count",         "_offset",         "_cursor",  "_sort",  "_include",
      "_revinclude",    "_elements",       "_summary", "_total", "_contained",
      "_containedType", "_getpagesoffset", "_format"};
  for (const auto& [k, v] : params) {
    if (std::find(std::begin(kResultParams), std::end(kResultParams), k) !=
        std::end(kResultParams)) {
      return InvalidArgument("_typeFilter for " + std::string(type) + ": '" + k +
                             "' is not a search criterion");
    }
  }
  auto q = fhir::ParseSearch(fhir::Model::R4(), type, params, true);
  if (!q.ok()) {
    return Status(q.status().code(),
                  "_typeFilter for " + std::string(type) + ": " + q.status().message());
  }
  return q;
}

// "Observation?code=a,Condition?code=b" -> the two queries: a comma starts a new query only
// where a resource type and '?' follow it (commas inside values stay).
std::vector<std::string> SplitTypeFilters(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    bool split = i == value.size();
    if (!split && value[i] == ',') {
      std::string_view rest = value.substr(i + 1);
      std::size_t q = rest.find('?');
      split = q != std::string_view::npos && fhir::Model::R4().IsResourceType(rest.substr(0, q));
    }
    if (split) {
      std::string_view part = Trim(value.substr(start, i - start));
      if (!part.empty()) out.emplace_back(part);
      start = i + 1;
    }
  }
  return out;
}

// The patients whose data `content` (NDJSON of `type`) holds, for the audit record.
void AddPatientsOfFile(std::string_view type, std::string_view content, RequestTrail& trail) {
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    std::string id;
    if (type == "Patient") {
      rapidjson::Document d;
      d.Parse(line.data(), line.size());
      id = std::string(json::GetString(d, "id"));
    }
    trail.AddPatientsOf(type, id, line);
  }
}

}  // namespace

// --- The service -----------------------------------------------------------------------------

struct BulkExport::Impl {
  BulkExportOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::shared_ptr<Job>, std::less<>> jobs;  // guarded by mu
  std::deque<std::shared_ptr<Job>> queue;                         // guarded by mu
  int running = 0;                                                // guarded by mu
  bool stopping = false;                                          // guarded by mu
  std::atomic<bool> stop_flag{false};
  std::vector<std::thread> workers;

  std::int64_t NowUs() const {
    return (options.clock != nullptr ? *options.clock : SystemClock::Get()).NowMicros();
  }
  fs::path DirOf(std::string_view id) const { return fs::path(options.dir) / std::string(id); }

  // Writes the job's state to its job.json (durably, atomically).
  Status Checkpoint(Job& job) {
    std::string text;
    {
      std::lock_guard<std::mutex> l(job.mu);
      text = JobJson(job);
    }
    return WriteFileAtomic(DirOf(job.id) / std::string(kJobFile), text);
  }

  void Load();
  void Work();
  void Run(const std::shared_ptr<Job>& job);
  enum class Outcome { kDone, kCancelled, kAbandoned };
  struct Context;
  Result<Outcome> Execute(Job& job);
  Status Reconcile(Job& job);
  Result<Outcome> ExportType(Job& job, std::size_t index, Context& ctx);
  Result<std::vector<std::string>> SnapshotPatients(const Job& job);
  void RemoveOutputs(const Job& job);
  std::string Progress(const Job& job);  // call with job.mu held
  bool Interrupted(const Job& job) const { return job.cancelled || stop_flag; }
};

// What a run of a job needs beside its state.
struct BulkExport::Impl::Context {
  std::optional<ConsentScope> scope;  // the caller's view under the Consents
  bool per_resource = false;          // decide every resource (some patient's Consents hide part)
  bool restricted = false;            // compartment types are limited to `patients`
  std::vector<std::string> patients;  // Patient and Group exports: the patients
  int checkpoints = 0;
  std::chrono::steady_clock::time_point last_checkpoint = std::chrono::steady_clock::now();
};

void BulkExport::Impl::Load() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options.dir, ec)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    if (!SafeName(name)) continue;
    if (fs::exists(entry.path() / std::string(kCancelledMarker), ec)) {
      // Cancelled by its owner before a restart: finish the deletion.
      fs::remove_all(entry.path(), ec);
      continue;
    }
    auto text = ReadWholeFile(entry.path() / std::string(kJobFile));
    if (!text.ok()) {
      log::Warn("bulk export: folder {} has no job.json; left alone", name);
      continue;
    }
    auto job = ParseJobJson(*text);
    if (!job.ok() || (*job)->id != name) {
      log::Warn("bulk export: the job.json of folder {} cannot be read ({}); left alone", name,
                job.ok() ? "its id differs" : job.status().message());
      continue;
    }
    std::shared_ptr<Job> j = std::move(job).value();
    if (j->state == ExportState::kQueued) {
      j->resumed = true;
      queue.push_back(j);
      log::Info("bulk export {}: resuming after a restart", j->id);
    }
    jobs.emplace(j->id, std::move(j));
  }
}

void BulkExport::Impl::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      job = queue.front();
      queue.pop_front();
      ++running;
      std::lock_guard<std::mutex> jl(job->mu);
      job->state = ExportState::kRunning;
    }
    Run(job);
    {
      std::lock_guard<std::mutex> l(mu);
      --running;
    }
    cv.notify_all();
  }
}

void BulkExport::Impl::RemoveOutputs(const Job& job) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(DirOf(job.id), ec)) {
    if (e.path().extension() == ".ndjson") fs::remove(e.path(), ec);
  }
}

void BulkExport::Impl::Run(const std::shared_ptr<Job>& job) {
  auto started = std::chrono::steady_clock::now();
  Result<Outcome> outcome = Execute(*job);
  if (outcome.ok() && *outcome == Outcome::kAbandoned) return;  // resumes at the next start
  bool cancelled = false;
  {
    std::lock_guard<std::mutex> l(mu);
    cancelled = job->cancelled;
  }
  if (cancelled || (outcome.ok() && *outcome == Outcome::kCancelled)) {
    std::error_code ec;
    fs::remove_all(DirOf(job->id), ec);
    log::Info("bulk export {}: cancelled", job->id);
    return;
  }
  std::int64_t total = 0;
  {
    std::lock_guard<std::mutex> l(job->mu);
    for (const auto& t : job->types) total += t.count;
    if (outcome.ok()) {
      job->state = ExportState::kCompleted;
    } else {
      job->state = ExportState::kFailed;
      job->error = outcome.status();
    }
  }
  if (!outcome.ok()) RemoveOutputs(*job);
  if (Status s = Checkpoint(*job); !s.ok()) {
    log::Error("bulk export {}: cannot record its end: {}", job->id, s.message());
    if (outcome.ok()) {
      // Served from memory until a restart, which would repeat it from the last checkpoint.
      log::Warn("bulk export {}: completed, but a restart may run it again", job->id);
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (outcome.ok()) {
    log::Info("bulk export {}: completed, {} resources in {:.2f} s", job->id, total, seconds);
  } else {
    log::Warn("bulk export {}: failed: {}", job->id, outcome.status().message());
  }
  {
    std::lock_guard<std::mutex> l(mu);
    cancelled = job->cancelled;
  }
  if (cancelled) {
    std::error_code ec;
    fs::remove_all(DirOf(job->id), ec);
  }
}

// After a restart: the files as job.json recorded them. A file longer than recorded (a page
// written after the last checkpoint) is cut back; files it does not list are removed; a listed
// file that is missing or shorter makes resuming impossible.
Status BulkExport::Impl::Reconcile(Job& job) {
  fs::path dir = DirOf(job.id);
  std::set<std::string> recorded;
  std::error_code ec;
  for (const auto& t : job.types) {
    for (const auto& f : t.files) {
      recorded.insert(f.name);
      fs::path p = dir / f.name;
      auto size = fs::file_size(p, ec);
      if (ec) {
        return Internal("cannot resume after a restart: output file " + f.name + " is missing");
      }
      if (static_cast<std::int64_t>(size) < f.bytes) {
        return Internal("cannot resume after a restart: output file " + f.name +
                        " is shorter than recorded (" + std::to_string(size) + " of " +
                        std::to_string(f.bytes) + " bytes)");
      }
      if (static_cast<std::int64_t>(size) > f.bytes) {
        if (::truncate(p.c_str(), f.bytes) != 0) {
          return Internal("cannot resume after a restart: output file " + f.name +
                          " cannot be cut back to its recorded size: " + ErrnoText());
        }
        log::Info("bulk export {}: {} cut back to its last checkpoint ({} bytes)", job.id, f.name,
                  f.bytes);
      }
    }
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    bool output = e.path().extension() == ".ndjson";
    bool temp = e.path().extension() == ".tmp";
    std::error_code removed;
    if ((output && !recorded.contains(name)) || temp) fs::remove(e.path(), removed);
    if (removed) {
      return Internal("cannot resume after a restart: " + name + " cannot be removed");
    }
  }
  if (ec) return Internal("cannot resume after a restart: the job's folder cannot be read");
  return SyncDir(dir);
}

Result<std::vector<std::string>> BulkExport::Impl::SnapshotPatients(const Job& job) {
  storage::Store& store = *options.store;
  std::vector<std::string> out;
  storage::SnapshotQuery q;
  q.as_of_vid = job.as_of_vid;
  q.count = 1000;
  if (job.level == ExportLevel::kGroup) {
    q.type = "Group";
    SUND_ASSIGN_OR_RETURN(
        q.filter, fhir::ParseSearch(fhir::Model::R4(), "Group", {{"_id", job.group_id}}, true));
    SUND_ASSIGN_OR_RETURN(storage::SnapshotPage page, store.Snapshot(q));
    if (page.versions.empty()) {
      return Status(StatusCode::kNotFound,
                    "Group/" + job.group_id + " does not exist in the export's snapshot");
    }
    return GroupMembers(page.versions.front().json);
  }
  q.type = "Patient";
  for (;;) {
    SUND_ASSIGN_OR_RETURN(storage::SnapshotPage page, store.Snapshot(q));
    for (auto& v : page.versions) out.push_back(std::move(v.id));
    if (!page.next_rid) break;
    q.after_rid = *page.next_rid;
  }
  return out;
}

Result<BulkExport::Impl::Outcome> BulkExport::Impl::Execute(Job& job) {
  storage::Store& store = *options.store;
  if (job.resumed) SUND_RETURN_IF_ERROR(Reconcile(job));
  SUND_ASSIGN_OR_RETURN(std::int64_t last, store.LastVid());
  if (last < job.as_of_vid) {
    return Internal(
        "the database no longer reaches the export's snapshot (was it restored from a "
        "backup?); start a new export");
  }
  Context ctx;
  if (job.consent && options.consent != nullptr) {
    auto snapshot = options.consent->Current();
    if (!snapshot.ok()) {
      log::Error("bulk export {}: cannot read the Consents: {}", job.id,
                 snapshot.status().message());
      return Status(StatusCode::kUnavailable, "the consent engine is unavailable");
    }
    ctx.scope.emplace(*options.consent, std::move(snapshot).value(), *job.consent);
    ctx.per_resource = ctx.scope->MayHide();
  }
  if (job.level != ExportLevel::kSystem) {
    ctx.restricted = true;
    // A Patient export covers every Patient: the Store tests "in some Patient's compartment"
    // itself, without a list of all patients in every query.
    if (job.level == ExportLevel::kGroup) {
      SUND_ASSIGN_OR_RETURN(ctx.patients, SnapshotPatients(job));
    }
  }
  bool need_estimates = false;
  {
    std::lock_guard<std::mutex> l(job.mu);
    for (const auto& t : job.types) need_estimates |= t.estimate < 0;
  }
  if (need_estimates) {
    SUND_ASSIGN_OR_RETURN(auto counts, store.CountByType());
    std::lock_guard<std::mutex> l(job.mu);
    for (auto& t : job.types) {
      if (t.estimate >= 0) continue;
      t.estimate = 0;
      for (const auto& [type, n] : counts) {
        if (type == t.type) t.estimate = n;
      }
    }
  }
  std::size_t n;
  {
    std::lock_guard<std::mutex> l(job.mu);
    job.preparing = false;
    n = job.types.size();
  }
  for (std::size_t i = 0; i < n; ++i) {
    {
      std::lock_guard<std::mutex> l(job.mu);
      if (job.types[i].done) continue;
      job.current = i;
    }
    SUND_ASSIGN_OR_RETURN(Outcome o, ExportType(job, i, ctx));
    if (o != Outcome::kDone) return o;
  }
  return Outcome::kDone;
}

Result<BulkExport::Impl::Outcome> BulkExport::Impl::ExportType(Job& job, std::size_t index,
                                                               Context& ctx) {
  TypeState ts;  // this run's copy; job.types[index] is updated at each checkpoint
  {
    std::lock_guard<std::mutex> l(job.mu);
    ts = job.types[index];
  }
  const auto& model = fhir::Model::R4();
  bool compartment = !model.PatientCompartmentParams(ts.type).empty();
  storage::SnapshotQuery q;
  q.type = ts.type;
  q.as_of_vid = job.as_of_vid;
  q.since_us = job.since_us;
  bool nothing = false;
  if (ctx.restricted) {
    if (!compartment && ts.type != "Patient") {
      nothing = true;  // not a compartment type (kick-off refuses these; defensive)
    } else if (job.level == ExportLevel::kPatient) {
      q.any_patient = true;
    } else if (ctx.patients.empty()) {
      nothing = true;  // no patients: an empty list would mean "no restriction"
    } else {
      q.patients = ctx.patients;
    }
  }
  if (!ts.filter.empty()) {
    SUND_ASSIGN_OR_RETURN(q.filter, ParseTypeFilter(ts.type, ts.filter));
  }
  q.filter.type = ts.type;
  if (ctx.scope) SUND_RETURN_IF_ERROR(ctx.scope->Restrict(q.filter.consent, &q.filter));

  fs::path dir = DirOf(job.id);
  OutputFile out;
  auto file_full = [&](const OutFile& f) {
    return f.count >= options.max_file_resources || f.bytes >= options.max_file_bytes;
  };
  if (!ts.files.empty() && !file_full(ts.files.back()) && !ts.done) {
    SUND_RETURN_IF_ERROR(out.Open(dir / ts.files.back().name, false));
  }
  std::string buffer;
  while (!ts.done) {
    if (Interrupted(job)) return job.cancelled ? Outcome::kCancelled : Outcome::kAbandoned;
    storage::SnapshotPage page;
    if (!nothing) {
      std::int64_t room = options.max_file_resources;
      if (out.open() && !file_full(ts.files.back())) {
        room = options.max_file_resources - ts.files.back().count;
      }
      q.after_rid = ts.cursor;
      q.count = static_cast<int>(std::clamp<std::int64_t>(room, 1, options.page_size));
      SUND_ASSIGN_OR_RETURN(page, options.store->Snapshot(q));
    }
    buffer.clear();
    std::int64_t lines = 0;
    for (auto& v : page.versions) {
      if (ctx.per_resource && !ctx.scope->Allows(ts.type, v.id, v.json)) continue;
      // Stored JSON is compact; a line break between tokens would still split the line.
      if (v.json.find_first_of("\r\n") != std::string::npos) {
        std::replace_if(
            v.json.begin(), v.json.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
      }
      buffer += v.json;
      buffer += '\n';
      ++lines;
    }
    if (lines > 0) {
      if (!out.open() || ts.files.empty() || file_full(ts.files.back())) {
        char name[160];
        std::snprintf(name, sizeof name, "%s-%04zu.ndjson", ts.type.c_str(), ts.files.size() + 1);
        ts.files.push_back(OutFile{name, 0, 0});
        SUND_RETURN_IF_ERROR(out.Open(dir / name, true));
      }
      SUND_RETURN_IF_ERROR(out.Append(buffer));
      ts.files.back().count += lines;
      ts.files.back().bytes += static_cast<std::int64_t>(buffer.size());
      ts.count += lines;
    }
    if (page.next_rid) {
      ts.cursor = *page.next_rid;
    } else {
      ts.done = true;
    }
    {
      std::lock_guard<std::mutex> l(job.mu);
      job.types[index] = ts;
    }
    // A page that wrote nothing (an empty type, or resources the Consents hide) is recorded
    // with the next one that does, or within a second: redoing it after a crash is cheap.
    auto now = std::chrono::steady_clock::now();
    if (lines == 0 && now - ctx.last_checkpoint < std::chrono::seconds(1)) continue;
    SUND_RETURN_IF_ERROR(Checkpoint(job));
    ctx.last_checkpoint = now;
    ++ctx.checkpoints;
    if (options.after_checkpoint) {
      ExportCheckpoint cp{job.id, ctx.checkpoints, ts.type,
                          out.open() ? out.path().string() : std::string()};
      if (!options.after_checkpoint(cp)) return Outcome::kAbandoned;
    }
  }
  return Outcome::kDone;
}

std::string BulkExport::Impl::Progress(const Job& job) {
  if (job.state == ExportState::kQueued) return "queued";
  if (job.preparing) return "preparing the snapshot";
  std::int64_t done_total = 0;
  for (const auto& t : job.types) done_total += t.count;
  const TypeState& t = job.types[job.current];
  std::string out = t.type + ": " + Thousands(t.count);
  if (t.estimate >= 0) out += " of ~" + Thousands(std::max(t.estimate, t.count));
  out += " resources (type " + std::to_string(job.current + 1) + " of " +
         std::to_string(job.types.size()) + "; " + Thousands(done_total) + " in all)";
  return out;
}

// --- Public API --------------------------------------------------------------------------------

BulkExport::BulkExport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<BulkExport>> BulkExport::Open(BulkExportOptions options) {
  if (options.store == nullptr) return Internal("bulk export: no store");
  if (options.dir.empty()) return Internal("bulk export: no folder");
  options.workers = std::max(1, options.workers);
  options.page_size = std::max(1, options.page_size);
  options.max_file_resources = std::max<std::int64_t>(1, options.max_file_resources);
  options.max_file_bytes = std::max<std::int64_t>(1, options.max_file_bytes);
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Internal("bulk export: cannot create the folder " + options.dir);
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->Load();
  std::unique_ptr<BulkExport> out(new BulkExport(std::move(impl)));
  Impl* i = out->impl_.get();
  for (int w = 0; w < i->options.workers; ++w) i->workers.emplace_back([i] { i->Work(); });
  return out;
}

BulkExport::~BulkExport() {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stopping = true;
    impl_->stop_flag = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

std::string BulkExport::JobDir(std::string_view id) const { return impl_->DirOf(id).string(); }

Result<std::string> BulkExport::Start(ExportRequest request, ExportCaller caller) {
  if (request.types.empty()) return InvalidArgument("nothing to export: no resource types");
  storage::Store& store = *impl_->options.store;
  auto job = std::make_shared<Job>();
  job->id = crypto::RandomToken(16);
  job->owner = std::move(caller.owner);
  job->request_url = std::move(request.request_url);
  job->level = request.level;
  job->group_id = std::move(request.group_id);
  job->since_us = request.since_us;
  job->consent = std::move(caller.consent);
  job->requires_token = caller.requires_token;
  job->created_us = impl_->NowUs();
  // The snapshot, and its time: the newest version's lastUpdated, so that a later export with
  // _since=transactionTime misses nothing committed after this one's snapshot.
  SUND_ASSIGN_OR_RETURN(job->as_of_vid, store.LastVid());
  job->transaction_time_us = job->created_us;
  if (job->as_of_vid > 0) {
    storage::HistoryQuery hq;
    hq.after_vid = job->as_of_vid - 1;
    hq.count = 1;
    SUND_ASSIGN_OR_RETURN(storage::HistoryPage newest, store.History(hq));
    if (!newest.versions.empty()) {
      job->transaction_time_us = newest.versions.front().last_updated_us;
    }
  }
  for (const auto& type : request.types) {
    TypeState ts;
    ts.type = type;
    for (const auto& [t, f] : request.type_filters) {
      if (t == type) ts.filter = f;
    }
    if (!ts.filter.empty()) {
      // Run the criteria once now, so that what the store cannot run is refused at the kick-off.
      storage::SnapshotQuery q;
      q.type = type;
      q.as_of_vid = job->as_of_vid;
      q.count = 1;
      SUND_ASSIGN_OR_RETURN(q.filter, ParseTypeFilter(type, ts.filter));
      q.filter.type = type;
      auto probe = store.Snapshot(q);
      if (!probe.ok()) {
        StatusCode code = probe.status().code();
        if (code == StatusCode::kInvalidArgument || code == StatusCode::kNotImplemented) {
          return Status(code, "_typeFilter for " + type + ": " + probe.status().message());
        }
        return probe.status();
      }
    }
    job->types.push_back(std::move(ts));
  }
  std::error_code ec;
  fs::path dir = impl_->DirOf(job->id);
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create the export's folder");
  if (Status s = impl_->Checkpoint(*job); !s.ok()) {
    fs::remove_all(dir, ec);
    return s;
  }
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->stopping) {
      fs::remove_all(dir, ec);
      return Status(StatusCode::kUnavailable, "the server is shutting down");
    }
    impl_->jobs.emplace(job->id, job);
    impl_->queue.push_back(job);
  }
  impl_->cv.notify_all();
  log::Info("bulk export {}: queued ({} level, {} types, snapshot at {})", job->id,
            LevelName(job->level), job->types.size(), job->as_of_vid);
  return job->id;
}

Result<ExportStatus> BulkExport::Poll(std::string_view id, std::string_view owner) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = impl_->jobs.find(id);
    // Another caller's job does not exist for this one.
    if (it != impl_->jobs.end() && it->second->owner == owner) job = it->second;
  }
  if (job == nullptr) return NotFound("no such export job");
  ExportStatus out;
  std::lock_guard<std::mutex> l(job->mu);
  out.state = job->state;
  out.error = job->error;
  out.transaction_time_us = job->transaction_time_us;
  out.request_url = job->request_url;
  out.requires_token = job->requires_token;
  for (const auto& t : job->types) {
    out.types.push_back(t.type);
    if (job->state != ExportState::kCompleted) continue;
    for (const auto& f : t.files) out.output.push_back(ExportOutputFile{t.type, f.name, f.count});
  }
  if (job->state == ExportState::kQueued || job->state == ExportState::kRunning) {
    out.progress = impl_->Progress(*job);
  }
  return out;
}

Status BulkExport::Delete(std::string_view id, std::string_view owner) {
  std::shared_ptr<Job> job;
  bool remove_now = false;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = impl_->jobs.find(id);
    if (it == impl_->jobs.end() || it->second->owner != owner) {
      return NotFound("no such export job");
    }
    job = it->second;
    impl_->jobs.erase(it);
    job->cancelled = true;
    auto queued = std::find(impl_->queue.begin(), impl_->queue.end(), job);
    if (queued != impl_->queue.end()) {
      impl_->queue.erase(queued);
      remove_now = true;
    } else {
      std::lock_guard<std::mutex> jl(job->mu);
      remove_now = job->state != ExportState::kRunning;
    }
  }
  fs::path dir = impl_->DirOf(job->id);
  std::error_code ec;
  if (remove_now) {
    fs::remove_all(dir, ec);
    if (ec) return Internal("cannot delete the export's files");
  } else {
    // The worker removes the folder at its next page; the marker finishes the deletion at the
    // next start should the process end first.
    std::ofstream(dir / std::string(kCancelledMarker)).put('\n');
    SyncDir(dir).IgnoreError();
  }
  log::Info("bulk export {}: deleted by its owner", job->id);
  return Status::Ok();
}

void BulkExport::WaitIdle() {
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->cv.wait(l, [&] { return impl_->queue.empty() && impl_->running == 0; });
}

// --- HTTP ----------------------------------------------------------------------------------

namespace {

// The token's owner of jobs: its client and subject.
std::string OwnerOf(const AccessGuard& guard) {
  const auth::Access* a = guard.access();
  if (a == nullptr) return "anonymous";
  return a->client_id + "|" + a->subject;
}

// Whether the token lets its holder export `type`: system/ read and search (system/T.rs,
// system/*.rs, system/T.read, system/*.read ...), without a granular restriction.
bool MayExport(const AccessGuard& guard, std::string_view type) {
  return guard.SystemGrants(type, auth::kRead) && guard.SystemGrants(type, auth::kSearch);
}

Status NotExportable(std::string_view type) {
  return Status(StatusCode::kPermissionDenied,
                "the access token's scopes do not allow a bulk export of " + std::string(type) +
                    " (it needs system/" + std::string(type) +
                    ".rs, system/*.rs or their v1 "
                    "forms .read)");
}

// The kick-off's parameters from a POST body (a Parameters resource).
Status ParametersBody(std::string_view body, QueryParams& params) {
  rapidjson::Document d;
  json::ParseBounded(d, body);
  if (d.HasParseError() || json::GetString(d, "resourceType") != "Parameters") {
    return InvalidArgument("a POST $export takes a Parameters resource (JSON)");
  }
  const auto* list = json::Find(d, "parameter");
  if (list == nullptr) return Status::Ok();
  if (!list->IsArray()) return InvalidArgument("Parameters.parameter must be an array");
  for (const auto& p : list->GetArray()) {
    std::string name(json::GetString(p, "name"));
    if (name.empty()) return InvalidArgument("a parameter without a name");
    const rapidjson::Value* value = nullptr;
    for (const char* k : {"valueString", "valueCode", "valueInstant", "valueDateTime", "valueUri",
                          "valueCanonical"}) {
      if ((value = json::Find(p, k)) != nullptr) break;
    }
    if (value == nullptr || !value->IsString()) {
      if (name == "patient") {
        return Status(StatusCode::kNotImplemented,
                      "the $export parameter 'patient' is not supported; use a Group");
      }
      return InvalidArgument("parameter '" + name + "' needs a string, code or instant value");
    }
    params.emplace_back(std::move(name), std::string(json::View(*value)));
  }
  return Status::Ok();
}

// Everything the kick-off request asks for, checked against the model and the caller's scopes.
Result<ExportRequest> ParseKickOff(const http::Request& req, ExportLevel level,
                                   std::string_view group_id, std::string_view base,
                                   const AccessGuard& guard, storage::Store& store) {
  const auto& model = fhir::Model::R4();
  QueryParams params = http::ParseQuery(req.query);
  if (req.method == "POST" && !Trim(req.body).empty()) {
    SUND_RETURN_IF_ERROR(ParametersBody(req.body, params));
  }
  ExportRequest r;
  r.level = level;
  r.group_id = std::string(group_id);
  std::vector<std::string> types;
  std::vector<std::string> filters;
  for (const auto& [k, v] : params) {
    if (k == "_type") {
      std::string_view rest = v;
      while (!rest.empty()) {
        std::size_t c = rest.find(',');
        std::string_view t = Trim(rest.substr(0, c));
        rest = c == std::string_view::npos ? std::string_view() : rest.substr(c + 1);
        if (t.empty()) continue;
        if (!model.IsResourceType(t)) {
          return InvalidArgument("_type: '" + std::string(t) + "' is not a FHIR R4 resource type");
        }
        if (std::find(types.begin(), types.end(), t) == types.end()) types.emplace_back(t);
      }
    } else if (k == "_since") {
      // A '+' of a time zone that the client did not percent-encode arrives as a space.
      std::string since = v;
      std::replace(since.begin(), since.end(), ' ', '+');
      auto d = ParseFhirDate(since);
      if (!d.ok() || since.find('T') == std::string::npos) {
        return InvalidArgument(
            "_since must be a FHIR instant, e.g. 2024-01-01T00:00:00Z (percent-encode '+' as "
            "%2B)");
      }
      r.since_us = d->lo_ms * 1000;
    } else if (k == "_typeFilter") {
      for (auto& f : SplitTypeFilters(v)) filters.push_back(std::move(f));
    } else if (k == "_outputFormat") {
      // '+' unencoded in a query arrives as a space ("application/fhir ndjson").
      std::string f = v;
      std::replace(f.begin(), f.end(), ' ', '+');
      if (f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson") {
        return InvalidArgument("_outputFormat '" + v +
                               "' is not supported: application/fhir+ndjson (also "
                               "application/ndjson, ndjson) is");
      }
    } else if (k == "_format") {
      continue;  // the response format, checked by the router (JSON)
    } else if (k == "patient" || k == "includeAssociatedData" || k == "_elements" ||
               k == "_until" || k == "organizeOutputBy" || k == "allowPartialManifests") {
      return Status(StatusCode::kNotImplemented,
                    "the $export parameter '" + k + "' is not supported");
    } else {
      return InvalidArgument("unknown $export parameter '" + k +
                             "' (supported: _type, _since, _typeFilter, _outputFormat)");
    }
  }
  // The types: those asked for, else every type the level covers that the token may export.
  std::vector<std::string> candidates;
  if (level == ExportLevel::kSystem) {
    candidates = model.resource_types();
  } else {
    candidates = model.PatientCompartmentTypes();
  }
  if (!types.empty()) {
    for (const auto& t : types) {
      if (std::find(candidates.begin(), candidates.end(), t) == candidates.end()) {
        return InvalidArgument("_type: " + t +
                               " is not in the Patient compartment; Patient and Group exports "
                               "cover the compartment's types only");
      }
      if (!MayExport(guard, t)) return NotExportable(t);
    }
    r.types = std::move(types);
  } else {
    for (const auto& t : candidates) {
      if (MayExport(guard, t)) r.types.push_back(t);
    }
    if (r.types.empty()) {
      return Status(StatusCode::kPermissionDenied,
                    "the access token's scopes allow no bulk export: it needs system/ read "
                    "scopes (system/*.rs, system/*.read or per type)");
    }
  }
  for (const auto& f : filters) {
    std::size_t q = f.find('?');
    std::string type = f.substr(0, q);
    if (q == std::string::npos || !model.IsResourceType(type)) {
      return InvalidArgument("_typeFilter must be TYPE?CRITERIA, e.g. Observation?code=...");
    }
    if (std::find(r.types.begin(), r.types.end(), type) == r.types.end()) {
      return InvalidArgument("_typeFilter names " + type + ", which this export does not cover");
    }
    for (const auto& [t, existing] : r.type_filters) {
      if (t == type) {
        return Status(StatusCode::kNotImplemented,
                      "more than one _typeFilter for " + type +
                          " is not supported yet; run one export per filter");
      }
    }
    std::string query = f.substr(q + 1);
    SUND_RETURN_IF_ERROR(ParseTypeFilter(type, query).status());
    r.type_filters.emplace_back(type, std::move(query));
  }
  if (level == ExportLevel::kGroup) {
    if (!fhir::IsValidId(group_id)) return InvalidArgument("invalid Group id");
    if (!guard.SystemGrants("Group", auth::kRead)) return NotExportable("Group");
    auto g = store.Read("Group", group_id);
    if (!g.ok() || g->deleted) return NotFound("Group/" + std::string(group_id) + " is not known");
  }
  std::string_view path = req.path;
  if (path.starts_with("/fhir")) path.remove_prefix(5);
  r.request_url =
      std::string(base) + std::string(path) + (req.query.empty() ? "" : "?" + req.query);
  return r;
}

}  // namespace

http::Response BulkExport::KickOff(const http::Request& req, ExportLevel level,
                                   std::string_view group_id, std::string_view base,
                                   const AccessGuard& guard) {
  if (req.method != "GET" && req.method != "POST") {
    return OperationOutcomeResponse(
        Status(StatusCode::kMethodNotAllowed, "$export is GET or POST"));
  }
  if (!http::ContainsIgnoreCase(req.headers.Get("Prefer"), "respond-async")) {
    return OperationOutcomeResponse(InvalidArgument(
        "$export is asynchronous: send Prefer: respond-async (Bulk Data IG, kick-off request)"));
  }
  auto request = ParseKickOff(req, level, group_id, base, guard, *impl_->options.store);
  if (!request.ok()) return OperationOutcomeResponse(request.status());
  ExportCaller caller;
  caller.owner = OwnerOf(guard);
  caller.requires_token = guard.access() != nullptr;
  if (const ConsentScope* scope = guard.consent(); scope != nullptr) {
    caller.consent = scope->request();
  }
  auto id = Start(std::move(request).value(), std::move(caller));
  if (!id.ok()) return OperationOutcomeResponse(id.status());
  http::Response r = Outcome(202, "information", "informational",
                             "the export has started; poll the Content-Location for its status");
  r.headers.Set("Content-Location", std::string(base) + "/$export-status/" + *id);
  return r;
}

http::Response BulkExport::StatusRequest(const http::Request& req, std::string_view id,
                                         std::string_view base, const AccessGuard& guard) {
  std::string owner = OwnerOf(guard);
  if (req.method == "DELETE") {
    if (Status s = Delete(id, owner); !s.ok()) return OperationOutcomeResponse(s);
    return Outcome(202, "information", "informational", "the export was cancelled or deleted");
  }
  if (req.method != "GET") {
    return OperationOutcomeResponse(
        Status(StatusCode::kMethodNotAllowed, "GET the export's status or DELETE it"));
  }
  auto st = Poll(id, owner);
  if (!st.ok()) return OperationOutcomeResponse(st.status());
  for (const auto& t : st->types) {
    if (!MayExport(guard, t)) return OperationOutcomeResponse(NotExportable(t));
  }
  if (st->state == ExportState::kFailed) {
    return Outcome(500, "fatal", "exception", "the export failed: " + st->error.message());
  }
  http::Response r;
  if (st->state != ExportState::kCompleted) {
    r.status = 202;
    r.headers.Set("X-Progress", st->progress);
    r.headers.Set("Retry-After", "2");
    return r;
  }
  std::string m = "{\"transactionTime\":" + Quoted(FormatInstant(st->transaction_time_us)) +
                  ",\"request\":" + Quoted(st->request_url) +
                  ",\"requiresAccessToken\":" + (st->requires_token ? "true" : "false") +
                  ",\"output\":[";
  bool first = true;
  for (const auto& f : st->output) {
    m += first ? "" : ",";
    first = false;
    m += "{\"type\":" + Quoted(f.type) + ",\"url\":" +
         Quoted(std::string(base) + "/$export-file/" + std::string(id) + "/" + f.name) +
         ",\"count\":" + std::to_string(f.count) + "}";
  }
  m += "],\"error\":[]}";
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(m);
  return r;
}

http::Response BulkExport::Download(const http::Request& req, std::string_view id,
                                    std::string_view name, const AccessGuard& guard) {
  if (req.method != "GET") {
    return OperationOutcomeResponse(
        Status(StatusCode::kMethodNotAllowed, "export files are GET only"));
  }
  auto st = Poll(id, OwnerOf(guard));
  if (!st.ok()) return OperationOutcomeResponse(st.status());
  if (st->state != ExportState::kCompleted) {
    return OperationOutcomeResponse(NotFound("the export has no files yet"));
  }
  const ExportOutputFile* file = nullptr;
  for (const auto& f : st->output) {
    if (f.name == name) file = &f;
  }
  if (file == nullptr || !SafeName(name))
    return OperationOutcomeResponse(NotFound("no such export file"));
  if (!MayExport(guard, file->type)) return OperationOutcomeResponse(NotExportable(file->type));
  auto content = ReadWholeFile(impl_->DirOf(id) / std::string(name));
  if (!content.ok()) {
    log::Error("bulk export {}: an output file cannot be read", id);
    return OperationOutcomeResponse(Internal("the export file cannot be read"));
  }
  if (RequestTrail* t = guard.trail()) AddPatientsOfFile(file->type, *content, *t);
  http::Response r;
  r.headers.Set("Content-Type", std::string(kNdjson));
  r.body = std::move(content).value();
  return r;
}

}  // namespace sund::api
