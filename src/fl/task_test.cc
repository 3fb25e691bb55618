#include "fl/task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace sund::fl {
namespace {

using ::testing::HasSubstr;

constexpr char kMinimal[] = R"({"id": "t1", "model": {"type": "logistic"},
  "features": ["a", "b"], "target": "y", "positive": "1"})";

// Verifies: REQ-FL-001
TEST(TaskTest, DefaultsAndRoundTrip) {
  auto t = ParseTask(kMinimal);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->model.type, ModelType::kLogistic);
  EXPECT_EQ(t->strategy.name, StrategyName::kFedAvg);
  EXPECT_TRUE(t->secure_aggregation);
  EXPECT_EQ(t->min_clients, 3);
  EXPECT_FALSE(t->privacy.has_value());
  auto again = ParseTask(TaskToJson(*t));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(TaskToJson(*again), TaskToJson(*t));
}

// Verifies: REQ-FL-002
TEST(TaskTest, TheExamplesParse) {
  std::filesystem::path dir = std::filesystem::path(SUND_SOURCE_DIR) / "examples/fl";
  for (const char* name :
       {"logistic.json", "logistic-dp.json", "colon-logistic.json", "mlp.json", "cox.json"}) {
    auto t = ReadTaskFile((dir / name).string());
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().ToString();
    auto again = ParseTask(TaskToJson(*t));
    ASSERT_TRUE(again.ok()) << name;
    EXPECT_EQ(TaskToJson(*again), TaskToJson(*t)) << name;
  }
  auto cox = ReadTaskFile((dir / "cox.json").string());
  EXPECT_EQ(cox->model.type, ModelType::kCox);
  EXPECT_EQ(cox->time, "time");
  EXPECT_EQ(cox->strategy.name, StrategyName::kNewton);
  ASSERT_EQ(cox->where.size(), 1u);
  EXPECT_EQ(cox->where[0], std::make_pair(std::string("etype"), std::string("1")));
  auto mlp = ReadTaskFile((dir / "mlp.json").string());
  EXPECT_EQ(mlp->model.hidden, std::vector<int>{16});
  EXPECT_EQ(mlp->strategy.name, StrategyName::kFedProx);
  auto dp = ReadTaskFile((dir / "logistic-dp.json").string());
  ASSERT_TRUE(dp->privacy.has_value());
  EXPECT_DOUBLE_EQ(dp->privacy->noise_multiplier, 1.5);
}

// Verifies: REQ-FL-003
TEST(TaskTest, MistakesAreNamed) {
  auto err = [](std::string text) {
    auto t = ParseTask(text);
    EXPECT_FALSE(t.ok()) << text;
    return t.ok() ? std::string() : t.status().message();
  };
  EXPECT_THAT(err("[1]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1", "strategy": {"name": "newton"}})"),
              HasSubstr("newton is for cox models"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "cox"}, "features": ["a"], "time": "t",
                      "event": "e", "strategy": {"name": "newton"},
                      "privacy": {"epsilon": 1}})"),
              HasSubstr("no differential privacy"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "cox"}, "features": ["a"], "time": "t",
                      "event": "e", "where": {"etype": 1}})"),
              HasSubstr("where: values are strings"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1", "round": 3})"),
              HasSubstr("round: unknown key"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "svm"}, "features": ["a"], "target": "y",
                      "positive": "1"})"),
              HasSubstr("model.type"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "cox"}, "features": ["a"]})"),
              HasSubstr("time: required"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["y"],
                      "target": "y", "positive": "1"})"),
              HasSubstr("also the target"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1", "min_clients": 2})"),
              HasSubstr("3 with secure aggregation"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1", "local": {"learning_rate": -1}})"),
              HasSubstr("local.learning_rate"));
  EXPECT_THAT(err(R"({"id": "../x", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1"})"),
              HasSubstr("id"));
  EXPECT_THAT(err(R"({"id": "t", "model": {"type": "logistic"}, "features": ["a"],
                      "target": "y", "positive": "1", "strategy": {"name": "fedavg", "mu": 1}})"),
              HasSubstr("only for fedprox"));
}

}  // namespace
}  // namespace sund::fl
