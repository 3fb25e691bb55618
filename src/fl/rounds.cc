#include "fl/rounds.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/splitmix.h"
#include "fl/fixed_point.h"
#include "fl/models.h"
#include "fl/privacy.h"
#include "fl/secagg.h"

namespace sund::fl {
namespace {

using Clock = std::chrono::steady_clock;

// Two byte strings in one payload: a little-endian u32 length, the first, then the second.
std::string Pack(std::string_view a, std::string_view b) {
  std::string out;
  auto n = static_cast<std::uint32_t>(a.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out.append(a);
  out.append(b);
  return out;
}

Result<std::pair<std::string_view, std::string_view>> Unpack(std::string_view s) {
  if (s.size() < 4) return InvalidArgument("a truncated message");
  std::uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(s[i]);
  if (n > s.size() - 4) return InvalidArgument("a truncated message");
  return std::make_pair(s.substr(4, n), s.substr(4 + n));
}

// The round's settings as the coordinator sends them to each selected node.
struct RoundHeader {
  std::uint32_t round = 0;
  bool secure = false;
  std::uint32_t id = 0;  // the node's number in this round (secure aggregation)
  std::uint32_t threshold = 0;
  std::uint32_t nodes = 0;
  double bound = 0;
  std::uint64_t vector_length = 0;
};

std::string HeaderJson(const RoundHeader& h) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"round\":%u,\"secure\":%s,\"id\":%u,\"threshold\":%u,\"nodes\":%u,"
                "\"bound\":%.17g,\"vector_length\":%llu}",
                h.round, h.secure ? "true" : "false", h.id, h.threshold, h.nodes, h.bound,
                static_cast<unsigned long long>(h.vector_length));
  return buf;
}

Result<RoundHeader> ParseHeader(std::string_view text) {
  rapidjson::Document d;
  json::ParseBounded(d, text);
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("a bad round header");
  RoundHeader h;
  auto u = [&](const char* k, std::uint32_t& out) {
    const auto* v = json::Find(d, k);
    if (v != nullptr && v->IsUint()) out = v->GetUint();
  };
  u("round", h.round);
  u("id", h.id);
  u("threshold", h.threshold);
  u("nodes", h.nodes);
  if (const auto* v = json::Find(d, "secure"); v != nullptr && v->IsBool()) h.secure = v->GetBool();
  if (const auto* v = json::Find(d, "bound"); v != nullptr && v->IsNumber()) {
    h.bound = v->GetDouble();
  }
  if (const auto* v = json::Find(d, "vector_length"); v != nullptr && v->IsUint64()) {
    h.vector_length = v->GetUint64();
  }
  return h;
}

// The coordinate bound of an update vector [weight * delta, weight].
double UpdateBound(const Task& task, double max_weight) {
  if (task.privacy) {
    // Clipped to C, plus the node's noise (generously: 8 standard deviations of the whole sum).
    return task.privacy->clip * (1 + 8 * task.privacy->noise_multiplier) + 1;
  }
  return kPlainClip * std::max(1.0, max_weight);
}

// --- Checkpoints -----------------------------------------------------------------------------

struct State {
  std::uint32_t round = 0;  // rounds completed
  Params params, m, v;      // FedAdam's moments (empty unless used)
  std::uint32_t dp_rounds = 0;
  Params grid;  // newton: the merged event-time grid (empty until the setup step)
  std::set<std::string> grid_nodes;  // whose event times it holds
};

Status SaveCheckpoint(const std::string& path, const std::string& task_id, const State& s) {
  if (path.empty()) return Status::Ok();
  std::string j = "{\"task\":\"" + task_id + "\",\"round\":" + std::to_string(s.round) +
                  ",\"dp_rounds\":" + std::to_string(s.dp_rounds) + ",\"params\":";
  j += ParamsJson(s.params);
  j += ",\"m\":";
  j += ParamsJson(s.m);
  j += ",\"v\":";
  j += ParamsJson(s.v);
  j += ",\"grid\":";
  j += ParamsJson(s.grid);
  j += ",\"grid_nodes\":[";
  for (const auto& n : s.grid_nodes) {
    if (j.back() != '[') j += ',';
    j += json::Serialize(rapidjson::Value(
        rapidjson::StringRef(n.data(), static_cast<rapidjson::SizeType>(n.size()))));
  }
  j += "]}\n";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j;
    out.flush();
    if (!out) return Internal("cannot write the checkpoint " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic: a crash leaves the old or the new one
  if (ec) return Internal("cannot replace the checkpoint " + path);
  return Status::Ok();
}

Result<std::optional<State>> LoadCheckpoint(const std::string& path, const std::string& task_id,
                                            std::size_t params) {
  if (path.empty() || !std::filesystem::exists(path)) return std::optional<State>();
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rapidjson::Document d;
  json::ParseBounded(d, text);
  if (d.HasParseError() || !d.IsObject() || json::GetString(d, "task") != task_id) {
    return InvalidArgument("the checkpoint " + path + " is not one of task '" + task_id + "'");
  }
  State s;
  auto numbers = [&](const char* k, Params& out) -> Status {
    const auto* v = json::Find(d, k);
    if (v == nullptr || !v->IsArray()) return InvalidArgument("checkpoint: no " + std::string(k));
    for (const auto& x : v->GetArray()) {
      if (!x.IsNumber()) return InvalidArgument("checkpoint: a bad number");
      out.push_back(x.GetDouble());
    }
    return Status::Ok();
  };
  SUND_RETURN_IF_ERROR(numbers("params", s.params));
  SUND_RETURN_IF_ERROR(numbers("m", s.m));
  SUND_RETURN_IF_ERROR(numbers("v", s.v));
  if (json::Find(d, "grid") != nullptr) SUND_RETURN_IF_ERROR(numbers("grid", s.grid));
  if (const auto* g = json::Find(d, "grid_nodes"); g != nullptr && g->IsArray()) {
    for (const auto& n : g->GetArray()) {
      if (n.IsString()) s.grid_nodes.emplace(json::View(n));
    }
  }
  if (s.params.size() != params) return InvalidArgument("checkpoint: the model's size differs");
  if (const auto* r = json::Find(d, "round"); r != nullptr && r->IsUint()) s.round = r->GetUint();
  if (const auto* r = json::Find(d, "dp_rounds"); r != nullptr && r->IsUint()) {
    s.dp_rounds = r->GetUint();
  }
  return std::optional<State>(std::move(s));
}

// --- The coordinator's rounds ------------------------------------------------------------------

struct Collected {
  Params sum;  // sum of weight * delta, then the total weight last
  std::size_t contributed = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

class RoundRunner {
 public:
  RoundRunner(CoordinatorServer& server, const Task& task) : server_(server), task_(task) {}

  // One summing round over `nodes`: each gets `payload` and answers with a vector of
  // `vector_length` (coordinates within `bound` under secure aggregation); the result is their
  // sum. kUnavailable when fewer than `threshold` answered (the caller runs it again).
  Result<Collected> Run(std::uint32_t round, const std::vector<Member>& nodes,
                        const std::string& payload, std::uint64_t vector_length, double bound,
                        std::uint32_t threshold) {
    RoundHeader h;
    h.round = round;
    h.secure = task_.secure_aggregation;
    h.nodes = static_cast<std::uint32_t>(nodes.size());
    h.bound = bound;
    h.vector_length = vector_length;
    h.threshold = task_.secure_aggregation
                      ? std::max<std::uint32_t>(MajorityThreshold(nodes.size()), threshold)
                      : threshold;
    return h.secure ? Secure(h, nodes, payload) : Plain(h, nodes, payload);
  }

 private:
  Clock::time_point Deadline() const {
    return Clock::now() + std::chrono::seconds(task_.round_timeout_s);
  }

  Result<Collected> Plain(const RoundHeader& h, const std::vector<Member>& nodes,
                          const std::string& payload) {
    Collected c;
    std::set<std::string> names;
    for (const auto& m : nodes) {
      c.bytes_out += payload.size();
      server_.Post(m.node, {h.round, 1, "train", payload});
      names.insert(m.node);
    }
    auto got = server_.Collect(names, h.round, 1, Deadline());
    c.sum.assign(h.vector_length, 0.0);
    for (auto& [node, msg] : got) {
      c.bytes_in += msg.payload.size();
      auto v = Deserialize(msg.payload);
      if (msg.kind != "update" || !v.ok() || v->size() != h.vector_length) continue;
      AddScaled(c.sum, *v, 1.0);
      ++c.contributed;
    }
    if (c.contributed < h.threshold) {
      return Status(StatusCode::kUnavailable, "too few updates this round");
    }
    return c;
  }

  Result<Collected> Secure(const RoundHeader& h, const std::vector<Member>& nodes,
                           const std::string& payload) {
    Collected c;
    SecAggConfig cfg{task_.id, h.round, h.threshold, h.vector_length};
    SUND_ASSIGN_OR_RETURN(SecAggServer sa, SecAggServer::Create(cfg));
    std::map<std::uint32_t, std::string> by_id;  // node number -> name
    std::set<std::string> names;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      RoundHeader mine = h;
      mine.id = static_cast<std::uint32_t>(i + 1);
      by_id[mine.id] = nodes[i].node;
      names.insert(nodes[i].node);
      std::string header = HeaderJson(mine);
      c.bytes_out += header.size();
      server_.Post(nodes[i].node, {h.round, 1, "secagg-start", std::move(header)});
    }
    auto sender_ok = [&](const std::string& node, std::uint32_t sender) {
      auto it = by_id.find(sender);
      return it != by_id.end() && it->second == node;  // the peer's certificate names it
    };
    auto step = [&](std::uint32_t s) {
      auto got = server_.Collect(names, h.round, s, Deadline());
      for (auto& [node, msg] : got) c.bytes_in += msg.payload.size();
      return got;
    };
    for (auto& [node, msg] : step(1)) {
      auto m = AdvertiseKeysMsg::Parse(msg.payload);
      if (m.ok() && sender_ok(node, m->sender)) sa.AddKeys(*m).IgnoreError();
    }
    SUND_ASSIGN_OR_RETURN(KeyListMsg keys, sa.CloseKeys());
    std::string key_bytes = keys.Serialize();
    names.clear();
    for (const auto& k : keys.nodes) {
      names.insert(by_id[k.id]);
      c.bytes_out += key_bytes.size();
      server_.Post(by_id[k.id], {h.round, 2, "secagg-keys", key_bytes});
    }
    for (auto& [node, msg] : step(2)) {
      auto m = ShareKeysMsg::Parse(msg.payload);
      if (m.ok() && sender_ok(node, m->sender)) sa.AddShares(*m).IgnoreError();
    }
    SUND_ASSIGN_OR_RETURN(std::vector<SharesRelayMsg> relays, sa.CloseShares());
    names.clear();
    for (const auto& r : relays) {
      names.insert(by_id[r.recipient]);
      std::string train = Pack(r.Serialize(), payload);
      c.bytes_out += train.size();
      server_.Post(by_id[r.recipient], {h.round, 3, "secagg-train", std::move(train)});
    }
    for (auto& [node, msg] : step(3)) {
      auto m = MaskedInputMsg::Parse(msg.payload);
      if (m.ok() && sender_ok(node, m->sender)) sa.AddMaskedInput(*m).IgnoreError();
    }
    SUND_ASSIGN_OR_RETURN(UnmaskRequestMsg request, sa.CloseMaskedInputs());
    std::string request_bytes = request.Serialize();
    names.clear();
    for (auto id : request.survivors) {
      names.insert(by_id[id]);
      c.bytes_out += request_bytes.size();
      server_.Post(by_id[id], {h.round, 4, "secagg-unmask", request_bytes});
    }
    for (auto& [node, msg] : step(4)) {
      auto m = UnmaskResponseMsg::Parse(msg.payload);
      if (m.ok() && sender_ok(node, m->sender)) sa.AddUnmaskResponse(*m).IgnoreError();
    }
    SUND_ASSIGN_OR_RETURN(SecAggResult result, sa.Finish());
    SUND_ASSIGN_OR_RETURN(
        FixedPointCodec codec,
        FixedPointCodec::ForBound(h.bound, static_cast<std::uint32_t>(nodes.size())));
    SUND_ASSIGN_OR_RETURN(
        c.sum, codec.DecodeSum(result.sum, static_cast<std::uint32_t>(result.contributors.size())));
    c.contributed = result.contributors.size();
    return c;
  }

  CoordinatorServer& server_;
  const Task& task_;
};

}  // namespace

namespace {

// The nodes of a round: newton takes every member (the sums must cover all rows); otherwise
// rotate through the members, at most clients_per_round. (Secure aggregation's limit of 2t - 1
// nodes holds: t is at least a majority of them.)
std::vector<Member> ChooseNodes(const Task& task, const std::vector<Member>& members,
                                std::uint32_t completed) {
  std::vector<Member> chosen;
  if (task.strategy.name == StrategyName::kNewton) {
    chosen = members;
  } else {
    std::size_t want = std::min<std::size_t>(members.size(), task.clients_per_round);
    for (std::size_t i = 0; i < want; ++i) {
      chosen.push_back(members[(completed * want + i) % members.size()]);
    }
  }
  std::sort(chosen.begin(), chosen.end(),
            [](const Member& a, const Member& b) { return a.node < b.node; });
  chosen.erase(std::unique(chosen.begin(), chosen.end(),
                           [](const Member& a, const Member& b) { return a.node == b.node; }),
               chosen.end());
  return chosen;
}

// The slots after a FedAvg update: the global model's loss and accuracy at the node, each as
// (rows * value, rows), zero when the node has no such metric. Absent under DP.
constexpr std::size_t kMetricSlots = 4;

void AppendMetrics(Params& v, const Metrics& metrics, double rows) {
  double loss = 0, loss_rows = 0, accuracy = 0, accuracy_rows = 0;
  for (const auto& [name, value] : metrics) {
    if (!std::isfinite(value)) continue;
    if (name == "loss") {
      loss = rows * std::clamp(value, 0.0, kPlainClip);
      loss_rows = rows;
    } else if (name == "accuracy") {
      accuracy = rows * value;
      accuracy_rows = rows;
    }
  }
  v.insert(v.end(), {loss, loss_rows, accuracy, accuracy_rows});
}

std::optional<double> Ratio(double sum, double weight) {
  if (!(weight > 0)) return std::nullopt;
  return sum / weight;
}

// newton's setup step, as step 0 of the coming round: every member's distinct event times,
// merged. Run again when a node joins whose times the grid lacks.
Status CollectEventTimes(CoordinatorServer& server, const Task& task,
                         const std::vector<Member>& members, std::uint32_t round, State& s,
                         std::uint64_t& bytes_in) {
  std::set<std::string> names;
  for (const auto& m : members) {
    server.Post(m.node, {round, 0, "cox-times", ""});
    names.insert(m.node);
  }
  auto got =
      server.Collect(names, round, 0, Clock::now() + std::chrono::seconds(task.round_timeout_s));
  if (got.size() != names.size()) {
    return Status(StatusCode::kUnavailable, "a node did not send its event times");
  }
  std::vector<std::vector<double>> times = {s.grid};
  for (auto& [node, msg] : got) {
    bytes_in += msg.payload.size();
    auto t = Deserialize(msg.payload);
    if (msg.kind != "cox-times" || !t.ok()) {
      return Status(StatusCode::kUnavailable, "a node sent no event times");
    }
    times.push_back(std::move(*t));
  }
  s.grid = MergeEventTimes(times);
  s.grid_nodes.insert(names.begin(), names.end());
  return Status::Ok();
}

// The final model at every member: their metrics on their own rows.
std::vector<NodeReport> CollectEvaluations(CoordinatorServer& server, const Task& task,
                                           std::uint32_t round, const Params& params) {
  std::set<std::string> names;
  std::string payload = Serialize(params);
  for (const auto& m : server.Members()) {
    server.Post(m.node, {round, 1, "evaluate", payload});
    names.insert(m.node);
  }
  auto got =
      server.Collect(names, round, 1, Clock::now() + std::chrono::seconds(task.round_timeout_s));
  std::vector<NodeReport> out;
  for (auto& [node, msg] : got) {
    rapidjson::Document d;
    json::ParseBounded(d, msg.payload);
    if (msg.kind != "evaluation" || d.HasParseError() || !d.IsObject()) continue;
    NodeReport r;
    r.node = node;
    if (const auto* n = json::Find(d, "rows"); n != nullptr && n->IsUint64())
      r.rows = n->GetUint64();
    if (const auto* ms = json::Find(d, "metrics"); ms != nullptr && ms->IsObject()) {
      for (auto it = ms->MemberBegin(); it != ms->MemberEnd(); ++it) {
        double v = it->value.IsNumber() ? it->value.GetDouble() : std::nan("");
        r.metrics.emplace_back(std::string(json::View(it->name)), v);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<CoordinatorResult> RunCoordinator(CoordinatorServer& server, const CoordinatorRun& run) {
  const Task& task = run.task;
  const bool newton = task.strategy.name == StrategyName::kNewton;
  State s;
  s.params = run.initial;
  SUND_ASSIGN_OR_RETURN(auto resumed, LoadCheckpoint(run.checkpoint, task.id, run.initial.size()));
  if (resumed) s = std::move(*resumed);
  std::optional<DpBudget> budget;
  if (task.privacy) {
    SUND_ASSIGN_OR_RETURN(DpBudget b,
                          DpBudget::Create(task.privacy->epsilon, task.privacy->noise_multiplier,
                                           task.privacy->delta));
    budget = std::move(b);
    for (std::uint32_t i = 0; i < s.dp_rounds; ++i) SUND_RETURN_IF_ERROR(budget->ChargeRound());
  }
  RoundRunner runner(server, task);
  CoordinatorResult out;
  out.stopped_because = "rounds";
  std::optional<CoxNewton> cox;
  int failures = 0;
  std::uint32_t attempt = s.round;  // the message number (see below)
  auto wait_for_members = [&]() -> Result<std::vector<Member>> {
    auto members = server.WaitForMembers(static_cast<std::size_t>(task.min_clients),
                                         Clock::now() + run.join_timeout);
    if (members.size() < static_cast<std::size_t>(task.min_clients)) {
      return Status(StatusCode::kUnavailable,
                    "fewer than min_clients nodes joined within the join timeout");
    }
    return members;
  };
  while (s.round < static_cast<std::uint32_t>(task.rounds)) {
    if (budget && !budget->CanRunRound()) {
      out.stopped_because = "privacy budget";
      break;
    }
    SUND_ASSIGN_OR_RETURN(std::vector<Member> members, wait_for_members());
    if (s.round == 0 && members.size() < run.expected) {
      members = server.WaitForMembers(run.expected, Clock::now() + run.gather);
    }
    // Leave out nodes that have stopped polling (dead, or gone): each would cost a round its
    // timeout. A node that comes back polls again and is chosen again.
    if (auto active = server.ActiveMembers(std::chrono::seconds(task.round_timeout_s));
        active.size() >= static_cast<std::size_t>(task.min_clients)) {
      members = std::move(active);
    }
    auto start = Clock::now();
    std::uint32_t round = s.round + 1;
    // Messages carry a number of their own that grows with every attempt: a round run again
    // after a failure must not reuse the failed attempt's (round, step) keys, which the nodes
    // that got further have already passed.
    const std::uint32_t wire = ++attempt;
    std::uint64_t setup_bytes = 0;
    if (newton && std::any_of(members.begin(), members.end(),
                              [&](const Member& m) { return !s.grid_nodes.count(m.node); })) {
      // A node whose event times the grid lacks (at the start: all of them).
      if (auto st = CollectEventTimes(server, task, members, wire, s, setup_bytes); !st.ok()) {
        if (++failures > 5) return st;
        continue;
      }
      cox.reset();
    }
    if (newton && !cox) {
      FitOptions fo;
      fo.max_iterations = task.rounds;
      cox.emplace(s.params.size(), s.grid, task.model.l2, fo, s.params);
    }
    std::vector<Member> chosen = ChooseNodes(task, members, s.round);
    double max_rows = 1;
    for (const auto& m : chosen) max_rows = std::max(max_rows, static_cast<double>(m.samples));
    Result<Collected> got = Status(StatusCode::kUnavailable, "");
    if (newton) {
      got = runner.Run(wire, chosen, Pack(Serialize(cox->beta()), Serialize(s.grid)),
                       CoxRiskSetSumsSize(s.params.size(), s.grid.size()), kCoxSumBound * max_rows,
                       static_cast<std::uint32_t>(chosen.size()));
    } else {
      got = runner.Run(wire, chosen, Serialize(s.params),
                       s.params.size() + 1 + (task.privacy ? 0 : kMetricSlots),
                       UpdateBound(task, task.privacy ? 1.0 : max_rows),
                       static_cast<std::uint32_t>(task.min_clients));
    }
    if (!got.ok()) {
      if (++failures > 5) return got.status();
      continue;  // run the round again (with whoever is there now)
    }
    failures = 0;
    RoundLog log;
    if (newton) {
      Params before = cox->beta();
      SUND_RETURN_IF_ERROR(cox->Update(got->sum));
      s.params = cox->beta();
      Params step = s.params;
      AddScaled(step, before, -1.0);
      log.update_norm = L2Norm(step);
      log.loss = cox->loss();
    } else {
      const std::size_t p = s.params.size();
      double weight = got->sum[p];
      if (!(weight > 0)) return Internal("a round's total weight is not positive");
      Params delta(got->sum.begin(), got->sum.begin() + static_cast<std::ptrdiff_t>(p));
      for (double& d : delta) d /= weight;
      if (!task.privacy) {
        log.loss = Ratio(got->sum[p + 1], got->sum[p + 2]);
        log.accuracy = Ratio(got->sum[p + 3], got->sum[p + 4]);
      }
      switch (task.strategy.name) {
        case StrategyName::kFedAvg:
        case StrategyName::kFedProx:
        case StrategyName::kNewton:
          AddScaled(s.params, delta, 1.0);
          break;
        case StrategyName::kFedAdam: {
          const auto& st = task.strategy;
          if (s.m.size() != delta.size()) {
            s.m.assign(delta.size(), 0.0);
            s.v.assign(delta.size(), 0.0);
          }
          for (std::size_t i = 0; i < delta.size(); ++i) {
            s.m[i] = st.beta1 * s.m[i] + (1 - st.beta1) * delta[i];
            s.v[i] = st.beta2 * s.v[i] + (1 - st.beta2) * delta[i] * delta[i];
            s.params[i] += st.server_learning_rate * s.m[i] / (std::sqrt(s.v[i]) + st.tau);
          }
          break;
        }
      }
      log.update_norm = L2Norm(delta);
    }
    if (budget) {
      SUND_RETURN_IF_ERROR(budget->ChargeRound());
      ++s.dp_rounds;
    }
    s.round = round;
    SUND_RETURN_IF_ERROR(SaveCheckpoint(run.checkpoint, task.id, s));
    log.round = round;
    log.selected = chosen.size();
    log.contributed = got->contributed;
    log.dropped = chosen.size() - got->contributed;
    log.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    log.bytes_to_nodes = got->bytes_out;
    log.bytes_from_nodes = got->bytes_in + setup_bytes;
    log.epsilon = budget ? budget->epsilon_spent() : 0;
    if (run.on_round) run.on_round(log, s.params);
    if (cox && cox->done()) {
      out.stopped_because = cox->converged() ? "converged" : "iterations";
      break;
    }
  }
  out.nodes = CollectEvaluations(server, task, ++attempt, s.params);
  server.Finish(Serialize(s.params));
  out.params = s.params;
  out.rounds = s.round;
  out.epsilon = budget ? budget->epsilon_spent() : 0;
  return out;
}

// --- The node ------------------------------------------------------------------------------------

namespace {

// The node's update vector [weight * delta, weight], clipped (and noised under DP).
Result<Params> UpdateVector(const Task& task, const Params& global, const Params& local,
                            double samples, std::uint32_t noise_shares, SplitMix64& seeds) {
  Params delta = local;
  AddScaled(delta, global, -1.0);
  double weight = samples;
  if (task.privacy) {
    Rng rng(seeds.Next());
    SUND_RETURN_IF_ERROR(
        ClipAndNoise(delta, task.privacy->clip, task.privacy->noise_multiplier, rng, noise_shares)
            .status());
    weight = 1;
  } else {
    for (double& d : delta) d = std::clamp(d, -kPlainClip, kPlainClip);
  }
  for (double& d : delta) d *= weight;
  delta.push_back(weight);
  return delta;
}

// What a node adds to a round's sum, from the round's payload: newton's risk-set sums at the
// coordinator's beta on its grid, or the FedAvg update vector with the global model's metrics.
Result<Params> Contribution(const Task& task, LocalLearner& learner, std::string_view payload,
                            std::uint32_t round, std::uint32_t noise_shares, SplitMix64& seeds) {
  if (task.strategy.name == StrategyName::kNewton) {
    SUND_ASSIGN_OR_RETURN(auto parts, Unpack(payload));
    SUND_ASSIGN_OR_RETURN(Params beta, Deserialize(parts.first));
    SUND_ASSIGN_OR_RETURN(Params grid, Deserialize(parts.second));
    return learner.RiskSetSums(beta, grid);
  }
  SUND_ASSIGN_OR_RETURN(Params global, Deserialize(payload));
  const auto rows = static_cast<double>(learner.samples());
  Metrics before = task.privacy ? Metrics{} : learner.Evaluate(global);
  SUND_ASSIGN_OR_RETURN(Params local, learner.Train(global, round));
  SUND_ASSIGN_OR_RETURN(Params v, UpdateVector(task, global, local, rows, noise_shares, seeds));
  if (!task.privacy) AppendMetrics(v, before, rows);
  return v;
}

std::string EvaluationJson(std::uint64_t rows, const Metrics& metrics) {
  return "{\"rows\":" + std::to_string(rows) + ",\"metrics\":" + MetricsJson(metrics) + "}";
}

}  // namespace

namespace {

// What a node does at each step, whatever the rounds compute.
struct NodeSteps {
  std::string id;  // the task or query id (secure aggregation's session)
  std::uint64_t samples = 0;
  // The vector the node adds to a summing round, from the round's payload; `noise_shares` is
  // how many nodes' noise the sum will carry at least (DP).
  std::function<Result<Params>(std::string_view payload, std::uint32_t round,
                               std::uint32_t noise_shares)>
      contribute;
  // Coordinate check before masking (an error stops the node rather than send a clamped sum).
  std::function<Status(const Params&, double bound)> check = [](const Params&, double) {
    return Status::Ok();
  };
  // Other step kinds: the reply (kind "" to leave the step to its deadline).
  std::function<Result<Message>(const Message&)> other;
};

// Joins, answers every step until the coordinator says done, and returns the done payload.
Result<std::string> RunNodeSteps(NodeClient& client, const NodeRun& run, const NodeSteps& steps) {
  std::uint32_t after_round = 0, after_step = 0;
  std::map<std::uint32_t, SecAggClient> secagg;  // by round
  std::map<std::uint32_t, RoundHeader> headers;
  int rejoins = 0;
  // The coordinator restarted (or is restarting): a fresh channel, join again and carry on.
  // OK when the caller should go on; the error when it is not worth trying again.
  auto rejoin = [&](const Status& failed) -> Status {
    if ((failed.code() != StatusCode::kNotFound && failed.code() != StatusCode::kUnavailable) ||
        ++rejoins > run.max_rejoins) {
      return failed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    SUND_RETURN_IF_ERROR(client.Reconnect());
    auto again = client.Join(run.task_id, run.fingerprint, steps.samples);
    if (again.ok()) {
      // A restarted coordinator numbers its messages from its checkpoint again.
      secagg.clear();
      after_round = after_step = 0;
      rejoins = 0;
    }
    return Status::Ok();
  };
  for (;;) {
    auto next = client.Next(after_round, after_step);
    if (!next.ok()) {
      SUND_RETURN_IF_ERROR(rejoin(next.status()));
      continue;
    }
    Message& m = *next;
    if (m.kind == "wait") continue;
    if (m.kind == "done") return std::move(m.payload);
    after_round = m.round;
    after_step = m.step;
    Message reply{m.round, m.step, "", ""};
    if (m.kind == "train") {
      SUND_ASSIGN_OR_RETURN(Params v, steps.contribute(m.payload, m.round, 1));
      reply.kind = "update";
      reply.payload = Serialize(v);
    } else if (m.kind == "secagg-start") {
      SUND_ASSIGN_OR_RETURN(RoundHeader h, ParseHeader(m.payload));
      SecAggConfig cfg{steps.id, h.round, h.threshold, h.vector_length};
      SUND_ASSIGN_OR_RETURN(SecAggClient c, SecAggClient::Create(cfg, h.id));
      SUND_ASSIGN_OR_RETURN(AdvertiseKeysMsg keys, c.AdvertiseKeys());
      secagg.erase(h.round);
      secagg.emplace(h.round, std::move(c));
      headers[h.round] = h;
      reply.kind = "secagg-keys";
      reply.payload = keys.Serialize();
    } else if (m.kind == "secagg-keys") {
      auto it = secagg.find(m.round);
      if (it == secagg.end()) continue;  // a round this node did not start: sit it out
      SUND_ASSIGN_OR_RETURN(KeyListMsg keys, KeyListMsg::Parse(m.payload));
      SUND_ASSIGN_OR_RETURN(ShareKeysMsg shares, it->second.ShareKeys(keys));
      reply.kind = "secagg-shares";
      reply.payload = shares.Serialize();
    } else if (m.kind == "secagg-train") {
      auto it = secagg.find(m.round);
      if (it == secagg.end()) continue;
      const RoundHeader& h = headers[m.round];
      SUND_ASSIGN_OR_RETURN(auto parts, Unpack(m.payload));
      SUND_ASSIGN_OR_RETURN(SharesRelayMsg relay, SharesRelayMsg::Parse(parts.first));
      SUND_ASSIGN_OR_RETURN(Params v, steps.contribute(parts.second, m.round, h.threshold));
      SUND_RETURN_IF_ERROR(steps.check(v, h.bound));
      SUND_ASSIGN_OR_RETURN(FixedPointCodec codec, FixedPointCodec::ForBound(h.bound, h.nodes));
      SUND_ASSIGN_OR_RETURN(auto encoded, codec.Encode(v));
      SUND_ASSIGN_OR_RETURN(MaskedInputMsg masked, it->second.MaskedInput(relay, encoded));
      reply.kind = "secagg-masked";
      reply.payload = masked.Serialize();
    } else if (m.kind == "secagg-unmask") {
      auto it = secagg.find(m.round);
      if (it == secagg.end()) continue;
      SUND_ASSIGN_OR_RETURN(UnmaskRequestMsg req, UnmaskRequestMsg::Parse(m.payload));
      SUND_ASSIGN_OR_RETURN(UnmaskResponseMsg resp, it->second.Unmasking(req));
      reply.kind = "secagg-unmask";
      reply.payload = resp.Serialize();
      secagg.erase(it);
      headers.erase(m.round);
    } else {
      SUND_ASSIGN_OR_RETURN(reply, steps.other(m));
      if (reply.kind.empty()) continue;  // a step kind this node does not know: leave it
    }
    if (Status sent = client.Submit(reply); !sent.ok()) {
      SUND_RETURN_IF_ERROR(rejoin(sent));  // the answer is lost; the coordinator runs it again
    }
  }
}

}  // namespace

std::string MetricsJson(const Metrics& metrics) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [name, value] : metrics) {
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    std::isfinite(value) ? w.Double(value) : w.Null();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<Params> RunNode(NodeClient& client, LocalLearner& learner, const NodeRun& run) {
  SUND_ASSIGN_OR_RETURN(JoinResult joined,
                        client.Join(run.task_id, run.fingerprint, learner.samples()));
  SUND_ASSIGN_OR_RETURN(TaskEnvelope envelope, ParseTaskEnvelope(joined.task_json));
  const Task task = envelope.task;
  SplitMix64 seeds(SplitMix64::StreamSeed(run.seed, task.seed));
  NodeSteps steps;
  steps.id = task.id;
  steps.samples = learner.samples();
  steps.contribute = [&](std::string_view payload, std::uint32_t round,
                         std::uint32_t noise_shares) {
    return Contribution(task, learner, payload, round, noise_shares, seeds);
  };
  if (task.strategy.name == StrategyName::kNewton) {
    steps.check = [](const Params& v, double bound) -> Status {
      if (std::any_of(v.begin(), v.end(), [&](double x) { return std::abs(x) > bound; })) {
        return InvalidArgument(
            "this node's risk-set sums exceed the secure-aggregation bound (a very large "
            "exp(x'b)); standardise the features or use l2");
      }
      return Status::Ok();
    };
  }
  steps.other = [&](const Message& m) -> Result<Message> {
    Message reply{m.round, m.step, "", ""};
    if (m.kind == "cox-times") {
      SUND_ASSIGN_OR_RETURN(Params times, learner.EventTimes());
      reply.kind = "cox-times";
      reply.payload = Serialize(times);
    } else if (m.kind == "evaluate") {
      SUND_ASSIGN_OR_RETURN(Params params, Deserialize(m.payload));
      reply.kind = "evaluation";
      reply.payload = EvaluationJson(learner.samples(), learner.Evaluate(params));
    }
    return reply;
  };
  SUND_ASSIGN_OR_RETURN(std::string done, RunNodeSteps(client, run, steps));
  return Deserialize(done);
}

// --- Federated statistics ------------------------------------------------------------------

namespace {

using KeyLists = std::vector<std::vector<std::string>>;  // per query, sorted

std::string KeysJson(const KeyLists& keys, int exponent) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("keys");
  w.StartArray();
  for (const auto& q : keys) {
    w.StartArray();
    for (const auto& k : q) w.String(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.EndArray();
  }
  w.EndArray();
  w.Key("exponent");
  w.Int(exponent);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<std::pair<KeyLists, int>> ParseKeys(std::string_view text, std::size_t queries) {
  rapidjson::Document d;
  json::ParseBounded(d, text);
  const auto* k = d.IsObject() ? json::Find(d, "keys") : nullptr;
  const auto* e = d.IsObject() ? json::Find(d, "exponent") : nullptr;
  if (k == nullptr || !k->IsArray() || k->Size() != queries || e == nullptr || !e->IsInt() ||
      e->GetInt() < 0 || e->GetInt() > 62) {
    return InvalidArgument("stats: a bad key list");
  }
  KeyLists out;
  for (const auto& q : k->GetArray()) {
    if (!q.IsArray()) return InvalidArgument("stats: a bad key list");
    auto& list = out.emplace_back();
    for (const auto& key : q.GetArray()) {
      if (!key.IsString()) return InvalidArgument("stats: a bad key list");
      list.emplace_back(json::View(key));
    }
  }
  return std::make_pair(std::move(out), e->GetInt());
}

// The smallest e with every |value| <= 2^e.
int Exponent(const LocalStats& s) {
  double most = 1;
  for (const auto& q : s.sums) {
    for (const auto& [key, v] : q) most = std::max(most, std::abs(v));
  }
  return std::clamp(static_cast<int>(std::ceil(std::log2(most))), 0, 62);
}

std::size_t KeyCount(const KeyLists& keys) {
  std::size_t n = 0;
  for (const auto& q : keys) n += q.size();
  return n;
}

bool IsCount(const std::string& key) { return key != "sum" && key != "sumsq"; }

}  // namespace

std::string StatsEnvelopeJson(const StatsRun& run) {
  return "{\"stats\":" + run.query_json +
         ",\"secure_aggregation\":" + (run.secure_aggregation ? "true" : "false") + "}";
}

Result<std::optional<StatsRequest>> ParseStatsEnvelope(std::string_view text) {
  rapidjson::Document d;
  json::ParseBounded(d, text);
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("not a JSON object");
  const auto* q = json::Find(d, "stats");
  if (q == nullptr) return std::optional<StatsRequest>();
  SUND_ASSIGN_OR_RETURN(StatsRequest r, ParseStatsRequest(json::Serialize(*q)));
  return std::optional<StatsRequest>(std::move(r));
}

Result<StatsResult> RunStatsCoordinator(CoordinatorServer& server, const StatsRun& run) {
  const std::size_t queries = run.request.queries.size();
  // The summing rounds run as a task of the query's id.
  Task task;
  task.id = run.request.id;
  task.secure_aggregation = run.secure_aggregation;
  task.round_timeout_s = run.timeout_s;
  task.min_clients = run.min_nodes;
  RoundRunner runner(server, task);
  for (int attempt = 1;; ++attempt) {
    auto members = server.WaitForMembers(static_cast<std::size_t>(run.min_nodes),
                                         Clock::now() + run.join_timeout);
    if (members.size() < static_cast<std::size_t>(run.min_nodes)) {
      return Status(StatusCode::kUnavailable,
                    "fewer than the minimum number of nodes joined within the join timeout");
    }
    if (attempt == 1 && members.size() < run.expected) {
      members = server.WaitForMembers(run.expected, Clock::now() + run.gather);
    }
    // Round 2k-1: the keys; round 2k: the sums (a retry takes the next pair).
    auto round = static_cast<std::uint32_t>(2 * attempt - 1);
    std::set<std::string> names;
    for (const auto& m : members) {
      server.Post(m.node, {round, 1, "stats-keys", ""});
      names.insert(m.node);
    }
    auto got = server.Collect(names, round, 1, Clock::now() + std::chrono::seconds(run.timeout_s));
    std::vector<std::set<std::string>> merged(queries);
    int exponent = 0;
    std::vector<Member> answered;
    for (const auto& m : members) {
      auto it = got.find(m.node);
      if (it == got.end() || it->second.kind != "stats-keys") continue;
      auto keys = ParseKeys(it->second.payload, queries);
      if (!keys.ok()) continue;
      for (std::size_t q = 0; q < queries; ++q) {
        merged[q].insert(keys->first[q].begin(), keys->first[q].end());
      }
      exponent = std::max(exponent, keys->second);
      answered.push_back(m);
    }
    if (answered.size() < static_cast<std::size_t>(run.min_nodes)) {
      if (attempt >= 5) return Status(StatusCode::kUnavailable, "too few nodes answered");
      continue;
    }
    KeyLists keys;
    for (auto& q : merged) keys.emplace_back(q.begin(), q.end());
    const std::size_t length = std::max<std::size_t>(1, KeyCount(keys));
    auto sums = runner.Run(round + 1, answered, KeysJson(keys, exponent), length,
                           std::ldexp(1.0, exponent), static_cast<std::uint32_t>(run.min_nodes));
    if (!sums.ok()) {
      if (attempt >= 5) return sums.status();
      continue;
    }
    LocalStats total;
    total.sums.resize(queries);
    std::size_t i = 0;
    for (std::size_t q = 0; q < queries; ++q) {
      for (const auto& key : keys[q]) {
        double v = sums->sum[i++];
        total.sums[q][key] = IsCount(key) ? std::round(v) : v;  // fixed point: exact to rounding
      }
    }
    StatsResult out;
    out.nodes = sums->contributed;
    out.json = ReleaseStats(std::move(total), run.request);
    out.json.insert(out.json.size() - 1, ",\"nodes\":" + std::to_string(out.nodes));
    server.Finish(out.json);
    return out;
  }
}

Result<std::string> RunStatsNode(NodeClient& client, const CsvTable& table,
                                 const StatsRequest& request, const NodeRun& run) {
  SUND_ASSIGN_OR_RETURN(LocalStats local, ComputeLocalStats(table, request));
  NodeRun joined = run;
  // Never empty: a join with no rows and no fingerprint reads as a description request.
  if (joined.fingerprint.empty()) joined.fingerprint = "stats";
  SUND_RETURN_IF_ERROR(client.Join(joined.task_id, joined.fingerprint, table.rows.size()).status());
  NodeSteps steps;
  steps.id = request.id;
  steps.samples = table.rows.size();
  steps.contribute = [&](std::string_view payload, std::uint32_t, std::uint32_t) -> Result<Params> {
    SUND_ASSIGN_OR_RETURN(auto keys, ParseKeys(payload, request.queries.size()));
    Params v;
    for (std::size_t q = 0; q < keys.first.size(); ++q) {
      for (const auto& key : keys.first[q]) {
        auto it = local.sums[q].find(key);
        v.push_back(it == local.sums[q].end() ? 0.0 : it->second);
      }
    }
    if (v.empty()) v.push_back(0);
    return v;
  };
  steps.other = [&](const Message& m) -> Result<Message> {
    Message reply{m.round, m.step, "", ""};
    if (m.kind == "stats-keys") {
      KeyLists keys;
      for (const auto& q : local.sums) {
        auto& list = keys.emplace_back();
        for (const auto& [key, v] : q) list.push_back(key);
      }
      reply.kind = "stats-keys";
      reply.payload = KeysJson(keys, Exponent(local));
    }
    return reply;
  };
  return RunNodeSteps(client, joined, steps);
}

}  // namespace sund::fl
