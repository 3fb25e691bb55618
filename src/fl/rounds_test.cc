// Federated rounds end to end over gRPC with mutual TLS, with a learner simple enough to know
// the answer: each node pulls the parameters halfway towards its own target, so weighted FedAvg
// converges to the sample-weighted mean of the targets.
#include "fl/rounds.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "fl/certs.h"

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

  // Runs the nodes on threads against `port`; returns their final parameters.
  std::vector<std::thread> Nodes(int port, std::vector<TowardsTarget>& learners,
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
        results[i] = RunNode(**c, learners[i], run);
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

}  // namespace
}  // namespace sund::fl
