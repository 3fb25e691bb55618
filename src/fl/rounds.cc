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
#include "core/splitmix.h"
#include "fl/fixed_point.h"
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
  d.Parse(text.data(), text.size());
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
};

void WriteNumbers(std::string& out, const Params& x) {
  out += '[';
  char buf[32];
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i > 0) out += ',';
    std::snprintf(buf, sizeof buf, "%.17g", x[i]);
    out += buf;
  }
  out += ']';
}

Status SaveCheckpoint(const std::string& path, const std::string& task_id, const State& s) {
  if (path.empty()) return Status::Ok();
  std::string j = "{\"task\":\"" + task_id + "\",\"round\":" + std::to_string(s.round) +
                  ",\"dp_rounds\":" + std::to_string(s.dp_rounds) + ",\"params\":";
  WriteNumbers(j, s.params);
  j += ",\"m\":";
  WriteNumbers(j, s.m);
  j += ",\"v\":";
  WriteNumbers(j, s.v);
  j += "}\n";
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
  d.Parse(text.data(), text.size());
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

  // One round over `nodes`; kUnavailable when too few answered (the caller runs it again).
  Result<Collected> Run(std::uint32_t round, const std::vector<Member>& nodes,
                        const Params& global) {
    double max_weight = 1;
    for (const auto& m : nodes) max_weight = std::max(max_weight, static_cast<double>(m.samples));
    if (task_.privacy) max_weight = 1;
    RoundHeader h;
    h.round = round;
    h.secure = task_.secure_aggregation;
    h.nodes = static_cast<std::uint32_t>(nodes.size());
    h.bound = UpdateBound(task_, max_weight);
    h.vector_length = global.size() + 1;
    h.threshold = task_.secure_aggregation
                      ? std::max<std::uint32_t>(MajorityThreshold(nodes.size()),
                                                static_cast<std::uint32_t>(task_.min_clients))
                      : static_cast<std::uint32_t>(task_.min_clients);
    return h.secure ? Secure(h, nodes, global) : Plain(h, nodes, global);
  }

 private:
  Clock::time_point Deadline() const {
    return Clock::now() + std::chrono::seconds(task_.round_timeout_s);
  }

  Result<Collected> Plain(const RoundHeader& h, const std::vector<Member>& nodes,
                          const Params& global) {
    Collected c;
    std::string params = Serialize(global);
    std::set<std::string> names;
    for (const auto& m : nodes) {
      c.bytes_out += params.size();
      server_.Post(m.node, {h.round, 1, "train", params});
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
                           const Params& global) {
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
      std::string payload = HeaderJson(mine);
      c.bytes_out += payload.size();
      server_.Post(nodes[i].node, {h.round, 1, "secagg-start", std::move(payload)});
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
    std::string params = Serialize(global);
    names.clear();
    for (const auto& r : relays) {
      names.insert(by_id[r.recipient]);
      std::string payload = Pack(r.Serialize(), params);
      c.bytes_out += payload.size();
      server_.Post(by_id[r.recipient], {h.round, 3, "secagg-train", std::move(payload)});
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

Result<CoordinatorResult> RunCoordinator(CoordinatorServer& server, const CoordinatorRun& run) {
  const Task& task = run.task;
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
  int failures = 0;
  while (s.round < static_cast<std::uint32_t>(task.rounds)) {
    if (budget && !budget->CanRunRound()) {
      out.stopped_because = "privacy budget";
      break;
    }
    auto members = server.WaitForMembers(static_cast<std::size_t>(task.min_clients),
                                         Clock::now() + run.join_timeout);
    if (members.size() < static_cast<std::size_t>(task.min_clients)) {
      return Status(StatusCode::kUnavailable,
                    "fewer than min_clients nodes joined within the join timeout");
    }
    // The nodes of this round: rotate through the members, at most clients_per_round. (Secure
    // aggregation's limit of 2t - 1 nodes holds: t is at least a majority of them.)
    std::size_t want = std::min<std::size_t>(members.size(), task.clients_per_round);
    std::vector<Member> chosen;
    for (std::size_t i = 0; i < want; ++i) {
      chosen.push_back(members[(s.round * want + i) % members.size()]);
    }
    std::sort(chosen.begin(), chosen.end(),
              [](const Member& a, const Member& b) { return a.node < b.node; });
    chosen.erase(std::unique(chosen.begin(), chosen.end(),
                             [](const Member& a, const Member& b) { return a.node == b.node; }),
                 chosen.end());
    auto start = Clock::now();
    std::uint32_t round = s.round + 1;
    auto got = runner.Run(round, chosen, s.params);
    if (!got.ok()) {
      if (++failures > 5) return got.status();
      continue;  // run the round again (with whoever is there now)
    }
    failures = 0;
    double weight = got->sum.back();
    if (!(weight > 0)) return Internal("a round's total weight is not positive");
    Params delta(got->sum.begin(), got->sum.end() - 1);
    for (double& d : delta) d /= weight;
    switch (task.strategy.name) {
      case StrategyName::kFedAvg:
      case StrategyName::kFedProx:
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
    if (budget) {
      SUND_RETURN_IF_ERROR(budget->ChargeRound());
      ++s.dp_rounds;
    }
    s.round = round;
    SUND_RETURN_IF_ERROR(SaveCheckpoint(run.checkpoint, task.id, s));
    RoundLog log;
    log.round = round;
    log.selected = chosen.size();
    log.contributed = got->contributed;
    log.dropped = chosen.size() - got->contributed;
    log.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    log.bytes_to_nodes = got->bytes_out;
    log.bytes_from_nodes = got->bytes_in;
    log.epsilon = budget ? budget->epsilon_spent() : 0;
    log.update_norm = L2Norm(delta);
    if (run.on_round) run.on_round(log, s.params);
  }
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

}  // namespace

Result<Params> RunNode(NodeClient& client, LocalLearner& learner, const NodeRun& run) {
  SUND_ASSIGN_OR_RETURN(JoinResult joined,
                        client.Join(run.task_id, run.fingerprint, learner.samples()));
  SUND_ASSIGN_OR_RETURN(TaskEnvelope envelope, ParseTaskEnvelope(joined.task_json));
  const Task& task = envelope.task;
  SplitMix64 seeds(SplitMix64::StreamSeed(run.seed, task.seed));
  std::uint32_t after_round = 0, after_step = 0;
  std::map<std::uint32_t, SecAggClient> secagg;  // by round
  std::map<std::uint32_t, RoundHeader> headers;
  int rejoins = 0;
  for (;;) {
    auto next = client.Next(after_round, after_step);
    if (!next.ok()) {
      if ((next.status().code() == StatusCode::kNotFound ||
           next.status().code() == StatusCode::kUnavailable) &&
          ++rejoins <= run.max_rejoins) {
        // The coordinator restarted (or is restarting): join again and carry on.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        auto again = client.Join(run.task_id, run.fingerprint, learner.samples());
        if (again.ok()) secagg.clear();
        continue;
      }
      return next.status();
    }
    Message& m = *next;
    if (m.kind == "wait") continue;
    if (m.kind == "done") return Deserialize(m.payload);
    after_round = m.round;
    after_step = m.step;
    Message reply{m.round, m.step, "", ""};
    if (m.kind == "train") {
      SUND_ASSIGN_OR_RETURN(Params global, Deserialize(m.payload));
      SUND_ASSIGN_OR_RETURN(Params local, learner.Train(global, m.round));
      SUND_ASSIGN_OR_RETURN(
          Params v,
          UpdateVector(task, global, local, static_cast<double>(learner.samples()), 1, seeds));
      reply.kind = "update";
      reply.payload = Serialize(v);
    } else if (m.kind == "secagg-start") {
      SUND_ASSIGN_OR_RETURN(RoundHeader h, ParseHeader(m.payload));
      SecAggConfig cfg{task.id, h.round, h.threshold, h.vector_length};
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
      SUND_ASSIGN_OR_RETURN(Params global, Deserialize(parts.second));
      SUND_ASSIGN_OR_RETURN(Params local, learner.Train(global, m.round));
      SUND_ASSIGN_OR_RETURN(
          Params v, UpdateVector(task, global, local, static_cast<double>(learner.samples()),
                                 h.threshold, seeds));
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
      continue;  // a step kind this node does not know: leave it to the deadline
    }
    SUND_RETURN_IF_ERROR(client.Submit(reply));
  }
}

}  // namespace sund::fl
