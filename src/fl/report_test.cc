#include "fl/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>

namespace sund::fl {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// The markup of the chart whose <title> has id `id`-t, up to its </svg>.
std::string Chart(const std::string& html, const std::string& id) {
  const std::size_t begin = html.find("id=\"" + id + "-t\"");
  if (begin == std::string::npos) return "";
  return html.substr(begin, html.find("</svg>", begin) - begin);
}

// "nan", "inf", "-nan", "infinity" as printf writes them, in any case.
bool HasNonFiniteNumber(const std::string& html) {
  static const std::regex kNonFinite(R"(\b(nan|inf|infinity)\b)", std::regex::icase);
  return std::regex_search(html, kNonFinite);
}

RoundLog Round(std::uint32_t r, std::optional<double> loss, std::optional<double> accuracy) {
  RoundLog round;
  round.round = r;
  round.selected = 3;
  round.contributed = 3;
  round.seconds = 1.5 + r;
  round.bytes_to_nodes = 3000 * r;
  round.bytes_from_nodes = 2000 * r;
  round.loss = loss;
  round.accuracy = accuracy;
  round.update_norm = 1.0 / r;
  return round;
}

ReportInput ThreeRounds() {
  ReportInput in;
  in.task_id = "pima-logistic";
  in.model = "logistic";
  in.strategy = "fedavg";
  in.secure_aggregation = true;
  in.stopped_because = "rounds";
  in.rounds = {Round(1, 0.69, 0.61), Round(2, 0.55, 0.70), Round(3, 0.49, 0.76)};
  in.nodes = {{"hospital-a", 400, {{"auc", 0.83}, {"loss", 0.47}, {"accuracy", 0.77}}},
              {"hospital-b", 368, {{"auc", 0.81}, {"loss", 0.51}, {"accuracy", 0.74}}}};
  in.overall = {{"loss", 0.49}, {"accuracy", 0.756}, {"auc_weighted_mean", 0.8204}};
  in.param_names = {"intercept", "glucose"};
  in.params = {-0.123456789, 1.0};
  return in;
}

// Verifies: REQ-FL-067
TEST(FlReportTest, ShowsTheRunWithAChartPerSeriesAndARowPerNode) {
  const std::string html = FlReportHtml(ThreeRounds());
  EXPECT_NE(html.find("<h1>Federated run: pima-logistic</h1>"), std::string::npos);
  // loss, accuracy, seconds, bytes, update norm; no epsilon chart without DP.
  EXPECT_EQ(Count(html, "<svg"), 5u);
  for (const char* id : {"loss", "accuracy", "seconds", "bytes", "norm"}) {
    EXPECT_NE(Chart(html, id).find("<polyline"), std::string::npos) << id;
  }
  EXPECT_EQ(Chart(html, "epsilon"), "");
  EXPECT_EQ(Count(Chart(html, "bytes"), "<polyline"), 2u);  // to and from the nodes
  EXPECT_NE(html.find("to nodes"), std::string::npos);
  EXPECT_NE(html.find("from nodes"), std::string::npos);

  EXPECT_NE(html.find("<th scope=\"row\">hospital-a</th><td class=\"n\">400</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">hospital-b</th><td class=\"n\">368</td>"),
            std::string::npos);
  // The overall row sums the rows, and its weighted-mean AUC sits in the nodes' AUC column.
  EXPECT_NE(html.find("<td class=\"n\">768</td><td class=\"n\">0.8204</td><td class=\"n\">0.49</td>"
                      "<td class=\"n\">0.756</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">secure aggregation</th><td>yes</td>"), std::string::npos);
  EXPECT_NE(html.find("3 (stopped: rounds)"), std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">intercept</th><td class=\"n\">-0.123457</td>"),
            std::string::npos);
  EXPECT_FALSE(HasNonFiniteNumber(html));
}

// Verifies: REQ-FL-068
TEST(FlReportTest, EscapesEveryTextFromTheInput) {
  ReportInput in = ThreeRounds();
  const std::string hostile = "<script>alert(1)</script>";
  in.task_id = hostile;
  in.model = hostile;
  in.stopped_because = hostile;
  in.nodes[0].node = hostile;
  in.nodes[1].metrics.push_back({hostile, 1});
  in.overall.push_back({"\"><img src=x onerror=alert(2)>", 0.5});
  in.param_names[1] = hostile;
  const std::string html = FlReportHtml(in);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">&lt;script&gt;alert(1)&lt;/script&gt;</th>"),
            std::string::npos);
  EXPECT_GE(Count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"), 7u);
}

// Verifies: REQ-FL-069
TEST(FlReportTest, MissingValuesAreSkippedInChartsAndDashedInTables) {
  ReportInput in = ThreeRounds();
  in.rounds.push_back(Round(4, 0.45, std::nullopt));
  in.rounds[1].loss = kNaN;      // round 2
  in.rounds[2].accuracy = kInf;  // round 3
  in.rounds[3].seconds = -kInf;  // round 4
  in.rounds[0].update_norm = 1e300;
  in.nodes[1].metrics[0].second = kNaN;
  in.overall[0].second = kInf;
  in.params[0] = kNaN;
  const std::string html = FlReportHtml(in);
  EXPECT_FALSE(HasNonFiniteNumber(html));

  // Loss: round 1 alone (a marker, no line), rounds 3 and 4 joined.
  const std::string loss = Chart(html, "loss");
  EXPECT_EQ(Count(loss, "<polyline"), 1u);
  EXPECT_EQ(Count(loss, "<circle"), 3u);
  EXPECT_EQ(loss.find("round 2:"), std::string::npos);
  EXPECT_EQ(Count(Chart(html, "accuracy"), "<circle"), 2u);
  EXPECT_EQ(Count(Chart(html, "seconds"), "<circle"), 3u);
  EXPECT_EQ(Count(Chart(html, "norm"), "<circle"), 3u);

  EXPECT_NE(html.find("<th scope=\"row\">hospital-b</th><td class=\"n\">368</td>"
                      "<td class=\"n\">\xE2\x80\x93</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">768</td><td class=\"n\">0.8204</td>"
                      "<td class=\"n\">\xE2\x80\x93</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">intercept</th><td class=\"n\">\xE2\x80\x93</td>"),
            std::string::npos);
}

// Verifies: REQ-FL-069, REQ-FL-070
TEST(FlReportTest, UnderDpShowsEpsilonAgainstTheBudgetAndSaysWhyThereIsNoLoss) {
  ReportInput in = ThreeRounds();
  in.epsilon_budget = 1.0;
  in.stopped_because = "privacy budget";
  for (std::size_t i = 0; i < in.rounds.size(); ++i) {
    in.rounds[i].loss = std::nullopt;
    in.rounds[i].accuracy = std::nullopt;
    in.rounds[i].epsilon = 0.3 * static_cast<double>(i + 1);
  }
  const std::string html = FlReportHtml(in);
  EXPECT_FALSE(HasNonFiniteNumber(html));
  // seconds, bytes, epsilon, update norm; the loss chart is words, accuracy is left out.
  EXPECT_EQ(Count(html, "<svg"), 4u);
  EXPECT_EQ(Chart(html, "loss"), "");
  EXPECT_NE(html.find("No loss values: the global model is not evaluated"), std::string::npos);
  const std::string epsilon = Chart(html, "epsilon");
  EXPECT_EQ(Count(epsilon, "<circle"), 3u);
  EXPECT_NE(epsilon.find("stroke-dasharray"), std::string::npos);  // the budget
  EXPECT_NE(html.find("0.9 spent of a budget of 1 (90%)"), std::string::npos);
}

// Verifies: REQ-FL-069, REQ-FL-070
TEST(FlReportTest, AnEmptyRunSaysSoInsteadOfDrawing) {
  ReportInput in;
  in.task_id = "empty-task";
  in.stopped_because = "rounds";
  const std::string html = FlReportHtml(in);
  EXPECT_NE(html.find("empty-task"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("No rounds were completed"), std::string::npos);
  EXPECT_NE(html.find("No node evaluated the final model"), std::string::npos);
  EXPECT_NE(html.find("<th scope=\"row\">rounds completed</th><td>0 (stopped: rounds)</td>"),
            std::string::npos);
  EXPECT_FALSE(HasNonFiniteNumber(html));
}

// Verifies: REQ-FL-067
TEST(FlReportTest, UnnamedParametersAreNumbered) {
  ReportInput in = ThreeRounds();
  in.param_names.clear();
  in.params = {0.5, 2.25, 1234567.0};
  const std::string html = FlReportHtml(in);
  EXPECT_NE(html.find("<tr><td class=\"n\">2</td><td class=\"n\">1.23457e+06</td></tr>"),
            std::string::npos);
}

}  // namespace
}  // namespace sund::fl
