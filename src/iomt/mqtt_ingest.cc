#include "iomt/mqtt_ingest.h"

#include <algorithm>
#include <set>

#include "core/log.h"
#include "iomt/broker.h"

namespace sund::iomt {

MqttIngest::MqttIngest(MqttIngestOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &SystemClock::Get();
}

MqttIngest::~MqttIngest() { Stop(); }

Result<std::shared_ptr<mqtt::Client>> MqttIngest::Connect() {
  mqtt::ClientOptions co;
  co.url = options_.url;
  co.client_id = options_.client_id;
  co.clean_session = false;  // the broker keeps what arrives while the gateway is away
  SUND_ASSIGN_OR_RETURN(auto client, mqtt::Client::Connect(co));
  SUND_RETURN_IF_ERROR(client->Subscribe(kMeasurementTopicFilter, 1));
  std::shared_ptr<mqtt::Client> shared = std::move(client);
  std::lock_guard lock(mu_);
  client_ = shared;
  stats_.connected = true;
  ++stats_.connections;
  return shared;
}

Status MqttIngest::Start() {
  SUND_ASSIGN_OR_RETURN(auto first, Connect());
  log::Info("iomt: subscribed to {} on {}:{}", kMeasurementTopicFilter, options_.url.host,
            options_.url.port);
  receiver_ = std::thread([this, first] { Receive(first); });
  filer_ = std::thread([this] { File(); });
  return Status::Ok();
}

void MqttIngest::Stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    if (client_) client_->Disconnect();
  }
  cv_.notify_all();
  if (receiver_.joinable()) receiver_.join();
  if (filer_.joinable()) filer_.join();
}

MqttIngestStats MqttIngest::stats() const {
  std::lock_guard lock(mu_);
  MqttIngestStats s = stats_;
  s.queued = static_cast<std::int64_t>(queue_.size());
  return s;
}

void MqttIngest::Receive(std::shared_ptr<mqtt::Client> client) {
  auto backoff = std::chrono::milliseconds(200);
  while (!stop_) {
    if (!client) {
      auto c = Connect();
      if (!c.ok()) {
        log::Warn("iomt: MQTT broker unavailable ({}); retrying in {} ms", c.status().message(),
                  backoff.count());
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(10));
        continue;
      }
      client = std::move(c).value();
      backoff = std::chrono::milliseconds(200);
      log::Info("iomt: reconnected to the MQTT broker (session {})",
                client->session_present() ? "resumed" : "new");
    }
    {
      // Backpressure: while the filer is behind, leave the messages with the broker.
      std::unique_lock lock(mu_);
      if (queue_.size() >= options_.max_queue) {
        cv_.wait_for(lock, std::chrono::milliseconds(200),
                     [this] { return stop_ || queue_.size() < options_.max_queue; });
        lock.unlock();
        if (Status s = client->KeepAlive(); !s.ok()) client->Disconnect();
        continue;
      }
    }
    auto m = client->Receive(std::chrono::milliseconds(500));
    if (!m.ok()) {
      if (!stop_) log::Warn("iomt: MQTT connection lost: {}", m.status().message());
      std::lock_guard lock(mu_);
      if (client_ == client) client_.reset();
      stats_.connected = false;
      client.reset();
      continue;
    }
    if (!m->has_value()) continue;
    std::lock_guard lock(mu_);
    queue_.push_back(Queued{std::move(**m), client});
    ++stats_.received;
    cv_.notify_all();
  }
}

void MqttIngest::File() {
  for (;;) {
    std::vector<Queued> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      // On stop, what is queued stays unacknowledged: the broker keeps it for the next start.
      if (stop_) return;
      std::size_t n = std::min(queue_.size(), options_.max_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    cv_.notify_all();  // room for the receiver
    FileBatch(batch);
  }
}

void MqttIngest::FileBatch(std::vector<Queued>& batch) {
  // A topic without a device (sund/v1/devices//measurements) names no sender a payload could
  // match, so its payload is refused as from the wrong device.
  constexpr std::string_view kNoSender = "(no device in the topic)";
  std::vector<Incoming> in;
  in.reserve(batch.size());
  for (const Queued& q : batch) {
    std::string_view sender = DeviceOfTopic(q.message.topic);
    in.push_back(Incoming{q.message.payload, sender.empty() ? kNoSender : sender});
  }
  auto results = options_.gateway->IngestBatch(in);
  Status failed = results.status();
  std::int64_t accepted = 0;
  std::int64_t refused = 0;
  audit::Record rec;
  if (failed.ok()) {
    std::set<std::string> devices;
    std::set<std::string> patients;
    for (std::size_t i = 0; i < results->size(); ++i) {
      const auto& r = (*results)[i];
      if (!r.ok()) {
        ++refused;
        continue;
      }
      devices.insert(r->device);
      patients.insert(r->patients.begin(), r->patients.end());
      accepted += r->accepted;
      refused += static_cast<std::int64_t>(r->refused.size());
    }
    if (options_.audit != nullptr) {
      rec.time_us = options_.clock->NowMicros();
      rec.actor = audit::Actor{"", "device", "", "mqtt:" + options_.url.user};
      rec.action = audit::Action::kCreate;
      rec.outcome = 200;
      rec.patient_ids.assign(patients.begin(), patients.end());
      rec.detail = "iomt: " + std::to_string(batch.size()) + " MQTT messages from " +
                   std::to_string(devices.size()) + " devices, " + std::to_string(accepted) +
                   " measurements filed, " + std::to_string(refused) + " refused";
      rec.source = options_.url.host;
      failed = options_.audit->Append(rec).status();
    }
  }
  if (!failed.ok()) {
    // Nothing is acknowledged: the broker sends the batch again after a reconnect, and what was
    // stored of it is found by its identifiers then. Wait a little, then reconnect.
    log::Error("iomt: {} MQTT messages not filed ({}); they will come again", batch.size(),
               failed.message());
    {
      std::unique_lock lock(mu_);
      ++stats_.store_failures;
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
    }
    std::set<mqtt::Client*> closed;
    for (const Queued& q : batch) {
      if (closed.insert(q.via.get()).second) q.via->Disconnect();
    }
    return;
  }
  for (const Queued& q : batch) {
    // A message from a connection since lost is not acknowledged: it comes again, and is then
    // a duplicate.
    if (q.message.qos == 1) (void)q.via->Ack(q.message.packet_id);
  }
  std::lock_guard lock(mu_);
  stats_.messages += static_cast<std::int64_t>(batch.size());
  ++stats_.batches;
  stats_.measurements += accepted;
  stats_.refused += refused;
}

}  // namespace sund::iomt
