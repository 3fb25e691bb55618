// Federated rounds end to end over gRPC with mutual TLS, with a learner simple enough to know
// the answer: each node pulls the parameters halfway towards its own target, so weighted FedAvg
// converges to the sample-weighted mean of the targets.
#include "fl/rounds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include "core/csv.h"
#include "core/splitmix.h"
#include "fl/certs.h"
#include "fl/dataset.h"
#include "fl/learner.h"
#include "fl/models.h"
#include "fl/privacy.h"
#include "fl/secagg.h"
#include "fl/stats.h"

namespace sund::fl {
namespace {

namespace fs = std::filesystem;

class TowardsTarget : public LocalLearner {
 public:
  TowardsTarget(Params target, std::uint64_t n, int fail_from_round = 0)
      : target_(std::move(target)), n_(n), fail_from_(fail_from_round) {}
  Result<Params> Train(const Params& global, std::uint32_t round) override {
    if (fail_from_ > 0 && static_cast<int>(round) >= fail_from_) {
      return Status(StatusCode::kUnavailable, "this node went down");
    }
    Params p = global;
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.5 * (target_[i] - p[i]);
    return p;
  }
  std::uint64_t samples() const override { return n_; }

 private:
  Params target_;
  std::uint64_t n_;
  int fail_from_;
};

class RoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-fl-rounds-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    CertsOptions c;
    c.dir = dir_.string();
    c.nodes = names_;
    ASSERT_TRUE(MakePilotCertificates(c).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  Task MakeTask(bool secure, int rounds) {
    auto t = ParseTask(R"({"id": "toy", "model": {"type": "logistic"}, "features": ["x"],
      "target": "y", "positive": "1", "min_clients": 3, "clients_per_round": 4,
      "round_timeout_s": 5})");
    EXPECT_TRUE(t.ok());
    t->secure_aggregation = secure;
    t->rounds = rounds;
    return *t;
  }

  std::unique_ptr<CoordinatorServer> Server(const Task& task) {
    CoordinatorServerOptions o;
    o.certs_dir = dir_.string();
    o.allow = {names_.begin(), names_.end()};
    o.task_id = task.id;
    o.task_json = TaskToJson(task);
    o.poll_wait = std::chrono::milliseconds(200);
    auto s = CoordinatorServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  static LocalLearner& Ref(LocalLearner& l) { return l; }
  static LocalLearner& Ref(const std::unique_ptr<ModelLearner>& l) { return *l; }

  // Runs the nodes on threads against `port`; returns their final parameters.
  template <typename L>
  std::vector<std::thread> Nodes(int port, std::vector<L>& learners,
                                 std::vector<Result<Params>>& results) {
    std::vector<std::thread> threads;
    results.assign(learners.size(), Status(StatusCode::kInternal, "not run"));
    for (std::size_t i = 0; i < learners.size(); ++i) {
      threads.emplace_back([&, i, port] {
        NodeClientOptions o;
        o.coordinator = "localhost:" + std::to_string(port);
        o.certs_dir = dir_.string();
        o.name = names_[i];
        o.call_timeout = std::chrono::seconds(10);
        auto c = NodeClient::Connect(o);
        if (!c.ok()) return;
        NodeRun run;
        run.task_id = "toy";
        run.fingerprint = "fp";
        run.max_rejoins = 30;
        results[i] = RunNode(**c, Ref(learners[i]), run);
      });
    }
    return threads;
  }

  fs::path dir_;
  std::vector<std::string> names_ = {"site-a", "site-b", "site-c", "site-d"};
  const std::vector<Params> targets_ = {{1, 0}, {2, 1}, {4, -1}, {-1, 2}};
  const std::vector<std::uint64_t> samples_ = {100, 50, 25, 25};
};

Params WeightedMean(const std::vector<Params>& xs, const std::vector<std::uint64_t>& w,
                    std::size_t count) {
  Params m(xs[0].size(), 0.0);
  double total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    AddScaled(m, xs[i], static_cast<double>(w[i]));
    total += static_cast<double>(w[i]);
  }
  for (double& v : m) v /= total;
  return m;
}

// Verifies: REQ-FL-033
TEST_F(RoundsTest, SecureAggregationFedAvgReachesTheWeightedMean) {
  Task task = MakeTask(true, 12);
  auto server = Server(task);
  std::vector<TowardsTarget> learners;
  for (std::size_t i = 0; i < 4; ++i) learners.emplace_back(targets_[i], samples_[i]);
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  CoordinatorRun run{task, Params{0, 0}, "", {}};
  std::vector<RoundLog> logs;
  run.on_round = [&](const RoundLog& l, const Params&) { logs.push_back(l); };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  Params want = WeightedMean(targets_, samples_, 4);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(result->params[i], want[i], 1e-3);
  ASSERT_EQ(logs.size(), 12u);
  EXPECT_GE(logs[0].contributed, 3u);  // the first round starts once min_clients have joined
  EXPECT_EQ(logs.back().contributed, 4u);
  for (const auto& f : finals) {
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(*f, result->params);  // every node ends with the final model
  }
}

// Secure aggregation takes at most 2t - 1 nodes in a round; round selection stays within it as t
// is a majority of the nodes chosen. Five nodes (t = 3) are exactly at that limit: every round
// takes all five, and their weighted sum.
// Verifies: REQ-FL-076
TEST_F(RoundsTest, SecureRoundsTakeTwoTMinusOneNodes) {
  names_.push_back("site-e");
  ASSERT_TRUE(AddNodeCertificates(dir_.string(), {"site-e"}).ok());
  ASSERT_EQ(MajorityThreshold(5), 3u);
  Task task = MakeTask(true, 4);
  task.clients_per_round = 5;
  auto server = Server(task);
  const std::vector<Params> targets = {{1, 0}, {2, 1}, {4, -1}, {-1, 2}, {0, 3}};
  const std::vector<std::uint64_t> samples = {100, 50, 25, 25, 50};
  std::vector<TowardsTarget> learners;
  for (std::size_t i = 0; i < 5; ++i) learners.emplace_back(targets[i], samples[i]);
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  CoordinatorRun run{task, Params{0, 0}, "", {}};
  run.expected = 5;  // the first round waits for all five
  std::vector<RoundLog> logs;
  run.on_round = [&](const RoundLog& l, const Params&) { logs.push_back(l); };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(logs.size(), 4u);
  for (const auto& l : logs) {
    EXPECT_EQ(l.selected, 5u);
    EXPECT_EQ(l.contributed, 5u);
  }
  // Each round halves the distance to the weighted mean: after 4, 15/16 of the way from 0.
  Params want = WeightedMean(targets, samples, 5);
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(result->params[i], 0.9375 * want[i], 1e-6);
  }
}

// Verifies: REQ-FL-034
TEST_F(RoundsTest, ANodeLostMidRoundDoesNotStopTraining) {
  Task task = MakeTask(true, 6);
  task.round_timeout_s = 1;  // a silent node is left out after a second
  auto server = Server(task);
  std::vector<TowardsTarget> learners;
  for (std::size_t i = 0; i < 4; ++i) {
    learners.emplace_back(targets_[i], samples_[i], i == 3 ? 3 : 0);  // site-d fails in round 3
  }
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  std::vector<RoundLog> logs;
  CoordinatorRun run{task, Params{0, 0}, "", {}};
  run.on_round = [&](const RoundLog& l, const Params&) { logs.push_back(l); };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_GE(logs.size(), 3u);
  EXPECT_EQ(logs[2].round, 3u);
  EXPECT_EQ(logs[2].contributed, 3u);  // the round completed without site-d
  EXPECT_EQ(logs[2].dropped, 1u);
  EXPECT_FALSE(finals[3].ok());  // site-d's node stopped with its error
}

// Under node-level DP the rounds stop when the next one would exceed the task's epsilon, however
// many rounds the task asks for; every round's average carries the nodes' noise, and no loss is
// reported (it is not noised). Every node pulls towards the same target, within the clip norm,
// so without noise the first round's model would be exactly half the target.
// Verifies: REQ-FL-074, REQ-FL-075
TEST_F(RoundsTest, PrivacyBudgetStopsNoisyRounds) {
  Task task = MakeTask(false, 50);
  PrivacySpec privacy;
  privacy.clip = 1;
  privacy.noise_multiplier = 3;
  privacy.epsilon = 5;
  privacy.delta = 1e-6;
  task.privacy = privacy;
  auto budget = DpBudget::Create(privacy.epsilon, privacy.noise_multiplier, privacy.delta);
  ASSERT_TRUE(budget.ok()) << budget.status().ToString();
  const std::uint64_t allowed = budget->RoundsLeft();
  ASSERT_GE(allowed, 2u);
  ASSERT_LT(allowed, 50u);

  auto server = Server(task);
  const Params target = {0.4, -0.2};
  std::vector<TowardsTarget> learners;
  for (std::size_t i = 0; i < 4; ++i) learners.emplace_back(target, samples_[i]);
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  CoordinatorRun run{task, Params{0, 0}, "", {}};
  std::vector<RoundLog> logs;
  std::vector<Params> after;
  run.on_round = [&](const RoundLog& l, const Params& p) {
    logs.push_back(l);
    after.push_back(p);
  };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->stopped_because, "privacy budget");
  EXPECT_EQ(result->rounds, allowed);
  ASSERT_EQ(logs.size(), allowed);
  for (std::size_t i = 0; i < logs.size(); ++i) {
    EXPECT_FALSE(logs[i].loss.has_value());
    if (i > 0) EXPECT_GT(logs[i].epsilon, logs[i - 1].epsilon);
  }
  EXPECT_LE(logs.back().epsilon, privacy.epsilon);
  EXPECT_EQ(result->epsilon, logs.back().epsilon);
  // The first round's model is half the target plus the average of the nodes' noise, each of
  // standard deviation z * C per coordinate (plain rounds: every node carries the whole noise).
  const double sigma = NodeNoiseSigma(privacy.clip, privacy.noise_multiplier, 1);
  double deviation = std::max(std::abs(after[0][0] - 0.2), std::abs(after[0][1] + 0.1));
  EXPECT_GT(deviation, 1e-6);       // noised
  EXPECT_LT(deviation, 8 * sigma);  // by noise of that scale
}

// Verifies: REQ-FL-035
TEST_F(RoundsTest, PlainRoundsAndAResumedCoordinator) {
  Task task = MakeTask(false, 4);
  std::string checkpoint = (dir_ / "checkpoint.json").string();
  Params after_first;
  {
    auto server = Server(task);
    std::vector<TowardsTarget> learners;
    for (std::size_t i = 0; i < 4; ++i) learners.emplace_back(targets_[i], samples_[i]);
    std::vector<Result<Params>> finals;
    auto threads = Nodes(server->port(), learners, finals);
    CoordinatorRun run{task, Params{0, 0}, checkpoint, {}};
    auto result = RunCoordinator(*server, run);
    for (auto& t : threads) t.join();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->rounds, 4u);
    after_first = result->params;
  }
  // Started again with more rounds and the same checkpoint: it carries on from round 5.
  task.rounds = 16;
  auto server = Server(task);
  std::vector<TowardsTarget> learners;
  for (std::size_t i = 0; i < 4; ++i) learners.emplace_back(targets_[i], samples_[i]);
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  std::vector<std::uint32_t> rounds;
  CoordinatorRun run{task, Params{0, 0}, checkpoint, {}};
  run.on_round = [&](const RoundLog& l, const Params&) { rounds.push_back(l.round); };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(rounds.size(), 12u);
  EXPECT_EQ(rounds.front(), 5u);
  EXPECT_EQ(rounds.back(), 16u);
  Params want = WeightedMean(targets_, samples_, 4);
  EXPECT_NEAR(result->params[0], want[0], 1e-2);
}

// Exact federated Cox (strategy newton) over the transport, under secure aggregation: the nodes'
// summed risk-set sums give the pooled Newton steps, so the coefficients equal the pooled fit's.
// Verifies: REQ-FL-036
TEST_F(RoundsTest, NewtonCoxOverTheTransportEqualsThePooledFit) {
  // Survival rows with ties (times to one decimal) and censoring, hazard exp(0.7 x - 0.5 [g=b]).
  SplitMix64 rng(7);
  auto uniform = [&] { return (static_cast<double>(rng.Next() >> 11) + 0.5) / 9007199254740992.0; };
  std::string csv = "x,g,time,status\n";
  for (int i = 0; i < 240; ++i) {
    double x = 2 * uniform() - 1;
    bool b = uniform() < 0.4;
    double hazard = std::exp(0.7 * x - (b ? 0.5 : 0.0));
    double t = std::round(-std::log(uniform()) / hazard * 10) / 10 + 0.1;
    bool event = uniform() < 0.7;
    csv += std::to_string(x) + (b ? ",b," : ",a,") + std::to_string(t) + (event ? ",1\n" : ",0\n");
  }
  auto table = ParseCsv(csv);
  ASSERT_TRUE(table.ok());
  auto task = ParseTask(R"({"id": "toy", "model": {"type": "cox"}, "features": ["x", "g"],
    "time": "time", "event": "status", "strategy": {"name": "newton"}, "rounds": 30,
    "min_clients": 3, "clients_per_round": 4, "round_timeout_s": 5})");
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  auto enc = FitEncoding(*table, TaskFeatures(*task));
  ASSERT_TRUE(enc.ok());
  auto all = BuildDataset(*table, *enc);
  ASSERT_TRUE(all.ok());
  std::vector<std::unique_ptr<ModelLearner>> learners;
  std::vector<Dataset> parts;
  for (std::size_t i = 0; i < 4; ++i) {  // unequal parts: 100, 70, 40, 30 rows
    static const std::size_t kBounds[] = {0, 100, 170, 210, 240};
    std::vector<std::size_t> rows;
    for (std::size_t r = kBounds[i]; r < kBounds[i + 1]; ++r) rows.push_back(r);
    parts.push_back(Subset(*all, rows));
    auto l = ModelLearner::Create(*task, parts.back(), i + 1);
    ASSERT_TRUE(l.ok());
    learners.push_back(std::move(*l));
  }
  auto pooled = TaskModel(*task, *enc);
  ASSERT_TRUE(pooled.ok());
  ASSERT_TRUE(FitPooled(**pooled, Concat(parts, /*stratify=*/false)).ok());

  auto server = Server(*task);
  std::vector<Result<Params>> finals;
  auto threads = Nodes(server->port(), learners, finals);
  CoordinatorRun run{*task, Params((*pooled)->NumParams(), 0.0), "", {}};
  run.expected = 4;
  std::vector<RoundLog> logs;
  run.on_round = [&](const RoundLog& l, const Params&) { logs.push_back(l); };
  auto result = RunCoordinator(*server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->stopped_because, "converged");
  Params want = (*pooled)->Get();
  ASSERT_EQ(result->params.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(result->params[i], want[i], 1e-8);
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs[0].contributed, 4u);  // newton waits for every allowed node
  ASSERT_TRUE(logs.back().loss.has_value());
  EXPECT_NEAR(*logs.back().loss, (*pooled)->Loss(Concat(parts, false)), 1e-9);
  // Every node reported the final model's metrics on its own rows.
  ASSERT_EQ(result->nodes.size(), 4u);
  for (const auto& n : result->nodes) {
    ASSERT_FALSE(n.metrics.empty());
    EXPECT_EQ(n.metrics.back().first, "c_index");
  }
}

// Federated statistics over the transport: the nodes' sums, added under secure aggregation, give
// exactly the pooled figures, small cells suppressed; every node receives the released result.
// Verifies: REQ-FL-037, REQ-FL-039
TEST_F(RoundsTest, StatisticsOverTheTransportEqualThePooledFigures) {
  const char* query = R"({"id": "toy-stats", "suppress_below": 5, "queries": [
    {"name": "n", "type": "count"},
    {"name": "x", "type": "mean", "column": "x"},
    {"name": "by_group", "type": "table", "rows": "g", "columns": "y"},
    {"name": "km", "type": "kaplan_meier", "time": "t", "event": "y", "times": [2, 4]}]})";
  auto request = ParseStatsRequest(query);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  // Four parts, one of them empty; group "rare" has 3 rows in all, spread over two nodes:
  // suppressed in the total.
  std::vector<CsvTable> parts;
  std::string all = "x,g,y,t\n";
  for (int node = 0; node < 4; ++node) {
    std::string csv = "x,g,y,t\n";
    const int rows = node == 3 ? 0 : 10 + 5 * node;  // site-d has no rows: it still takes part
    for (int i = 0; i < rows; ++i) {
      std::string row = std::to_string(0.25 * i - node) + (i % 2 ? ",a," : ",b,") +
                        std::to_string(i % 3 == 0) + "," + std::to_string(1 + i % 5) + "\n";
      if (node < 2 && i < 2 - node) row = "1.5,rare,1,3\n";
      csv += row;
      all += row;
    }
    auto t = ParseCsv(csv);
    ASSERT_TRUE(t.ok());
    parts.push_back(std::move(*t));
  }
  auto pooled_table = ParseCsv(all);
  ASSERT_TRUE(pooled_table.ok());
  auto pooled_stats = ComputeLocalStats(*pooled_table, *request);
  ASSERT_TRUE(pooled_stats.ok());
  std::string pooled = FinalizeStats(*pooled_stats, *request);
  ASSERT_NE(pooled.find("\"suppressed\":true"), std::string::npos);  // the rare cells

  StatsRun run;
  run.request = *request;
  run.query_json = query;
  run.timeout_s = 5;
  run.expected = 4;
  CoordinatorServerOptions o;
  o.certs_dir = dir_.string();
  o.allow = {names_.begin(), names_.end()};
  o.task_id = request->id;
  o.task_json = StatsEnvelopeJson(run);
  o.poll_wait = std::chrono::milliseconds(200);
  auto server = CoordinatorServer::Start(o);
  ASSERT_TRUE(server.ok());
  std::vector<Result<std::string>> released(4, Status(StatusCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      NodeClientOptions c;
      c.coordinator = "localhost:" + std::to_string((*server)->port());
      c.certs_dir = dir_.string();
      c.name = names_[i];
      auto client = NodeClient::Connect(c);
      if (!client.ok()) return;
      auto described = (*client)->Describe();
      if (!described.ok()) return;
      auto req = ParseStatsEnvelope(*described);
      if (!req.ok() || !*req) return;
      NodeRun nr;
      nr.task_id = (*req)->id;
      released[i] = RunStatsNode(**client, parts[i], **req, nr);
    });
  }
  auto result = RunStatsCoordinator(**server, run);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->nodes, 4u);
  std::string want = pooled;
  want.insert(want.size() - 1, ",\"nodes\":4");
  EXPECT_EQ(result->json, want);
  for (const auto& r : released) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, result->json);
  }
}

}  // namespace
}  // namespace sund::fl
