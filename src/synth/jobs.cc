#include "synth/jobs.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "audit/log.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "core/time.h"
#include "synth/cohort.h"
#include "synth/fhir_out.h"
#include "synth/model.h"

namespace sund::synth {
namespace {

namespace fs = std::filesystem;

// The catalogue (JobService::Endpoints): the kick-off by its exact path, then the job routes
// below kJobs, which Handle parses (a job's id, then nothing or /files/NAME).
constexpr http::Endpoint kEndpoints[] = {
    {"POST", "/fhir/$synthesize", "synth"},
    {"GET", "/synth/v1/jobs/{id}", "synth"},
    {"DELETE", "/synth/v1/jobs/{id}", "synth"},
    {"GET", "/synth/v1/jobs/{id}/files/{name}", "synth"},
};
constexpr std::string_view kKickOff = kEndpoints[0].path;
constexpr std::string_view kJobs = "/synth/v1/jobs/";

enum class State { kQueued, kRunning, kDone, kFailed };

struct Job {
  std::string id, owner, origin;
  CohortSpec spec;
  double epsilon = 1, delta = 1e-6;
  std::uint64_t rows = 1000;
  bool fhir = false;
  std::string request;  // the kick-off request's URL, for the manifest
  // Shared with the worker.
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  State state = State::kQueued;
  std::string stage = "queued";
  double progress = 0;
  Status error;
  std::string manifest;
};

std::string Str(std::string_view s) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(b.GetString(), b.GetSize());
}

std::string Origin(const http::Request& req) {
  std::string host(req.headers.Get("Host"));
  if (host.empty()) host = "localhost";
  return (req.secure ? "https://" : "http://") + host;
}

// A file name the job wrote: letters, digits, '-', '_' and one '.'; never a path.
bool SafeName(std::string_view n) {
  if (n.empty() || n.size() > 64 || n.front() == '.') return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return n.find("..") == std::string_view::npos;
}

}  // namespace

struct JobService::Impl {
  JobServiceOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::shared_ptr<Job>> jobs;
  std::deque<std::shared_ptr<Job>> queue;
  bool busy = false, stopping = false;
  std::thread worker;

  http::Response Error(const Status& s) { return options.error_response(s); }

  std::int64_t NowMs() const {
    if (options.now_ms) return options.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  http::Response KickOff(const http::Request& req, const std::string& owner, std::string& started);
  // Cancels the job (a running job stops at its next step) and deletes it with its files.
  void Delete(const std::shared_ptr<Job>& job);
  // Delete by id; nothing when the job is already gone.
  void Delete(const std::string& id);
  audit::Record AuditRecord(const http::Request& req, int outcome);
  http::Response Poll(const std::shared_ptr<Job>& job);
  http::Response File(const std::shared_ptr<Job>& job, std::string_view name);
  void Work();
  void Run(Job& job);
  void Set(Job& job, std::string stage, double progress) {
    std::lock_guard<std::mutex> lock(job.mu);
    job.stage = std::move(stage);
    job.progress = progress;
  }
};

http::Response JobService::Impl::KickOff(const http::Request& req, const std::string& owner,
                                         std::string& started) {
  if (req.method != "POST") {
    return Error(sund::Status(StatusCode::kMethodNotAllowed, "$synthesize is POST only"));
  }
  if (req.headers.Get("Prefer").find("respond-async") == std::string_view::npos) {
    return Error(InvalidArgument("$synthesize is asynchronous: send Prefer: respond-async"));
  }
  rapidjson::Document doc;
  json::ParseBounded(doc, req.body);
  if (doc.HasParseError() || json::GetString(doc, "resourceType") != "Parameters") {
    return Error(InvalidArgument("$synthesize takes a Parameters resource (JSON)"));
  }
  auto job = std::make_shared<Job>();
  std::string cohort;
  std::string format = "text/csv";
  if (const auto* params = json::Find(doc, "parameter"); params != nullptr && params->IsArray()) {
    for (const auto& p : params->GetArray()) {
      std::string_view name = json::GetString(p, "name");
      auto number = [&](const char* key, double& out) -> sund::Status {
        const auto* v = json::Find(p, key);
        if (v == nullptr || !v->IsNumber()) {
          return InvalidArgument("parameter '" + std::string(name) + "' needs " + key);
        }
        out = v->GetDouble();
        return sund::Status::Ok();
      };
      sund::Status st;
      if (name == "cohort") {
        cohort = std::string(json::GetString(p, "valueString"));
      } else if (name == "epsilon") {
        st = number("valueDecimal", job->epsilon);
      } else if (name == "delta") {
        st = number("valueDecimal", job->delta);
      } else if (name == "rows") {
        double r = 0;
        st = number("valueInteger", r);
        if (st.ok() && !(r >= 1 && r <= static_cast<double>(options.max_rows))) {
          st = InvalidArgument("rows must be 1.." + std::to_string(options.max_rows));
        }
        // valueInteger is a whole number; 2.5 rows is a mistake to report, not to round.
        if (st.ok() && r != std::floor(r)) st = InvalidArgument("rows must be a whole number");
        if (st.ok()) job->rows = static_cast<std::uint64_t>(r);
      } else if (name == "_outputFormat") {
        format = std::string(json::GetString(p, "valueString"));
      } else {
        st = InvalidArgument("unknown parameter '" + std::string(name) + "'");
      }
      if (!st.ok()) return Error(st);
    }
  }
  if (!(job->epsilon > 0 && job->epsilon <= 100)) {
    return Error(InvalidArgument("epsilon must be above 0 (and at most 100)"));
  }
  if (!(job->delta > 0 && job->delta < 1)) {
    return Error(InvalidArgument("delta must be between 0 and 1"));
  }
  if (format == "application/fhir+json" || format == "fhir") {
    job->fhir = true;
  } else if (format != "text/csv" && format != "csv") {
    return Error(InvalidArgument("_outputFormat must be text/csv or application/fhir+json"));
  }
  if (cohort.empty()) return Error(InvalidArgument("parameter 'cohort' (valueString) is required"));
  auto spec = ParseCohortSpec(cohort);
  if (!spec.ok()) return Error(spec.status());
  job->spec = std::move(*spec);
  job->id = crypto::RandomToken(16);
  job->owner = owner;
  job->origin = Origin(req);
  job->request = job->origin + std::string(kKickOff);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return Error(sund::Status(StatusCode::kUnavailable, "shutting down"));
    // Checked and inserted under one lock, so that concurrent kick-offs cannot both pass.
    if (options.max_jobs_per_caller > 0) {
      std::size_t live = 0;
      for (const auto& [id, other] : jobs) {
        if (other->owner != owner) continue;
        std::lock_guard<std::mutex> job_lock(other->mu);
        if (other->state == State::kQueued || other->state == State::kRunning) ++live;
      }
      if (live >= options.max_jobs_per_caller) {
        std::string most = std::to_string(options.max_jobs_per_caller);
        return Error(Conflict("this caller already has " + most +
                              " synthesis jobs queued or running (too many): wait for one to "
                              "finish or DELETE it"));
      }
    }
    jobs[job->id] = job;
    queue.push_back(job);
  }
  cv.notify_all();
  started = job->id;
  http::Response r;
  r.status = 202;
  r.headers.Set("Content-Location", job->origin + std::string(kJobs) + job->id);
  return r;
}

http::Response JobService::Impl::Poll(const std::shared_ptr<Job>& job) {
  std::lock_guard<std::mutex> lock(job->mu);
  if (job->state == State::kFailed) return Error(job->error);
  http::Response r;
  if (job->state != State::kDone) {
    r.status = 202;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s %.0f%%", job->stage.c_str(), 100 * job->progress);
    r.headers.Set("X-Progress", buf);
    r.headers.Set("Retry-After", "2");
    return r;
  }
  r.headers.Set("Content-Type", "application/json");
  r.headers.Set("Expires", FormatHttpDate((NowMs() + 24LL * 3600 * 1000) * 1000));
  r.body = job->manifest;
  return r;
}

http::Response JobService::Impl::File(const std::shared_ptr<Job>& job, std::string_view name) {
  {
    std::lock_guard<std::mutex> lock(job->mu);
    if (job->state != State::kDone) return Error(NotFound("the job has no results yet"));
  }
  if (!SafeName(name)) return Error(NotFound("no such file"));
  fs::path path = fs::path(options.dir) / job->id / std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(NotFound("no such file"));
  http::Response r;
  r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  r.headers.Set("Content-Type", name.ends_with(".csv")           ? "text/csv"
                                : name.starts_with("synthetic-") ? "application/fhir+json"
                                                                 : "application/json");
  return r;
}

void JobService::Impl::Delete(const std::shared_ptr<Job>& job) {
  job->cancelled = true;
  {
    std::lock_guard<std::mutex> lock(mu);
    jobs.erase(job->id);
    std::erase(queue, job);
  }
  bool running;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    running = job->state == State::kRunning;
  }
  if (!running) {
    std::error_code ec;
    fs::remove_all(fs::path(options.dir) / job->id, ec);
  }
}

void JobService::Impl::Delete(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = jobs.find(id);
    if (it == jobs.end()) return;
    job = it->second;
  }
  Delete(job);
}

audit::Record JobService::Impl::AuditRecord(const http::Request& req, int outcome) {
  audit::Record rec;
  rec.time_us = NowMs() * 1000;
  if (options.identify) rec.actor = options.identify(req);
  rec.actor.role = "researcher";
  rec.action = audit::Action::kOperation;
  rec.outcome = outcome;
  rec.query = "$synthesize";
  rec.purpose = "HRESCH";
  rec.source = req.remote_address;
  return rec;
}

void JobService::Impl::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      job = queue.front();
      queue.pop_front();
      busy = true;
    }
    if (!job->cancelled) Run(*job);
    {
      std::lock_guard<std::mutex> lock(mu);
      busy = false;
    }
    cv.notify_all();
  }
}

void JobService::Impl::Run(Job& job) {
  {
    std::lock_guard<std::mutex> lock(job.mu);
    job.state = State::kRunning;
  }
  fs::path dir = fs::path(options.dir) / job.id;
  auto fail = [&](sund::Status s) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    std::lock_guard<std::mutex> lock(job.mu);
    job.state = State::kFailed;
    job.error = std::move(s);
  };
  auto cancelled = [&job] { return job.cancelled.load(); };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Internal("cannot create the job's folder"));

  Set(job, "extracting", 0);
  auto source = StoreSource(*options.store);
  ExtractOptions eo;
  eo.now_ms = NowMs();
  auto table = ExtractCohort(*source, job.spec, eo);
  if (!table.ok()) return fail(table.status());
  if (table->table.rows.empty()) {
    return fail(sund::Status(StatusCode::kUnprocessable,
                             "the cohort is empty: no patient passed the research consent and the "
                             "population filter"));
  }
  if (cancelled()) return fail(sund::Status(StatusCode::kUnavailable, "cancelled"));

  Set(job, "fitting", 0.2);
  FitOptions fo;
  fo.epsilon = job.epsilon;
  fo.delta = job.delta;
  fo.progress = [&](std::string_view, double f) { Set(job, "fitting", 0.2 + 0.6 * f); };
  auto model = Fit(table->table, table->schema, fo);
  if (!model.ok()) return fail(model.status());
  model->cohort = CohortSpecToJson(table->spec);
  {
    std::ofstream out(dir / "model.json", std::ios::binary);
    out << ModelToJson(*model);
    if (!out) return fail(Internal("cannot write the model (disk full?)"));
  }
  if (cancelled()) return fail(sund::Status(StatusCode::kUnavailable, "cancelled"));

  Set(job, "generating", 0.8);
  std::uint64_t seed = 0;
  for (char c : crypto::RandomBytes(8)) seed = seed << 8 | static_cast<unsigned char>(c);
  auto progress = [&](std::uint64_t done) {
    Set(job, "generating", 0.8 + 0.2 * static_cast<double>(done) / job.rows);
  };
  std::vector<std::string> files;
  if (job.fhir) {
    auto s = WriteSyntheticPatients(*model, job.rows, seed, (dir / "fhir").string(), progress,
                                    cancelled);
    if (!s.ok()) return fail(s.status());
    // Flatten: the Bundles beside the model, as the manifest lists them.
    for (std::size_t i = 1; i <= s->files; ++i) {
      char name[40];
      std::snprintf(name, sizeof name, "synthetic-%06zu.json", i);
      fs::rename(dir / "fhir" / name, dir / name, ec);
      if (ec) return fail(Internal("cannot move a result file"));
      files.emplace_back(name);
    }
    fs::remove_all(dir / "fhir", ec);
  } else {
    auto st = WriteSyntheticCsv(*model, job.rows, seed, (dir / "synthetic.csv").string(), progress,
                                cancelled);
    if (!st.ok()) return fail(st);
    files.emplace_back("synthetic.csv");
  }

  if (cancelled()) return fail(sund::Status(StatusCode::kUnavailable, "cancelled"));
  const auto& st = table->stats;
  std::string base = job.origin + std::string(kJobs) + job.id + "/files/";
  std::string m = "{\"transactionTime\":" + Str(FormatInstant(NowMs() * 1000)) +
                  ",\"request\":" + Str(job.request) + ",\"requiresAccessToken\":true,\"output\":[";
  m += "{\"type\":\"model\",\"url\":" + Str(base + "model.json") + "}";
  for (const auto& f : files) {
    m += ",{\"type\":" + Str(job.fhir ? "Bundle" : "synthetic") + ",\"url\":" + Str(base + f) + "}";
  }
  char privacy[256];
  std::snprintf(privacy, sizeof privacy,
                "],\"privacy\":{\"differentially_private\":true,\"epsilon\":%.17g,\"delta\":%.17g,"
                "\"rho_spent\":%.17g},",
                job.epsilon, job.delta, model->privacy.rho_spent);
  m += privacy;
  m += "\"extraction\":{\"patients_seen\":" + std::to_string(st.patients_seen) +
       ",\"excluded_by_consent\":" + std::to_string(st.excluded_by_consent) +
       ",\"excluded_by_population\":" + std::to_string(st.excluded_by_population) +
       ",\"extracted\":" + std::to_string(st.extracted) + "},\"rows\":" + std::to_string(job.rows) +
       ",\"error\":[]}";
  std::lock_guard<std::mutex> lock(job.mu);
  job.manifest = std::move(m);
  job.progress = 1;
  job.stage = "done";
  job.state = State::kDone;
}

JobService::JobService(JobServiceOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->worker = std::thread([this] { impl_->Work(); });
}

JobService::~JobService() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    for (auto& [id, job] : impl_->jobs) job->cancelled = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

std::span<const http::Endpoint> JobService::Endpoints() { return kEndpoints; }

bool JobService::Handles(std::string_view path) {
  return path == kKickOff || path.starts_with(kJobs);
}

http::Response JobService::Handle(const http::Request& req) {
  std::string started;
  http::Response resp = Route(req, started);
  if (impl_->options.audit == nullptr || req.method != "POST") return resp;
  // Who asked for a research synthesis, and whether it started (the cohort is in the job).
  auto step = audit::AppendStep(*impl_->options.audit, impl_->AuditRecord(req, resp.status));
  if (started.empty()) {
    resp.before_send = std::move(step);
    return resp;
  }
  // The caller is told 503 when the record cannot be written: the job must not run unrecorded.
  resp.before_send = [impl = impl_.get(), step = std::move(step),
                      started](std::function<void(bool)> done) {
    step([impl, started, done = std::move(done)](bool ok) {
      if (!ok) impl->Delete(started);
      done(ok);
    });
  };
  return resp;
}

http::Response JobService::Route(const http::Request& req, std::string& started) {
  auto owner = impl_->options.authorize ? impl_->options.authorize(req)
                                        : Result<std::string>(std::string("anonymous"));
  if (!owner.ok()) return impl_->Error(owner.status());
  if (req.path == kKickOff) return impl_->KickOff(req, *owner, started);
  std::string_view rest = std::string_view(req.path).substr(kJobs.size());
  std::string_view id = rest.substr(0, rest.find('/'));
  std::string_view tail = rest.substr(id.size());
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->jobs.find(std::string(id));
    // Another caller's job does not exist for this one.
    if (it != impl_->jobs.end() && it->second->owner == *owner) job = it->second;
  }
  if (job == nullptr) return impl_->Error(NotFound("no such synthesis job"));
  if (tail.empty()) {
    if (req.method == "GET") return impl_->Poll(job);
    if (req.method == "DELETE") {
      impl_->Delete(job);
      http::Response r;
      r.status = 202;
      return r;
    }
    return impl_->Error(sund::Status(StatusCode::kMethodNotAllowed, "GET or DELETE a job"));
  }
  if (tail.starts_with("/files/") && req.method == "GET") {
    return impl_->File(job, tail.substr(7));
  }
  return impl_->Error(NotFound("no such path"));
}

void JobService::WaitIdle() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->queue.empty() && !impl_->busy; });
}

}  // namespace sund::synth
