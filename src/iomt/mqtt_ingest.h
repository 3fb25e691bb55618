// The gateway's MQTT side (issue #5, docs/iomt.md "MQTT"): subscribes with QoS 1 and a
// persistent session to sund/v1/devices/+/measurements and files what arrives through
// Gateway::IngestBatch, acknowledging each message only after its batch is stored (or
// dead-lettered), so every message the broker took is stored exactly once even when sund is
// killed mid-batch: the broker sends unacknowledged messages again after the reconnect, and the
// Observations' conditional creates make the second filing a no-op.
//
// Two threads: a receiver that keeps the connection (reconnecting with backoff when the broker
// goes away) and queues messages, and a filer that takes everything queued (at most
// max_batch) as one batch: while one batch commits the next gathers, so the batch grows with
// the load (group commit) and an idle gateway files a message at once. The queue is bounded
// (max_queue): when it is full the receiver stops reading and the broker holds the rest.
// Thread-safety: Start and Stop from one thread; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "audit/log.h"
#include "iomt/gateway.h"
#include "iomt/mqtt.h"

namespace sund::iomt {

struct MqttIngestOptions {
  mqtt::Url url;                           // the broker and the gateway's user and password
  std::string client_id = "sund-gateway";  // the persistent session's name
  Gateway* gateway = nullptr;
  std::size_t max_batch = 1000;
  // Messages received and not yet filed; beyond this the receiver stops reading, and the broker
  // keeps the rest (TCP backpressure), so a burst never grows the gateway's memory.
  std::size_t max_queue = 5000;
  // Each batch is recorded here before its messages are acknowledged (the devices, patients and
  // counts). Null: not audited (tests).
  audit::AuditLog* audit = nullptr;
  const Clock* clock = nullptr;  // for the audit records; the system clock when null
};

struct MqttIngestStats {
  std::int64_t received = 0;        // taken from the broker's connection
  std::int64_t queued = 0;          // received and not yet taken by the filer (<= max_queue)
  std::int64_t messages = 0;        // acknowledged: filed or dead-lettered
  std::int64_t batches = 0;         //
  std::int64_t measurements = 0;    // accepted
  std::int64_t refused = 0;         // measurements and payloads dead-lettered
  std::int64_t connections = 0;     // successful connects (1 + reconnects)
  std::int64_t store_failures = 0;  // batches that could not be filed (sent again later)
  bool connected = false;
};

class MqttIngest {
 public:
  explicit MqttIngest(MqttIngestOptions options);
  ~MqttIngest();
  // Connects once (so a wrong password or an unreachable broker shows at start) and starts the
  // threads; later connection losses are retried in the background.
  Status Start();
  void Stop();
  MqttIngestStats stats() const;

 private:
  struct Queued {
    mqtt::Message message;
    std::shared_ptr<mqtt::Client> via;  // acknowledged on the connection it came on
  };
  Result<std::shared_ptr<mqtt::Client>> Connect();
  void Receive(std::shared_ptr<mqtt::Client> first);
  void File();
  void FileBatch(std::vector<Queued>& batch);

  MqttIngestOptions options_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::shared_ptr<mqtt::Client> client_;  // the current connection
  MqttIngestStats stats_;
  std::thread receiver_;
  std::thread filer_;
};

}  // namespace sund::iomt
