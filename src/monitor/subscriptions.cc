#include "monitor/subscriptions.h"

#include "core/crypto.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "http/client.h"

namespace sund::monitor {
namespace {

constexpr std::string_view kFilterCriteria =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria";
constexpr std::string_view kPayloadContent =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
constexpr std::string_view kStatusProfile =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
    "backport-subscription-status-r4";

// The valueString/valueCode of the extension `url` in `holder.extension`, or "".
std::string_view ExtensionValue(const rapidjson::Value* holder, std::string_view url) {
  if (holder == nullptr || !holder->IsObject()) return {};
  const rapidjson::Value* list = json::Find(*holder, "extension");
  if (list == nullptr || !list->IsArray()) return {};
  for (const auto& e : list->GetArray()) {
    if (!e.IsObject() || json::GetString(e, "url") != url) continue;
    for (const char* key : {"valueString", "valueCode"}) {
      if (std::string_view v = json::GetString(e, key); !v.empty()) return v;
    }
  }
  return {};
}

// "Flag?patient=Patient/7" (or subject=, with or without "Patient/") -> "7".
std::string PatientOfFilter(std::string_view filter) {
  auto q = filter.find('?');
  std::string_view params = q == std::string_view::npos ? filter : filter.substr(q + 1);
  while (!params.empty()) {
    std::string_view p = params.substr(0, params.find('&'));
    params.remove_prefix(std::min(params.size(), p.size() + 1));
    for (std::string_view name : {"patient=", "subject="}) {
      if (p.starts_with(name)) {
        p.remove_prefix(name.size());
        if (p.starts_with("Patient/")) p.remove_prefix(8);
        return std::string(p);
      }
    }
  }
  return {};
}

// {"name": .., "value<X>": ..} of a Parameters resource.
void WriteParam(fhir::JsonWriter& w, const char* name, const char* key, std::string_view value) {
  w.StartObject();
  w.Key("name");
  w.String(name);
  w.Key(key);
  fhir::WriteString(w, value);
  w.EndObject();
}

struct Notice {
  std::string type;         // handshake | event-notification
  std::int64_t number = 0;  // event number (0 for a handshake)
  std::int64_t time_us = 0;
  std::string focus;  // "Flag/9"
};

}  // namespace

struct Subscriptions::Subscriber {
  std::string id;
  std::string topic;
  std::string patient;     // "" for every patient
  bool websocket = false;  // the websocket channel (else rest-hook)
  http::HttpUrl url;
  http::Headers headers;
  std::vector<std::shared_ptr<http::WebSocket>> sockets;  // bound (websocket channel), under mu
  bool empty_payload = false;
  bool active = false;  // handshake done (or resumed after a restart)
  // The version our own activation wrote: seen again in the feed, it changes nothing.
  std::atomic<std::int64_t> own_version{-1};
  std::int64_t events = 0;  // events since the subscription started (numbers them)
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Notice> queue;
  bool stop = false;
  std::thread thread;
};

namespace {

std::string NotificationBundle(const std::string& base, const Subscriptions::Subscriber& s,
                               const Notice& n, std::int64_t events_since_start,
                               std::int64_t now_us) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  std::string subscription = base + "/Subscription/" + s.id;
  w.StartObject();
  w.Key("resourceType");
  w.String("Bundle");
  w.Key("id");
  fhir::WriteString(w, NewUuid());
  w.Key("type");
  w.String("history");
  w.Key("timestamp");
  fhir::WriteString(w, FormatInstant(now_us));
  w.Key("entry");
  w.StartArray();
  w.StartObject();
  w.Key("fullUrl");
  fhir::WriteString(w, "urn:uuid:" + NewUuid());
  w.Key("resource");
  w.StartObject();
  w.Key("resourceType");
  w.String("Parameters");
  w.Key("meta");
  w.StartObject();
  w.Key("profile");
  w.StartArray();
  fhir::WriteString(w, kStatusProfile);
  w.EndArray();
  w.EndObject();
  w.Key("parameter");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("subscription");
  w.Key("valueReference");
  fhir::WriteReference(w, subscription);
  w.EndObject();
  WriteParam(w, "topic", "valueCanonical", s.topic);
  WriteParam(w, "status", "valueCode", "active");
  WriteParam(w, "type", "valueCode", n.type);
  WriteParam(w, "events-since-subscription-start", "valueString",
             std::to_string(events_since_start));
  if (!n.focus.empty()) {
    w.StartObject();
    w.Key("name");
    w.String("notification-event");
    w.Key("part");
    w.StartArray();
    WriteParam(w, "event-number", "valueString", std::to_string(n.number));
    WriteParam(w, "timestamp", "valueInstant", FormatInstant(n.time_us));
    if (!s.empty_payload) {
      w.StartObject();
      w.Key("name");
      w.String("focus");
      w.Key("valueReference");
      fhir::WriteReference(w, base + "/" + n.focus);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Key("request");
  w.StartObject();
  w.Key("method");
  w.String("GET");
  w.Key("url");
  fhir::WriteString(w, subscription + "/$status");
  w.EndObject();
  w.Key("response");
  w.StartObject();
  w.Key("status");
  w.String("200");
  w.EndObject();
  w.EndObject();
  if (!n.focus.empty() && !s.empty_payload) {  // id-only: the focus's URL, no resource
    w.StartObject();
    w.Key("fullUrl");
    fhir::WriteString(w, base + "/" + n.focus);
    w.Key("request");
    w.StartObject();
    w.Key("method");
    w.String("POST");
    w.Key("url");
    fhir::WriteString(w, n.focus.substr(0, n.focus.find('/')));
    w.EndObject();
    w.Key("response");
    w.StartObject();
    w.Key("status");
    w.String("201");
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// Sets the Subscription's status (and `error`) through a transaction, from its stored JSON;
// `own_version` (when given) learns the version this write makes, before it is written.
Status SetStatus(const SubscriptionsOptions& o, const std::string& id, std::string_view status,
                 std::string_view error, std::atomic<std::int64_t>* own_version = nullptr) {
  SUND_ASSIGN_OR_RETURN(storage::ResourceVersion v, o.store->Read("Subscription", id));
  if (v.deleted) return Status::Ok();
  if (own_version != nullptr) own_version->store(v.version + 1);
  rapidjson::Document doc;
  doc.Parse(v.json.data(), v.json.size());
  if (!doc.IsObject()) return Internal("a stored Subscription is not JSON");
  auto& a = doc.GetAllocator();
  doc.RemoveMember("status");
  doc.AddMember("status",
                rapidjson::Value(status.data(), static_cast<rapidjson::SizeType>(status.size()), a),
                a);
  doc.RemoveMember("error");
  if (!error.empty()) {
    doc.AddMember("error",
                  rapidjson::Value(error.data(), static_cast<rapidjson::SizeType>(error.size()), a),
                  a);
  }
  doc.RemoveMember("meta");
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)" +
                       json::Serialize(doc) + R"(,"request":{"method":"PUT","url":"Subscription/)" +
                       id + R"("}}]})";
  return o.write(std::move(bundle)).status();
}

}  // namespace

Subscriptions::Subscriptions(SubscriptionsOptions options, ChangeFeed& feed)
    : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &SystemClock::Get();
  feed.Listen([this](const Change& change) {
    if (stop_) return;
    if (change.version().type == "Subscription") {
      Consider(change.version());
    } else {
      Event(change);
    }
  });
}

Subscriptions::~Subscriptions() { Stop(); }

Status Subscriptions::Start() {
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q,
                        fhir::ParseSearch(fhir::Model::R4(), "Subscription", {}, true));
  q.count = 10'000;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage subs, options_.store->Search(q));
  for (const auto& s : subs.matches) {
    storage::ResourceVersion v;
    v.type = "Subscription";
    v.id = s.id;
    v.json = s.json;
    Consider(v);
  }
  return Status::Ok();
}

// Stop the feed first: its thread may be inside Consider or Event.
void Subscriptions::Stop() {
  if (stop_.exchange(true)) return;
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, s] : subscribers_) ids.push_back(id);
  }
  for (const auto& id : ids) Remove(id);
}

SubscriptionsStats Subscriptions::stats() const {
  std::lock_guard lock(mu_);
  SubscriptionsStats s = stats_;
  s.active = static_cast<int>(subscribers_.size());
  return s;
}

void Subscriptions::Consider(const storage::ResourceVersion& v) {
  if (v.deleted) {
    Remove(v.id);
    return;
  }
  rapidjson::Document doc;
  doc.Parse(v.json.data(), v.json.size());
  if (!doc.IsObject()) return;
  std::string_view status = json::GetString(doc, "status");
  if (status != "requested" && status != "active") {
    Remove(v.id);  // off, error
    return;
  }
  {
    std::lock_guard lock(mu_);
    // Our own activation coming back through the feed changes nothing; a client's change to
    // the Subscription starts it afresh.
    auto it = subscribers_.find(v.id);
    if (status == "active" && it != subscribers_.end() &&
        it->second->own_version.load() == v.version) {
      return;
    }
  }
  Remove(v.id);  // a changed Subscription starts afresh
  auto s = std::make_shared<Subscriber>();
  s->id = v.id;
  s->topic = std::string(json::GetString(doc, "criteria"));
  s->patient = PatientOfFilter(ExtensionValue(json::Find(doc, "_criteria"), kFilterCriteria));
  const rapidjson::Value* channel = json::Find(doc, "channel");
  std::string error;
  if (s->topic != kAlertTopic && s->topic != kVitalSignsTopic && s->topic != kNews2Topic) {
    error = "unknown topic: use " + std::string(kAlertTopic) + ", " +
            std::string(kVitalSignsTopic) + " or " + std::string(kNews2Topic);
  } else if (channel == nullptr || !channel->IsObject() ||
             (json::GetString(*channel, "type") != "rest-hook" &&
              json::GetString(*channel, "type") != "websocket")) {
    error = "the channels offered are rest-hook and websocket";
  } else {
    s->websocket = json::GetString(*channel, "type") == "websocket";
    auto url = s->websocket ? Result<http::HttpUrl>(http::HttpUrl{})
                            : http::ParseHttpUrl(json::GetString(*channel, "endpoint"));
    std::string_view content = ExtensionValue(json::Find(*channel, "_payload"), kPayloadContent);
    if (!url.ok()) {
      error = "channel.endpoint: " + url.status().message();
    } else if (content == "full-resource") {
      error =
          "full-resource payloads are not offered: notifications carry references, and the "
          "subscriber reads each resource with its own token (consent decides that read)";
    } else {
      s->url = *url;
      s->empty_payload = content == "empty";
      if (const rapidjson::Value* hs = json::Find(*channel, "header"); hs && hs->IsArray()) {
        for (const auto& h : hs->GetArray()) {
          std::string_view line = h.IsString() ? json::View(h) : "";
          auto colon = line.find(':');
          if (colon == std::string_view::npos) continue;
          std::string_view value = line.substr(colon + 1);
          while (value.starts_with(' ')) value.remove_prefix(1);
          s->headers.Set(std::string(line.substr(0, colon)), std::string(value));
        }
      }
    }
  }
  if (!error.empty()) {
    if (Status st = SetStatus(options_, v.id, "error", error); !st.ok()) {
      log::Error("subscriptions: cannot set a Subscription to error: {}", st.message());
    }
    return;
  }
  s->active = status == "active";
  if (!s->active && s->websocket) {
    // A websocket Subscription is active at once; its handshake goes to each socket that binds.
    if (Status st = SetStatus(options_, v.id, "active", "", &s->own_version); !st.ok()) {
      log::Error("subscriptions: cannot activate a Subscription: {}", st.message());
    }
    s->active = true;
  }
  if (!s->active) s->queue.push_back(Notice{"handshake", 0, options_.clock->NowMicros(), ""});
  Subscriber* raw = s.get();
  s->thread = std::thread([this, raw] {
    std::unique_lock lock(raw->mu);
    for (;;) {
      raw->cv.wait(lock, [raw] { return raw->stop || !raw->queue.empty(); });
      if (raw->stop) return;
      Notice n = std::move(raw->queue.front());
      raw->queue.pop_front();
      std::int64_t since_start = raw->events;
      lock.unlock();
      std::string body =
          NotificationBundle(options_.base_url, *raw, n, since_start, options_.clock->NowMicros());
      if (raw->websocket) {
        // To every bound socket; one that does not keep up (or has gone) is dropped.
        lock.lock();
        std::erase_if(raw->sockets, [&body](const auto& ws) { return !ws->Send(body); });
        bool sent = !raw->sockets.empty();
        lock.unlock();
        {
          std::lock_guard stats(mu_);
          if (sent) {
            ++stats_.delivered;
          } else {
            ++stats_.dropped;
          }
        }
        lock.lock();
        continue;
      }
      http::Headers headers = raw->headers;
      headers.Set("Content-Type", "application/fhir+json");
      auto delay = options_.first_retry;
      bool sent = false;
      for (int attempt = 0; attempt < options_.max_attempts && !raw->stop; ++attempt) {
        http::Client client(raw->url.host, raw->url.port, options_.delivery_timeout,
                            http::ClientTls{raw->url.tls, {}});
        auto r = client.Send("POST", raw->url.path.empty() ? "/" : raw->url.path, headers, body);
        if (r.ok() && r->status >= 200 && r->status < 300) {
          sent = true;
          break;
        }
        std::unique_lock wait(raw->mu);
        raw->cv.wait_for(wait, delay, [raw] { return raw->stop; });
        delay *= 2;
      }
      if (sent && n.type == "handshake") {
        raw->active = true;
        if (Status st = SetStatus(options_, raw->id, "active", "", &raw->own_version); !st.ok()) {
          log::Error("subscriptions: cannot activate a Subscription: {}", st.message());
        }
      }
      {
        std::lock_guard stats(mu_);
        if (sent) {
          ++stats_.delivered;
        } else {
          ++stats_.failed;
        }
      }
      if (!sent && !raw->stop) {
        log::Warn("subscriptions: Subscription/{} gave up after {} attempts", raw->id,
                  options_.max_attempts);
        if (Status st =
                SetStatus(options_, raw->id, "error", "the endpoint did not accept a notification");
            !st.ok()) {
          log::Error("subscriptions: cannot set a Subscription to error: {}", st.message());
        }
        lock.lock();
        raw->queue.clear();
        raw->stop = true;  // removed when the error comes back through the feed
        return;
      }
      lock.lock();
    }
  });
  std::lock_guard lock(mu_);
  subscribers_[v.id] = std::move(s);
}

void Subscriptions::Remove(const std::string& id) {
  std::shared_ptr<Subscriber> s;
  {
    std::lock_guard lock(mu_);
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return;
    s = std::move(it->second);
    subscribers_.erase(it);
  }
  {
    std::lock_guard lock(s->mu);
    s->stop = true;
    for (const auto& ws : s->sockets) ws->Close();
    s->sockets.clear();
  }
  s->cv.notify_all();
  if (s->thread.joinable()) s->thread.join();
}

namespace {

// The catalogue (Subscriptions::Endpoints): the socket by its exact path, and the binding token
// of a Subscription, which Handles and Handle recognise by its prefix and suffix.
constexpr http::Endpoint kEndpoints[] = {
    {"GET", "/fhir/$subscription-ws", "subscription"},
    {"GET", "/fhir/Subscription/{id}/$get-ws-binding-token", "subscription"},
    {"POST", "/fhir/Subscription/{id}/$get-ws-binding-token", "subscription"},
};
constexpr std::string_view kSocket = kEndpoints[0].path;

}  // namespace

std::span<const http::Endpoint> Subscriptions::Endpoints() { return kEndpoints; }

bool Subscriptions::Handles(std::string_view path) {
  return path == kSocket ||
         (path.starts_with("/fhir/Subscription/") && path.ends_with("/$get-ws-binding-token"));
}

http::Response Subscriptions::Handle(const http::Request& req) {
  auto error = [](int status, std::string_view message) {
    http::Response r;
    r.status = status;
    r.headers.Set("Content-Type", "application/fhir+json");
    r.body = fhir::OutcomeJson("error",
                               status == 401   ? "login"
                               : status == 403 ? "forbidden"
                                               : "processing",
                               message);
    return r;
  };
  if (req.path == kSocket) {
    // Anyone may open the socket; binding it needs a token from an authorized request.
    http::Response r = error(426, "connect with a WebSocket (Upgrade: websocket)");
    r.websocket = [this](std::shared_ptr<http::WebSocket> ws) {
      std::weak_ptr<http::WebSocket> weak = ws;
      ws->on_message = [this, weak](std::string_view message) {
        if (auto ws = weak.lock()) Bind(ws, message);
      };
    };
    return r;
  }
  if (req.method != "GET" && req.method != "POST") return error(405, "use GET or POST");
  if (options_.authorize) {
    if (Status s = options_.authorize(req); !s.ok()) {
      return error(s.code() == StatusCode::kPermissionDenied ? 403 : 401, s.message());
    }
  }
  std::string_view path = req.path;
  path.remove_prefix(std::string_view("/fhir/Subscription/").size());
  std::string id(path.substr(0, path.find('/')));
  {
    std::lock_guard lock(mu_);
    auto it = subscribers_.find(id);
    if (it == subscribers_.end() || !it->second->websocket) {
      return error(404, "no active websocket Subscription with this id");
    }
  }
  std::string token = crypto::RandomToken(24);
  std::int64_t expires = options_.clock->NowMicros() + 5LL * 60 * 1'000'000;
  {
    std::lock_guard lock(mu_);
    std::erase_if(bindings_, [this](const auto& b) {
      return b.second.expires_us < options_.clock->NowMicros();
    });
    bindings_[token] = Binding{id, expires};
  }
  std::string host(req.headers.Get("Host"));
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Parameters");
  w.Key("parameter");
  w.StartArray();
  WriteParam(w, "token", "valueString", token);
  WriteParam(w, "expiration", "valueDateTime", FormatInstant(expires));
  WriteParam(w, "subscription", "valueString", "Subscription/" + id);
  WriteParam(w, "websocket-url", "valueUrl",
             std::string(req.secure ? "wss://" : "ws://") + host + "/fhir/$subscription-ws");
  w.EndArray();
  w.EndObject();
  http::Response r;
  r.headers.Set("Content-Type", "application/fhir+json");
  r.headers.Set("Cache-Control", "no-store");
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

void Subscriptions::Bind(const std::shared_ptr<http::WebSocket>& ws, std::string_view message) {
  constexpr std::string_view kBind = "bind-with-token ";
  if (!message.starts_with(kBind)) return;
  std::string token(message.substr(kBind.size()));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  std::shared_ptr<Subscriber> s;
  {
    std::lock_guard lock(mu_);
    auto b = bindings_.find(token);
    if (b != bindings_.end()) {
      Binding binding = b->second;
      bindings_.erase(b);  // single use
      auto it = subscribers_.find(binding.subscription);
      if (binding.expires_us >= options_.clock->NowMicros() && it != subscribers_.end()) {
        s = it->second;
      }
    }
  }
  if (s == nullptr) {
    ws->Send(R"({"error":"unknown or expired binding token"})");
    ws->Close();
    return;
  }
  std::lock_guard lock(s->mu);
  if (s->stop) return;
  Notice hello{"handshake", 0, options_.clock->NowMicros(), ""};
  ws->Send(NotificationBundle(options_.base_url, *s, hello, s->events, hello.time_us));
  s->sockets.push_back(ws);
}

void Subscriptions::Event(const Change& change) {
  const storage::ResourceVersion& v = change.version();
  if (v.deleted) return;
  const bool flag = v.type == "Flag";
  const bool observation = v.type == "Observation";
  if (!flag && !observation) return;
  // A Flag's later versions (a clinician resolving it) raise no new alert.
  if (flag && v.version != 1) return;
  const rapidjson::Value* doc = change.Json();
  if (doc == nullptr) return;
  std::string_view topic = flag                 ? kAlertTopic
                           : IsNews2Score(*doc) ? kNews2Topic
                           : IsVitalSigns(*doc) ? kVitalSignsTopic
                                                : std::string_view();
  if (topic.empty()) return;
  // A measurement's new version is a correction its subscribers must re-read (the topic's
  // trigger is create and update); a NEWS2 score is an event once, when it is stored.
  if (topic != kVitalSignsTopic && v.version != 1) return;
  std::string patient = SubjectPatient(*doc);
  std::vector<std::shared_ptr<Subscriber>> matching;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, s] : subscribers_) {
      if (s->topic == topic && (s->patient.empty() || s->patient == patient)) matching.push_back(s);
    }
  }
  for (const auto& s : matching) {
    bool queued = false;
    {
      std::lock_guard lock(s->mu);
      if (s->stop) continue;
      ++s->events;
      if (s->queue.size() < options_.max_queue) {
        s->queue.push_back(
            Notice{"event-notification", s->events, v.last_updated_us, v.type + "/" + v.id});
        queued = true;
      }
    }
    s->cv.notify_all();
    std::lock_guard lock(mu_);
    if (queued) {
      ++stats_.events;
    } else {
      ++stats_.dropped;
    }
  }
}

}  // namespace sund::monitor
