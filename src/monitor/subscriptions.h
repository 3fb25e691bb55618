// Topic-based FHIR Subscriptions (R4 Subscriptions Backport IG 1.1, issue #5): a client creates
// a `Subscription` whose `criteria` is one of Sund's topics, optionally narrowed to one patient
// by the backport's filter-criteria extension, and gets a notification Bundle (type history,
// a SubscriptionStatus Parameters first) for every matching event.
//
// Topics:
//   https://sund.dk/fhir/SubscriptionTopic/alert        a Flag raised (NEWS2 escalation, silence)
//   https://sund.dk/fhir/SubscriptionTopic/vital-signs  an Observation with category vital-signs
//                                                       stored or corrected (every new version)
//   https://sund.dk/fhir/SubscriptionTopic/news2        a NEWS2 score stored (news2.h)
// In the backport's terms the alert and news2 topics trigger on create only, vital-signs on
// create and update; none on delete.
// Filter: `Flag?patient=Patient/ID` / `Observation?patient=Patient/ID` (also subject=).
//
// Events come from the store's change feed (change_feed.h, in commit order, on its own
// thread), so writers never wait for subscribers. Each subscriber has a bounded queue
// (max_queue; events beyond it are dropped and counted, and the next notification's
// events-since-subscription-start shows the gap) and its own delivery thread. Channels: rest-hook
// (HTTP POST of the Bundle to `channel.endpoint` with `channel.header`s; on failure retried
// with exponential backoff, then the Subscription is set to status error) and websocket (the
// backport's binding token, then the Bundles as text messages to every bound socket; a socket
// that does not keep up is dropped). Payload: id-only
// (the default) or empty, never the resource itself: the subscriber reads it with its own
// token, so consent is decided on that read. A new Subscription (status requested) is checked,
// sent a handshake, and set active (or error, with the reason in the log). Thread-safety: Start
// and Stop from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "core/status.h"
#include "core/time.h"
#include "http/endpoint.h"
#include "http/message.h"
#include "monitor/change_feed.h"
#include "storage/store.h"

namespace sund::monitor {

inline constexpr std::string_view kAlertTopic = "https://sund.dk/fhir/SubscriptionTopic/alert";
inline constexpr std::string_view kVitalSignsTopic =
    "https://sund.dk/fhir/SubscriptionTopic/vital-signs";
inline constexpr std::string_view kNews2Topic = "https://sund.dk/fhir/SubscriptionTopic/news2";

struct SubscriptionsOptions {
  storage::Store* store = nullptr;
  // Writes a FHIR transaction Bundle (JSON): the Subscriptions' status changes.
  std::function<Result<std::string>(std::string bundle)> write;
  std::string base_url;  // the FHIR base, for references in notifications
  std::size_t max_queue = 1000;
  int max_attempts = 6;                                // per notification, then status error
  std::chrono::milliseconds first_retry{500};          // doubling each attempt
  std::chrono::milliseconds delivery_timeout{10'000};  // a rest-hook silent this long failed
  const Clock* clock = nullptr;                        // the system clock when null
  // Whether a request may get a websocket binding token (sund serve: a token that may read
  // Subscriptions); else the error (401, 403).
  std::function<Status(const http::Request& req)> authorize;
};

struct SubscriptionsStats {
  int active = 0;
  std::int64_t events = 0;     // queued for a subscriber
  std::int64_t delivered = 0;  // notifications a subscriber accepted (2xx)
  std::int64_t dropped = 0;    // events beyond a full queue
  std::int64_t failed = 0;     // notifications given up after max_attempts
};

class Subscriptions {
 public:
  // Listens to `feed` (before the feed starts).
  Subscriptions(SubscriptionsOptions options, ChangeFeed& feed);
  ~Subscriptions();
  // Loads the Subscriptions; start the feed from a cursor taken before (ChangeFeed::Newest).
  Status Start();
  void Stop();
  SubscriptionsStats stats() const;

  // The websocket channel's HTTP surface: `GET|POST /fhir/Subscription/ID/$get-ws-binding-token`
  // (Parameters: token, expiration, subscription, websocket-url; the token is single-use and
  // valid five minutes) and `GET /fhir/$subscription-ws` (the WebSocket; the client sends
  // `bind-with-token TOKEN`, gets a handshake Bundle, then the notifications).
  static bool Handles(std::string_view path);
  // The two above, by method (family "subscription").
  static std::span<const http::Endpoint> Endpoints();
  http::Response Handle(const http::Request& req);

  struct Subscriber;  // one active Subscription (subscriptions.cc)

 private:
  // (Re)reads one Subscription version: activates, replaces or removes its subscriber.
  void Consider(const storage::ResourceVersion& v);
  void Event(const Change& change);
  void Remove(const std::string& id);
  void Bind(const std::shared_ptr<http::WebSocket>& ws, std::string_view message);

  SubscriptionsOptions options_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Subscriber>> subscribers_;  // by Subscription id
  struct Binding {
    std::string subscription;
    std::int64_t expires_us = 0;
  };
  std::map<std::string, Binding> bindings_;  // websocket binding tokens
  SubscriptionsStats stats_;
};

}  // namespace sund::monitor
