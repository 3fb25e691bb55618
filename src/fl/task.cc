#include "fl/task.h"

#include <cmath>
#include <cstdio>
#include <initializer_list>

#include "core/file_reader.h"
#include "core/json.h"
#include "core/json_bounded.h"
#include "fl/certs.h"

namespace sund::fl {
namespace {

using Value = rapidjson::Value;

Status Bad(std::string_view path, std::string_view what) {
  return InvalidArgument("task: " + std::string(path) + ": " + std::string(what));
}

// Unknown keys are errors.
Status OnlyKeys(const Value& obj, std::string_view path, std::initializer_list<const char*> keys) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string_view k = json::View(it->name);
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    if (!known) {
      return Bad(path.empty() ? k : std::string(path) + "." + std::string(k), "unknown key");
    }
  }
  return Status::Ok();
}

Status String(const Value& obj, const char* key, std::string& out, bool required) {
  const Value* v = json::Find(obj, key);
  if (v == nullptr) return required ? Bad(key, "required") : Status::Ok();
  if (!v->IsString() || v->GetStringLength() == 0) return Bad(key, "must be a non-empty string");
  out = std::string(json::View(*v));
  return Status::Ok();
}

Status Number(const Value& obj, std::string_view path, const char* key, double& out, double lo,
              double hi) {
  const Value* v = json::Find(obj, key);
  if (v == nullptr) return Status::Ok();
  std::string p = path.empty() ? key : std::string(path) + "." + key;
  if (!v->IsNumber() || !std::isfinite(v->GetDouble()) || v->GetDouble() < lo ||
      v->GetDouble() > hi) {
    char range[96];
    std::snprintf(range, sizeof range, "must be a number in [%g, %g]", lo, hi);
    return Bad(p, range);
  }
  out = v->GetDouble();
  return Status::Ok();
}

Status Int(const Value& obj, std::string_view path, const char* key, int& out, int lo, int hi) {
  const Value* v = json::Find(obj, key);
  if (v == nullptr) return Status::Ok();
  std::string p = path.empty() ? key : std::string(path) + "." + key;
  if (!v->IsInt() || v->GetInt() < lo || v->GetInt() > hi) {
    return Bad(
        p, "must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  out = v->GetInt();
  return Status::Ok();
}

}  // namespace

std::string_view ModelTypeName(ModelType t) {
  switch (t) {
    case ModelType::kLogistic:
      return "logistic";
    case ModelType::kMlp:
      return "mlp";
    case ModelType::kCox:
      return "cox";
  }
  return "logistic";
}

std::string_view StrategyNameText(StrategyName s) {
  switch (s) {
    case StrategyName::kFedAvg:
      return "fedavg";
    case StrategyName::kFedProx:
      return "fedprox";
    case StrategyName::kFedAdam:
      return "fedadam";
    case StrategyName::kNewton:
      return "newton";
  }
  return "fedavg";
}

Result<Task> ParseTask(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("task: not a JSON object");
  SUND_RETURN_IF_ERROR(OnlyKeys(
      doc, "",
      {"id", "model", "features", "target", "positive", "time", "event", "strategy", "local",
       "rounds", "clients_per_round", "min_clients", "min_samples", "round_timeout_s",
       "secure_aggregation", "privacy", "seed", "description", "where"}));
  Task t;
  SUND_RETURN_IF_ERROR(String(doc, "id", t.id, true));
  if (!ValidNodeName(t.id)) return Bad("id", "letters, digits, '.', '_' or '-' (1-64)");

  const Value* model = json::Find(doc, "model");
  if (model == nullptr || !model->IsObject()) return Bad("model", "required, an object");
  SUND_RETURN_IF_ERROR(OnlyKeys(*model, "model", {"type", "hidden", "activation", "l2"}));
  std::string type;
  SUND_RETURN_IF_ERROR(String(*model, "type", type, true));
  if (type == "logistic") {
    t.model.type = ModelType::kLogistic;
  } else if (type == "mlp") {
    t.model.type = ModelType::kMlp;
  } else if (type == "cox") {
    t.model.type = ModelType::kCox;
  } else {
    return Bad("model.type", "logistic, mlp or cox");
  }
  SUND_RETURN_IF_ERROR(Number(*model, "model", "l2", t.model.l2, 0, 1e6));
  if (const Value* h = json::Find(*model, "hidden"); h != nullptr) {
    if (t.model.type != ModelType::kMlp) return Bad("model.hidden", "only for an mlp");
    if (!h->IsArray() || h->Empty() || h->Size() > 4) return Bad("model.hidden", "1 to 4 layers");
    for (const auto& n : h->GetArray()) {
      if (!n.IsInt() || n.GetInt() < 1 || n.GetInt() > 4096) {
        return Bad("model.hidden", "layer sizes 1..4096");
      }
      t.model.hidden.push_back(n.GetInt());
    }
  } else if (t.model.type == ModelType::kMlp) {
    t.model.hidden = {16};
  }
  SUND_RETURN_IF_ERROR(String(*model, "activation", t.model.activation, false));
  if (t.model.activation != "relu" && t.model.activation != "tanh") {
    return Bad("model.activation", "relu or tanh");
  }

  const Value* features = json::Find(doc, "features");
  if (features == nullptr || !features->IsArray() || features->Empty()) {
    return Bad("features", "required, a non-empty list of column names");
  }
  for (const auto& f : features->GetArray()) {
    if (!f.IsString() || f.GetStringLength() == 0) return Bad("features", "names are strings");
    t.features.emplace_back(json::View(f));
  }
  if (t.model.type == ModelType::kCox) {
    SUND_RETURN_IF_ERROR(String(doc, "time", t.time, true));
    SUND_RETURN_IF_ERROR(String(doc, "event", t.event, true));
    if (json::Find(doc, "target") != nullptr) return Bad("target", "a cox task has time and event");
  } else {
    SUND_RETURN_IF_ERROR(String(doc, "target", t.target, true));
    SUND_RETURN_IF_ERROR(String(doc, "positive", t.positive, true));
  }
  for (const auto& f : t.features) {
    if (f == t.target || f == t.time || f == t.event) {
      return Bad("features", "'" + f + "' is also the target");
    }
  }

  if (const Value* s = json::Find(doc, "strategy"); s != nullptr) {
    if (!s->IsObject()) return Bad("strategy", "an object");
    SUND_RETURN_IF_ERROR(
        OnlyKeys(*s, "strategy", {"name", "mu", "server_learning_rate", "beta1", "beta2", "tau"}));
    std::string name;
    SUND_RETURN_IF_ERROR(String(*s, "name", name, true));
    if (name == "fedavg") {
      t.strategy.name = StrategyName::kFedAvg;
    } else if (name == "fedprox") {
      t.strategy.name = StrategyName::kFedProx;
      t.strategy.mu = 0.01;
    } else if (name == "fedadam") {
      t.strategy.name = StrategyName::kFedAdam;
    } else if (name == "newton") {
      if (t.model.type != ModelType::kCox) return Bad("strategy.name", "newton is for cox models");
      t.strategy.name = StrategyName::kNewton;
    } else {
      return Bad("strategy.name", "fedavg, fedprox, fedadam or newton");
    }
    SUND_RETURN_IF_ERROR(Number(*s, "strategy", "mu", t.strategy.mu, 0, 1e3));
    SUND_RETURN_IF_ERROR(
        Number(*s, "strategy", "server_learning_rate", t.strategy.server_learning_rate, 1e-9, 10));
    SUND_RETURN_IF_ERROR(Number(*s, "strategy", "beta1", t.strategy.beta1, 0, 0.9999));
    SUND_RETURN_IF_ERROR(Number(*s, "strategy", "beta2", t.strategy.beta2, 0, 0.9999999));
    SUND_RETURN_IF_ERROR(Number(*s, "strategy", "tau", t.strategy.tau, 1e-12, 1));
    if (json::Find(*s, "mu") != nullptr && t.strategy.name != StrategyName::kFedProx) {
      return Bad("strategy.mu", "only for fedprox");
    }
  }
  if (const Value* w = json::Find(doc, "where"); w != nullptr) {
    if (!w->IsObject()) return Bad("where", "an object of column: value");
    for (auto it = w->MemberBegin(); it != w->MemberEnd(); ++it) {
      if (!it->value.IsString()) return Bad("where", "values are strings");
      t.where.emplace_back(std::string(json::View(it->name)), std::string(json::View(it->value)));
    }
  }
  if (const Value* l = json::Find(doc, "local"); l != nullptr) {
    if (!l->IsObject()) return Bad("local", "an object");
    SUND_RETURN_IF_ERROR(
        OnlyKeys(*l, "local", {"epochs", "batch_size", "learning_rate", "optimizer"}));
    SUND_RETURN_IF_ERROR(Int(*l, "local", "epochs", t.local.epochs, 1, 1000));
    SUND_RETURN_IF_ERROR(Int(*l, "local", "batch_size", t.local.batch_size, 1, 1 << 20));
    SUND_RETURN_IF_ERROR(Number(*l, "local", "learning_rate", t.local.learning_rate, 1e-9, 100));
    SUND_RETURN_IF_ERROR(String(*l, "optimizer", t.local.optimizer, false));
    if (t.local.optimizer != "sgd" && t.local.optimizer != "adam") {
      return Bad("local.optimizer", "sgd or adam");
    }
  }
  SUND_RETURN_IF_ERROR(Int(doc, "", "rounds", t.rounds, 1, 10000));
  SUND_RETURN_IF_ERROR(Int(doc, "", "clients_per_round", t.clients_per_round, 1, 10000));
  SUND_RETURN_IF_ERROR(Int(doc, "", "min_clients", t.min_clients, 1, 10000));
  SUND_RETURN_IF_ERROR(Int(doc, "", "min_samples", t.min_samples, 1, 1 << 30));
  SUND_RETURN_IF_ERROR(Int(doc, "", "round_timeout_s", t.round_timeout_s, 1, 86400));
  if (const Value* sa = json::Find(doc, "secure_aggregation"); sa != nullptr) {
    if (!sa->IsBool()) return Bad("secure_aggregation", "true or false");
    t.secure_aggregation = sa->GetBool();
  }
  if (t.min_clients > t.clients_per_round) {
    return Bad("min_clients", "must not exceed clients_per_round");
  }
  if (t.min_clients < 2 || (t.secure_aggregation && t.min_clients < 3)) {
    return Bad("min_clients",
               "at least 2, and 3 with secure aggregation (one node's update alone is no "
               "aggregate)");
  }
  if (const Value* p = json::Find(doc, "privacy"); p != nullptr) {
    if (!p->IsObject()) return Bad("privacy", "an object");
    SUND_RETURN_IF_ERROR(OnlyKeys(*p, "privacy", {"clip", "noise_multiplier", "epsilon", "delta"}));
    PrivacySpec ps;
    SUND_RETURN_IF_ERROR(Number(*p, "privacy", "clip", ps.clip, 1e-9, 1e9));
    SUND_RETURN_IF_ERROR(Number(*p, "privacy", "noise_multiplier", ps.noise_multiplier, 0, 1e3));
    SUND_RETURN_IF_ERROR(Number(*p, "privacy", "epsilon", ps.epsilon, 1e-6, 1e3));
    SUND_RETURN_IF_ERROR(Number(*p, "privacy", "delta", ps.delta, 1e-15, 0.1));
    t.privacy = ps;
    if (t.strategy.name == StrategyName::kNewton) {
      return Bad("privacy", "the newton strategy has no differential privacy (use fedavg)");
    }
  }
  if (const Value* seed = json::Find(doc, "seed"); seed != nullptr) {
    if (!seed->IsUint64()) return Bad("seed", "a whole number >= 0");
    t.seed = seed->GetUint64();
  }
  return t;
}

Result<Task> ReadTaskFile(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(path));
  auto t = ParseTask(text);
  if (!t.ok()) return InvalidArgument(path + ": " + t.status().message());
  return t;
}

std::string TaskToJson(const Task& t) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const char* k, std::string_view v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  str("id", t.id);
  w.Key("model");
  w.StartObject();
  str("type", ModelTypeName(t.model.type));
  if (t.model.type == ModelType::kMlp) {
    w.Key("hidden");
    w.StartArray();
    for (int h : t.model.hidden) w.Int(h);
    w.EndArray();
    str("activation", t.model.activation);
  }
  w.Key("l2");
  w.Double(t.model.l2);
  w.EndObject();
  w.Key("features");
  w.StartArray();
  for (const auto& f : t.features) w.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
  w.EndArray();
  if (t.model.type == ModelType::kCox) {
    str("time", t.time);
    str("event", t.event);
  } else {
    str("target", t.target);
    str("positive", t.positive);
  }
  if (!t.where.empty()) {
    w.Key("where");
    w.StartObject();
    for (const auto& [column, value] : t.where) str(column.c_str(), value);
    w.EndObject();
  }
  w.Key("strategy");
  w.StartObject();
  str("name", StrategyNameText(t.strategy.name));
  if (t.strategy.name == StrategyName::kFedProx) {
    w.Key("mu");
    w.Double(t.strategy.mu);
  }
  if (t.strategy.name == StrategyName::kFedAdam) {
    w.Key("server_learning_rate");
    w.Double(t.strategy.server_learning_rate);
    w.Key("beta1");
    w.Double(t.strategy.beta1);
    w.Key("beta2");
    w.Double(t.strategy.beta2);
    w.Key("tau");
    w.Double(t.strategy.tau);
  }
  w.EndObject();
  w.Key("local");
  w.StartObject();
  w.Key("epochs");
  w.Int(t.local.epochs);
  w.Key("batch_size");
  w.Int(t.local.batch_size);
  w.Key("learning_rate");
  w.Double(t.local.learning_rate);
  str("optimizer", t.local.optimizer);
  w.EndObject();
  w.Key("rounds");
  w.Int(t.rounds);
  w.Key("clients_per_round");
  w.Int(t.clients_per_round);
  w.Key("min_clients");
  w.Int(t.min_clients);
  w.Key("min_samples");
  w.Int(t.min_samples);
  w.Key("round_timeout_s");
  w.Int(t.round_timeout_s);
  w.Key("secure_aggregation");
  w.Bool(t.secure_aggregation);
  if (t.privacy) {
    w.Key("privacy");
    w.StartObject();
    w.Key("clip");
    w.Double(t.privacy->clip);
    w.Key("noise_multiplier");
    w.Double(t.privacy->noise_multiplier);
    w.Key("epsilon");
    w.Double(t.privacy->epsilon);
    w.Key("delta");
    w.Double(t.privacy->delta);
    w.EndObject();
  }
  w.Key("seed");
  w.Uint64(t.seed);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string TaskEnvelopeJson(const Task& task, std::string_view encoding_json) {
  // The encoding travels as a string, byte for byte: its fingerprint is over its exact text.
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.String(encoding_json.data(), static_cast<rapidjson::SizeType>(encoding_json.size()));
  std::string out = "{\"task\":" + TaskToJson(task);
  if (!encoding_json.empty()) out += ",\"encoding\":" + std::string(b.GetString(), b.GetSize());
  out += "}";
  return out;
}

Result<TaskEnvelope> ParseTaskEnvelope(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("task: not a JSON object");
  const Value* task = json::Find(doc, "task");
  if (task == nullptr) {
    SUND_ASSIGN_OR_RETURN(Task t, ParseTask(text));
    return TaskEnvelope{std::move(t), ""};
  }
  auto dump = [](const Value& v) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    v.Accept(w);
    return std::string(b.GetString(), b.GetSize());
  };
  TaskEnvelope e;
  SUND_ASSIGN_OR_RETURN(e.task, ParseTask(dump(*task)));
  if (const Value* enc = json::Find(doc, "encoding"); enc != nullptr) {
    if (!enc->IsString()) return InvalidArgument("task: \"encoding\" must be a string");
    e.encoding = std::string(json::View(*enc));
  }
  return e;
}

}  // namespace sund::fl
