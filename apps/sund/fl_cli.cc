#include "fl_cli.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cohort_input.h"
#include "core/csv.h"
#include "core/file_reader.h"
#include "core/json.h"
#include "core/status.h"
#include "fl/certs.h"
#include "fl/dataset.h"
#include "fl/learner.h"
#include "fl/models.h"
#include "fl/report.h"
#include "fl/rounds.h"
#include "fl/stats.h"
#include "fl/task.h"
#include "fl/transport.h"
#include "synth/schema.h"

extern char** environ;

namespace {

[[noreturn]] void Fail(const sund::Status& s) {
  std::fprintf(stderr, "sund fl: %s\n", s.ToString().c_str());
  throw CLI::RuntimeError(1);
}

template <typename T>
T OrFail(sund::Result<T> r) {
  if (!r.ok()) Fail(r.status());
  return std::move(*r);
}

namespace fs = std::filesystem;
namespace fl = sund::fl;

void WriteText(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) Fail(sund::Internal("cannot write " + path.string()));
}

void Number(std::string& out, double v) {
  char buf[32];
  if (std::isfinite(v)) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += buf;
  } else {
    out += "null";
  }
}

std::string Quoted(std::string_view text) {
  return sund::json::Serialize(rapidjson::Value(
      rapidjson::StringRef(text.data(), static_cast<rapidjson::SizeType>(text.size()))));
}

// One line of rounds.jsonl.
std::string RoundJson(const fl::RoundLog& l) {
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"round\":%u,\"selected\":%zu,\"contributed\":%zu,\"dropped\":%zu,"
                "\"seconds\":%.4f,\"bytes_to_nodes\":%llu,\"bytes_from_nodes\":%llu,"
                "\"epsilon\":%.6g,\"update_norm\":%.6g,\"loss\":",
                l.round, l.selected, l.contributed, l.dropped, l.seconds,
                static_cast<unsigned long long>(l.bytes_to_nodes),
                static_cast<unsigned long long>(l.bytes_from_nodes), l.epsilon, l.update_norm);
  std::string out = line;
  Number(out, l.loss.value_or(NAN));
  out += ",\"accuracy\":";
  Number(out, l.accuracy.value_or(NAN));
  return out + "}";
}

// The parameters' names: the design columns (after the intercept of a logistic model); none for
// an MLP's weights.
std::vector<std::string> ParamNames(const fl::Task& task, const fl::Encoding& encoding,
                                    std::size_t count) {
  std::vector<std::string> names;
  if (task.model.type == fl::ModelType::kMlp) return names;
  if (task.model.type == fl::ModelType::kLogistic) names.push_back("(intercept)");
  for (auto& c : encoding.ColumnNames()) names.push_back(std::move(c));
  if (names.size() != count) names.clear();
  return names;
}

// The nodes' metrics averaged with their rows as weights. Loss and accuracy pool that way;
// AUC and Harrell's C do not (the pooled value needs the rows), so they are named
// "<m>_weighted_mean".
fl::Metrics OverallMetrics(const std::vector<fl::NodeReport>& nodes) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, double>> sums;  // name -> (weighted sum, weight)
  for (const auto& n : nodes) {
    for (const auto& [name, value] : n.metrics) {
      if (!std::isfinite(value)) continue;
      if (!sums.count(name)) order.push_back(name);
      sums[name].first += static_cast<double>(n.rows) * value;
      sums[name].second += static_cast<double>(n.rows);
    }
  }
  fl::Metrics out;
  for (const auto& name : order) {
    auto [sum, weight] = sums[name];
    if (!(weight > 0)) continue;
    bool pools = name == "loss" || name == "accuracy";
    out.emplace_back(pools ? name : name + "_weighted_mean", sum / weight);
  }
  return out;
}

// model.json: the task, the encoding, the parameters (also by name where they have names), how
// it stopped, and the final model's metrics per node and overall.
std::string ModelJson(const fl::Task& task, const std::string& encoding_json,
                      const std::vector<std::string>& names, const fl::CoordinatorResult& r,
                      const fl::Metrics& overall) {
  std::string out = "{\"task\":" + fl::TaskToJson(task) + ",\"encoding\":" + encoding_json +
                    ",\"params\":" + fl::ParamsJson(r.params);
  if (!names.empty()) {
    out += ",\"coefficients\":{";
    for (std::size_t i = 0; i < names.size(); ++i) {
      out += (i ? "," : "") + Quoted(names[i]) + ":";
      Number(out, r.params[i]);
    }
    out += '}';
  }
  out += ",\"rounds\":" + std::to_string(r.rounds) +
         ",\"stopped_because\":" + Quoted(r.stopped_because) + ",\"epsilon\":";
  Number(out, r.epsilon);
  out += ",\"nodes\":[";
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    out += (i ? "," : "") + std::string("{\"node\":") + Quoted(r.nodes[i].node) +
           ",\"rows\":" + std::to_string(r.nodes[i].rows) + ",\"metrics\":";
    out += fl::MetricsJson(r.nodes[i].metrics) + "}";
  }
  return out + "],\"overall\":" + fl::MetricsJson(overall) + "}\n";
}

// --- coordinator -------------------------------------------------------------------------

struct CoordinatorFlags {
  std::string task, listen = "127.0.0.1:7070", certs, encoding, out;
  std::vector<std::string> allow;
  int join_timeout_s = 600;
  bool log_params = false;
};

void RunCoordinatorCommand(const CoordinatorFlags& f) {
  fl::Task task = OrFail(fl::ReadTaskFile(f.task));
  fl::Encoding encoding = OrFail(fl::ParseEncoding(OrFail(sund::ReadFileDecompressed(f.encoding))));
  std::string encoding_json = fl::EncodingToJson(encoding);
  auto model = OrFail(fl::TaskModel(task, encoding));
  std::string fingerprint = fl::SchemaFingerprint(encoding);
  fl::CoordinatorServerOptions so;
  so.listen = f.listen;
  so.certs_dir = f.certs;
  so.allow = {f.allow.begin(), f.allow.end()};
  so.task_id = task.id;
  so.task_json = fl::TaskEnvelopeJson(task, encoding_json);
  so.admit = [&](const fl::Member& m) -> sund::Status {
    if (m.fingerprint != fingerprint) {
      return sund::InvalidArgument(
          "the node's feature schema differs from the task's (another encoding or version)");
    }
    if (m.samples < static_cast<std::uint64_t>(task.min_samples)) {
      return sund::InvalidArgument("fewer rows than the task's min_samples (" +
                                   std::to_string(task.min_samples) + ")");
    }
    return sund::Status::Ok();
  };
  auto server = OrFail(fl::CoordinatorServer::Start(so));
  std::string host = f.listen.substr(0, f.listen.rfind(':'));
  std::printf("sund fl coordinator listening on %s:%d\n", host.c_str(), server->port());
  std::fflush(stdout);
  std::error_code ec;
  fs::create_directories(f.out, ec);
  std::ofstream log(fs::path(f.out) / "rounds.jsonl", std::ios::app);
  fl::CoordinatorRun run;
  run.task = task;
  run.initial = model->Get();
  run.checkpoint = (fs::path(f.out) / "checkpoint.json").string();
  run.join_timeout = std::chrono::seconds(f.join_timeout_s);
  run.expected = so.allow.size();
  std::vector<fl::RoundLog> rounds;
  run.on_round = [&](const fl::RoundLog& l, const fl::Params& params) {
    rounds.push_back(l);
    std::string line = RoundJson(l);
    if (f.log_params) line.insert(line.size() - 1, ",\"params\":" + fl::ParamsJson(params));
    log << line << "\n";
    log.flush();
    std::fprintf(stderr, "round %u: %zu of %zu nodes, %.2f s", l.round, l.contributed, l.selected,
                 l.seconds);
    if (l.loss) std::fprintf(stderr, ", loss %.4f", *l.loss);
    if (l.epsilon > 0) std::fprintf(stderr, ", epsilon %.3f", l.epsilon);
    std::fprintf(stderr, "\n");
  };
  fl::CoordinatorResult result = OrFail(fl::RunCoordinator(*server, run));
  std::vector<std::string> names = ParamNames(task, encoding, result.params.size());
  fl::Metrics overall = OverallMetrics(result.nodes);
  WriteText(fs::path(f.out) / "model.json", ModelJson(task, encoding_json, names, result, overall));
  fl::ReportInput report;
  report.task_id = task.id;
  report.model = std::string(fl::ModelTypeName(task.model.type));
  report.strategy = std::string(fl::StrategyNameText(task.strategy.name));
  report.secure_aggregation = task.secure_aggregation;
  if (task.privacy) report.epsilon_budget = task.privacy->epsilon;
  report.stopped_because = result.stopped_because;
  report.rounds = std::move(rounds);
  report.nodes = result.nodes;
  report.overall = overall;
  report.param_names = names;
  report.params = result.params;
  WriteText(fs::path(f.out) / "report.html", fl::FlReportHtml(report));
  // Give the nodes a moment to fetch the final model before the server stops.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("trained %u rounds (%s) -> %s/model.json, %s/report.html\n", result.rounds,
              result.stopped_because.c_str(), f.out.c_str(), f.out.c_str());
}

// --- node ----------------------------------------------------------------------------------

// A node's rows: a CSV file, or a research cohort from a FHIR store (consented patients only).
struct TableFlags {
  std::string csv;
  CohortSource cohort;
};

void AddTableOptions(CLI::App* c, TableFlags& t) {
  c->add_option("--csv", t.csv, "the local table (CSV)");
  c->add_option("--data", t.cohort.data,
                "a data directory: its FHIR store's research cohort (with --cohort)");
  c->add_option("--url", t.cohort.url, "a running server's FHIR base (with --cohort)");
  c->add_option("--token", t.cohort.token, "with --url: a bearer token that may read the cohort");
  c->add_option("--cohort", t.cohort.cohort,
                "the cohort spec (JSON or YAML, docs/synth.md): patients whose consent permits "
                "research, and the feature columns");
}

sund::CsvTable LoadTable(const TableFlags& t, const StoreOpener& open_store) {
  if (!t.csv.empty()) {
    if (!t.cohort.data.empty() || !t.cohort.url.empty() || !t.cohort.cohort.empty()) {
      Fail(sund::InvalidArgument("give --csv or --data/--url with --cohort, not both"));
    }
    return OrFail(sund::synth::ReadCsvFile(t.csv));
  }
  if (t.cohort.data.empty() && t.cohort.url.empty()) {
    Fail(sund::InvalidArgument("give the local rows: --csv FILE, or --data/--url with --cohort"));
  }
  return OrFail(LoadCohortTable(t.cohort, open_store)).table;
}

struct NodeFlags {
  std::string coordinator, certs, name;
  TableFlags table;
  std::uint64_t seed = 1;
};

void RunStatsNodeCommand(const NodeFlags& f, fl::NodeClient& client,
                         const fl::StatsRequest& request, const sund::CsvTable& table) {
  fl::NodeRun run;
  run.task_id = request.id;
  run.seed = f.seed;
  std::string released = OrFail(fl::RunStatsNode(client, table, request, run));
  std::printf("node %s: %zu rows; the statistics '%s' are released:\n%s\n", f.name.c_str(),
              table.rows.size(), request.id.c_str(), released.c_str());
}

void RunNodeCommand(const NodeFlags& f, const StoreOpener& open_store) {
  // The local rows first: a mistake there is the operator's to fix before any connection.
  sund::CsvTable local = LoadTable(f.table, open_store);
  fl::NodeClientOptions o;
  o.coordinator = f.coordinator;
  o.certs_dir = f.certs;
  o.name = f.name;
  // The task and its encoding first: the node's data set depends on them. The coordinator may
  // still be starting: retry for a minute, each time on a fresh channel (a channel that failed
  // to connect waits out gRPC's reconnect backoff, which made a node started a moment before
  // its coordinator lose 15 s).
  std::unique_ptr<fl::NodeClient> client;
  sund::Result<std::string> described = sund::Status(sund::StatusCode::kUnavailable, "");
  for (int i = 0; i < 120; ++i) {
    client = OrFail(fl::NodeClient::Connect(o));
    described = client->Describe();
    if (described.ok() || described.status().code() != sund::StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::string envelope = OrFail(std::move(described));
  if (auto stats = OrFail(fl::ParseStatsEnvelope(envelope))) {
    RunStatsNodeCommand(f, *client, *stats, local);
    return;
  }
  fl::TaskEnvelope env = OrFail(fl::ParseTaskEnvelope(envelope));
  if (env.encoding.empty()) Fail(sund::InvalidArgument("the coordinator sent no feature encoding"));
  fl::Encoding encoding = OrFail(fl::ParseEncoding(env.encoding));
  sund::CsvTable table = OrFail(fl::SelectRows(local, env.task.where));
  auto data = fl::BuildDataset(table, encoding);
  if (!data.ok()) {
    Fail(sund::InvalidArgument("this node's data does not fit the task's features: " +
                               data.status().message()));
  }
  std::size_t rows = data->rows;
  auto learner = OrFail(fl::ModelLearner::Create(env.task, std::move(*data), f.seed));
  fl::NodeRun run;
  run.task_id = env.task.id;
  run.fingerprint = fl::SchemaFingerprint(encoding);
  run.seed = f.seed;
  fl::Params final_params = OrFail(fl::RunNode(*client, *learner, run));
  auto model = OrFail(fl::TaskModel(env.task, encoding));
  if (auto st = model->Set(final_params); !st.ok()) Fail(st);
  std::printf("node %s: %zu rows; the task is done", f.name.c_str(), rows);
  if (learner->data().has_binary()) {
    std::printf(", AUC of the final model on this node's rows %.4f",
                fl::Auc(model->Predict(learner->data()), learner->data().y));
  }
  std::printf("\n");
}

// --- simulate ------------------------------------------------------------------------------

struct SimulateFlags {
  std::string csv, task, split = "iid", out;
  int nodes = 3;
  double test_fraction = 0.3;
  std::uint64_t seed = 1;
  bool json = false;
};

pid_t Spawn(const std::vector<std::string>& args, int* stdout_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int fds[2] = {-1, -1};
  if (stdout_fd != nullptr) {
    if (pipe(fds) != 0) Fail(sund::Internal("pipe failed"));
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
  }
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Fail(sund::Internal("cannot start " + args[0]));
  if (stdout_fd != nullptr) {
    close(fds[1]);
    *stdout_fd = fds[0];
  }
  return pid;
}

// An encoded data set as CSV: the design columns, then y (binary) or time and event (survival).
std::string EncodedCsv(const fl::Dataset& d) {
  std::vector<std::string> header = d.columns;
  if (d.has_binary()) header.push_back("y");
  if (d.has_survival()) header.insert(header.end(), {"time", "event"});
  std::string out = sund::CsvRecord(header) + "\n";
  std::string line;
  for (std::size_t r = 0; r < d.rows; ++r) {
    line.clear();
    std::vector<double> cells(d.x.begin() + static_cast<std::ptrdiff_t>(r * d.cols()),
                              d.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * d.cols()));
    if (d.has_binary()) cells.push_back(d.y[r]);
    if (d.has_survival()) cells.insert(cells.end(), {d.time[r], d.event[r]});
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line += ',';
      Number(line, cells[c]);
    }
    out += line + "\n";
  }
  return out;
}

double TestAuc(const fl::Task& task, const fl::Encoding& enc, const fl::Params& params,
               const fl::Dataset& test) {
  auto model = OrFail(fl::TaskModel(task, enc));
  if (auto st = model->Set(params); !st.ok()) Fail(st);
  if (test.has_binary()) return fl::Auc(model->Predict(test), test.y);
  return fl::ConcordanceIndex(model->Predict(test), test.time, test.event);
}

void RunSimulate(const SimulateFlags& f) {
  auto start = std::chrono::steady_clock::now();
  fl::Task task = OrFail(fl::ReadTaskFile(f.task));
  sund::CsvTable table =
      OrFail(fl::SelectRows(OrFail(sund::synth::ReadCsvFile(f.csv)), task.where));
  fl::SplitOptions so;
  if (f.split == "iid") {
    so.mode = fl::SplitMode::kIid;
  } else if (f.split.rfind("label-skew:", 0) == 0) {
    so.mode = fl::SplitMode::kLabelSkew;
    so.alpha = std::atof(f.split.c_str() + 11);
  } else {
    Fail(sund::InvalidArgument("--split is iid or label-skew:ALPHA"));
  }
  // Train and test rows, then the encoding from the training rows only.
  fl::FeatureSpec spec = fl::TaskFeatures(task);
  fl::Encoding provisional = OrFail(fl::FitEncoding(table, spec));
  fl::Dataset all = OrFail(fl::BuildDataset(table, provisional));
  fl::TrainTest tt = fl::SplitTrainTest(all, f.test_fraction, f.seed);
  auto rows_of = [&](const std::vector<std::size_t>& source) {
    sund::CsvTable t{table.header, {}, {}};
    for (std::size_t r : source) {
      t.rows.push_back(table.rows[r]);
      t.lines.push_back(table.lines[r]);
    }
    return t;
  };
  sund::CsvTable train_table = rows_of(tt.train.source);
  fl::Encoding enc = OrFail(fl::FitEncoding(train_table, spec));
  fl::Dataset train = OrFail(fl::BuildDataset(train_table, enc));
  fl::Dataset test = OrFail(fl::BuildDataset(rows_of(tt.test.source), enc));
  // Every node gets at least the task's min_samples rows (a smaller one would be refused).
  so.min_rows = std::max<std::size_t>(so.min_rows, static_cast<std::size_t>(task.min_samples));
  std::vector<fl::Dataset> parts = OrFail(fl::SplitNodes(train, f.nodes, so, f.seed));

  fs::path dir = fs::temp_directory_path() / ("sund-fl-simulate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<std::string> names;
  for (int i = 0; i < f.nodes; ++i) names.push_back("node-" + std::to_string(i + 1));
  fl::CertsOptions co;
  co.dir = (dir / "pki").string();
  co.nodes = names;
  if (auto st = fl::MakePilotCertificates(co); !st.ok()) Fail(st);
  WriteText(dir / "encoding.json", fl::EncodingToJson(enc));
  for (int i = 0; i < f.nodes; ++i) {
    std::string csv = sund::CsvRecord(train_table.header) + "\n";
    for (std::size_t r : parts[static_cast<std::size_t>(i)].source) {
      csv += sund::CsvRecord(train_table.rows[r]) + "\n";
    }
    WriteText(dir / (names[static_cast<std::size_t>(i)] + ".csv"), csv);
  }
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string allow;
  for (const auto& n : names) allow += (allow.empty() ? "" : ",") + n;
  int out_fd = -1;
  pid_t coordinator =
      Spawn({self, "fl", "coordinator", "--task", f.task, "--listen", "127.0.0.1:0", "--certs",
             co.dir, "--allow", allow, "--encoding", (dir / "encoding.json").string(), "--out",
             (dir / "out").string(), "--join-timeout", "60", "--log-params"},
            &out_fd);
  // Its first line names the port.
  std::string first;
  char ch;
  while (read(out_fd, &ch, 1) == 1 && ch != '\n') first += ch;
  auto colon = first.rfind(':');
  if (first.find("listening on") == std::string::npos || colon == std::string::npos) {
    Fail(sund::Internal("the coordinator did not start"));
  }
  std::string address = "127.0.0.1:" + first.substr(colon + 1);
  std::vector<pid_t> nodes;
  for (int i = 0; i < f.nodes; ++i) {
    nodes.push_back(Spawn({self, "fl", "node", "--coordinator", address, "--certs", co.dir,
                           "--name", names[static_cast<std::size_t>(i)], "--csv",
                           (dir / (names[static_cast<std::size_t>(i)] + ".csv")).string(), "--seed",
                           std::to_string(i + 1)},
                          nullptr));
  }
  int failed = 0;
  for (pid_t p : nodes) {
    int status = 0;
    waitpid(p, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  if (failed == f.nodes) kill(coordinator, SIGTERM);  // nobody is left to train with
  int cstatus = 0;
  struct rusage usage {};
  wait4(coordinator, &cstatus, 0, &usage);
  const long coordinator_rss_kb = usage.ru_maxrss;
  close(out_fd);
  if (!(WIFEXITED(cstatus) && WEXITSTATUS(cstatus) == 0)) {
    Fail(sund::Internal("the coordinator failed"));
  }
  // The federated model, the pooled fit and each node alone, all on the same test rows.
  std::string model_text = OrFail(sund::ReadFileDecompressed((dir / "out/model.json").string()));
  rapidjson::Document doc;
  doc.Parse(model_text.c_str());
  fl::Params params;
  for (const auto& v : doc["params"].GetArray()) params.push_back(v.GetDouble());
  double federated = TestAuc(task, enc, params, test);
  fl::FitOptions fo;
  fo.sgd.epochs = task.local.epochs * task.rounds;
  fo.sgd.learning_rate = task.local.learning_rate;
  fo.sgd.batch_size = static_cast<std::size_t>(task.local.batch_size);
  // The reference fit: Newton to convergence where the model has a Hessian; when that is
  // singular (collinear missing indicators in a small table), the same SGD as the nodes run,
  // for as many epochs as the federation ran in all.
  auto fit = [&](const fl::Dataset& d) -> fl::Params {
    auto m = OrFail(fl::TaskModel(task, enc));
    if (fl::FitPooled(*m, d, fo).ok()) return m->Get();
    auto fresh = OrFail(fl::TaskModel(task, enc));
    fl::LocalOptions lo = fo.sgd;
    lo.optimizer = task.local.optimizer == "adam" ? fl::Optimizer::kAdam : fl::Optimizer::kSgd;
    auto u = fl::TrainLocal(*fresh, d, lo);
    return u.ok() ? u->params : fresh->Get();
  };
  fl::Params pooled_params = fit(train);
  double pooled = TestAuc(task, enc, pooled_params, test);
  double max_coef_diff = 0;  // between the federated and the pooled parameters
  for (std::size_t i = 0; i < params.size() && i < pooled_params.size(); ++i) {
    max_coef_diff = std::max(max_coef_diff, std::abs(params[i] - pooled_params[i]));
  }
  double local_sum = 0;
  for (const auto& part : parts) local_sum += TestAuc(task, enc, fit(part), test);
  std::uint64_t bytes = 0;
  int rounds = 0, rounds_to_pooled = -1;
  double round_seconds = 0;
  {
    std::ifstream log(dir / "out/rounds.jsonl");
    std::string line;
    while (std::getline(log, line)) {
      rapidjson::Document r;
      r.Parse(line.c_str());
      if (!r.IsObject()) continue;
      bytes += r["bytes_to_nodes"].GetUint64() + r["bytes_from_nodes"].GetUint64();
      round_seconds += r["seconds"].GetDouble();
      ++rounds;
      // The first round whose global model scores within 0.01 of the pooled fit on the test rows.
      if (rounds_to_pooled < 0 && r.HasMember("params")) {
        fl::Params p;
        for (const auto& v : r["params"].GetArray()) p.push_back(v.GetDouble());
        if (std::abs(TestAuc(task, enc, p, test) - pooled) <= 0.01) rounds_to_pooled = rounds;
      }
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"federated_auc\":%.6f,\"pooled_auc\":%.6f,\"local_auc_mean\":%.6f,\"metric\":\"%s\","
      "\"max_coef_diff\":%.3g,\"rounds\":%d,"
      "\"bytes_per_node\":%llu,\"nodes\":%d,\"split\":\"%s\",\"train_rows\":%zu,"
      "\"test_rows\":%zu,\"secure_aggregation\":%s,\"nodes_failed\":%d,\"seconds\":%.2f,"
      "\"seconds_per_round\":%.4f,\"rounds_to_pooled\":%d,\"coordinator_peak_rss_kb\":%ld}\n",
      federated, pooled, local_sum / static_cast<double>(parts.size()),
      test.has_binary() ? "auc" : "c_index", max_coef_diff, rounds,
      static_cast<unsigned long long>(bytes / static_cast<std::uint64_t>(f.nodes)), f.nodes,
      f.split.c_str(), train.rows, test.rows, task.secure_aggregation ? "true" : "false", failed,
      seconds, rounds > 0 ? round_seconds / rounds : 0.0, rounds_to_pooled, coordinator_rss_kb);
  if (!f.out.empty()) {
    // The coordinator's results, and the encoded rows for an outside reference fit.
    std::error_code ec;
    fs::create_directories(f.out, ec);
    for (const char* name : {"model.json", "rounds.jsonl", "report.html"}) {
      fs::copy_file(dir / "out" / name, fs::path(f.out) / name,
                    fs::copy_options::overwrite_existing, ec);
      if (ec) Fail(sund::Internal("cannot copy " + std::string(name) + " to " + f.out));
    }
    WriteText(fs::path(f.out) / "train.csv", EncodedCsv(train));
    WriteText(fs::path(f.out) / "test.csv", EncodedCsv(test));
  }
  fs::remove_all(dir);
}

struct CertsFlags {
  sund::fl::CertsOptions options;
  bool add = false;
};

void RunCerts(const CertsFlags& f) {
  sund::Status s =
      f.add ? sund::fl::AddNodeCertificates(f.options.dir, f.options.nodes, f.options.days)
            : sund::fl::MakePilotCertificates(f.options);
  if (!s.ok()) Fail(s);
  if (!f.add) {
    std::printf("certificate authority: %s/ca.pem (keep ca.key offline once done)\n",
                f.options.dir.c_str());
    std::printf("coordinator: %s/coordinator.pem and .key\n", f.options.dir.c_str());
  }
  for (const auto& n : f.options.nodes) {
    std::printf("node %s: %s/%s.pem and .key (give them and ca.pem to that site only)\n", n.c_str(),
                f.options.dir.c_str(), n.c_str());
  }
}

// --- sund stats ------------------------------------------------------------------------------

struct StatsFlags {
  std::string query, coordinator, certs, out;
  std::vector<std::string> allow;
  TableFlags table;
  bool plain = false;
  int min_nodes = 3, timeout_s = 60, join_timeout_s = 600;
};

void RunStatsCommand(const StatsFlags& f, const StoreOpener& open_store) {
  std::string query = OrFail(sund::ReadFileDecompressed(f.query));
  fl::StatsRequest request = OrFail(fl::ParseStatsRequest(query));
  std::string result;
  bool local = !f.table.csv.empty() || !f.table.cohort.data.empty() || !f.table.cohort.url.empty();
  if (local == !f.coordinator.empty()) {
    Fail(sund::InvalidArgument(
        "give --coordinator (federated, with --certs and --allow) or a local table (--csv, or "
        "--data/--url with --cohort)"));
  }
  if (local) {
    sund::CsvTable table = LoadTable(f.table, open_store);
    result = fl::ReleaseStats(OrFail(fl::ComputeLocalStats(table, request)), request);
  } else {
    if (f.certs.empty() || f.allow.empty()) {
      Fail(sund::InvalidArgument("--coordinator needs --certs and --allow"));
    }
    fl::StatsRun run;
    run.request = request;
    run.query_json = query;
    run.secure_aggregation = !f.plain;
    run.min_nodes = f.min_nodes;
    run.timeout_s = f.timeout_s;
    run.join_timeout = std::chrono::seconds(f.join_timeout_s);
    run.expected = f.allow.size();
    if (run.min_nodes < 2 || (run.secure_aggregation && run.min_nodes < 3)) {
      Fail(sund::InvalidArgument(
          "--min-nodes: at least 2, and 3 with secure aggregation (one node alone is no "
          "aggregate)"));
    }
    fl::CoordinatorServerOptions so;
    so.listen = f.coordinator;
    so.certs_dir = f.certs;
    so.allow = {f.allow.begin(), f.allow.end()};
    so.task_id = request.id;
    so.task_json = fl::StatsEnvelopeJson(run);
    so.admit = [](const fl::Member&) { return sund::Status::Ok(); };
    auto server = OrFail(fl::CoordinatorServer::Start(so));
    std::string host = f.coordinator.substr(0, f.coordinator.rfind(':'));
    std::printf("sund stats: coordinator listening on %s:%d\n", host.c_str(), server->port());
    std::fflush(stdout);
    fl::StatsResult r = OrFail(fl::RunStatsCoordinator(*server, run));
    std::fprintf(stderr, "sund stats: %zu nodes contributed (%s)\n", r.nodes,
                 run.secure_aggregation ? "secure aggregation" : "plain sums");
    result = std::move(r.json);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the nodes fetch the result
  }
  if (!f.out.empty()) WriteText(f.out, result + "\n");
  std::printf("%s\n", result.c_str());
}

void AddStatsCommand(CLI::App& app, const StoreOpener& open_store) {
  auto f = std::make_shared<StatsFlags>();
  auto* c = app.add_subcommand(
      "stats",
      "federated statistics: counts, means, quantiles, histograms, tables, Kaplan-Meier across "
      "nodes, small cells suppressed");
  c->add_option("--query", f->query, "the query file (JSON, docs/fl.md)")->required();
  c->add_option("--coordinator,--listen", f->coordinator,
                "host:port to coordinate the query on (the nodes run `sund fl node "
                "--coordinator` against it; port 0: any free one)");
  c->add_option("--certs", f->certs, "with --coordinator: ca.pem, coordinator.pem and .key");
  c->add_option("--allow", f->allow, "with --coordinator: the nodes admitted")->delimiter(',');
  c->add_flag("--plain", f->plain,
              "without secure aggregation (the coordinator then sees each node's sums)");
  c->add_option("--min-nodes", f->min_nodes, "nodes needed")->capture_default_str();
  c->add_option("--timeout", f->timeout_s, "seconds a node has to answer a step")
      ->capture_default_str();
  c->add_option("--join-timeout", f->join_timeout_s, "seconds to wait for --min-nodes to join")
      ->capture_default_str();
  c->add_option("--out", f->out, "also write the released figures (JSON) to this file");
  AddTableOptions(c, f->table);
  c->callback([f, open_store] { RunStatsCommand(*f, open_store); });
}

}  // namespace

void AddFlCommands(CLI::App& app, StoreOpener open_store) {
  AddStatsCommand(app, open_store);
  auto* fl = app.add_subcommand("fl", "federated learning: train where the data lives");
  fl->require_subcommand(1);
  auto cf = std::make_shared<CertsFlags>();
  auto* certs = fl->add_subcommand(
      "certs", "make a small certificate authority and certificates for a pilot (mutual TLS)");
  certs->add_option("--out", cf->options.dir, "folder for the certificates and keys")->required();
  certs->add_option("--nodes", cf->options.nodes, "node names (their certificates' names)")
      ->delimiter(',')
      ->required();
  certs
      ->add_option("--host", cf->options.coordinator_hosts,
                   "names and addresses the coordinator is reached by")
      ->capture_default_str();
  certs->add_option("--days", cf->options.days, "validity")->capture_default_str();
  certs->add_flag("--add", cf->add, "add node certificates signed by the authority in --out");
  certs->callback([cf] { RunCerts(*cf); });

  auto kf = std::make_shared<CoordinatorFlags>();
  auto* coord = fl->add_subcommand("coordinator", "run a federated task with the nodes that join");
  coord->add_option("--task", kf->task, "the task file (examples/fl/)")->required();
  coord->add_option("--listen", kf->listen, "host:port (port 0: any free one)")
      ->capture_default_str();
  coord->add_option("--certs", kf->certs, "folder with ca.pem, coordinator.pem, coordinator.key")
      ->required();
  coord->add_option("--allow", kf->allow, "the nodes admitted (their certificate names)")
      ->delimiter(',')
      ->required();
  coord
      ->add_option("--encoding", kf->encoding,
                   "the shared feature encoding (JSON; every node encodes its rows with it)")
      ->required();
  coord->add_option("--out", kf->out, "folder for model.json, rounds.jsonl and the checkpoint")
      ->required();
  coord
      ->add_option("--join-timeout", kf->join_timeout_s,
                   "seconds to wait for min_clients nodes to join")
      ->capture_default_str();
  coord->add_flag("--log-params", kf->log_params,
                  "write each round's global parameters into rounds.jsonl (for learning curves)");
  coord->callback([kf] { RunCoordinatorCommand(*kf); });

  auto nf = std::make_shared<NodeFlags>();
  auto* node = fl->add_subcommand("node", "take part in a federated task with local data");
  node->add_option("--coordinator", nf->coordinator, "host:port")->required();
  node->add_option("--certs", nf->certs, "folder with ca.pem and this node's NAME.pem/.key")
      ->required();
  node->add_option("--name", nf->name, "this node's certificate name")->required();
  AddTableOptions(node, nf->table);
  node->add_option("--seed", nf->seed, "seed of local sampling and DP noise")
      ->capture_default_str();
  node->callback([nf, open_store] { RunNodeCommand(*nf, open_store); });

  auto sf = std::make_shared<SimulateFlags>();
  auto* sim = fl->add_subcommand(
      "simulate", "a coordinator and N nodes as separate processes on loopback, on one CSV split");
  sim->add_option("--csv", sf->csv, "the table")->required();
  sim->add_option("--task", sf->task, "the task file")->required();
  sim->add_option("--nodes", sf->nodes, "nodes")->capture_default_str();
  sim->add_option("--split", sf->split, "iid or label-skew:ALPHA (Dirichlet)")
      ->capture_default_str();
  sim->add_option("--test-fraction", sf->test_fraction, "held-out test rows")
      ->capture_default_str();
  sim->add_option("--seed", sf->seed, "seed of the splits")->capture_default_str();
  sim->add_option("--out", sf->out,
                  "keep model.json, rounds.jsonl and report.html here, with the encoded train.csv "
                  "and test.csv (for a reference fit elsewhere)");
  sim->add_flag("--json", sf->json, "print one JSON object (always, for now)");
  sim->callback([sf] { RunSimulate(*sf); });
}
