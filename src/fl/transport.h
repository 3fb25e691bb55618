// The transport between a federated coordinator and its nodes (docs/fl.md, "Protocol"): gRPC
// over mutual TLS (proto/fl.proto), with the round logic kept out of it. The coordinator side
// is a mailbox the round driver posts steps into and collects answers from; the node side is a
// client that joins, polls for its next step and submits answers. Payloads are opaque bytes,
// chunked at 1 MiB (so they may exceed gRPC's 4 MiB message limit) and capped by the receiver
// (max_payload_bytes, 1 GiB by default).
//
// A node is identified by its client certificate's common name, which must be on the
// coordinator's allow-list; a node that joins again (restarted, or after a coordinator restart)
// keeps its name and gets a new session.
//
// Thread-safety: CoordinatorServer's methods may be called from any thread (the gRPC handlers
// run on gRPC's threads); a NodeClient belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::fl {

// One step's message, either way.
struct Message {
  std::uint32_t round = 0;
  std::uint32_t step = 0;
  std::string kind;  // "train", "update", "done", "wait", "secagg-..." ...
  std::string payload;
};

struct Member {
  std::string node;  // the certificate's common name
  std::string session;
  std::uint64_t samples = 0;
  std::string fingerprint;
};

struct CoordinatorServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  std::string certs_dir;               // ca.pem, coordinator.pem, coordinator.key
  std::set<std::string> allow;         // node names admitted
  std::string task_id;
  std::string task_json;  // sent to nodes that join
  // Decides a join after the allow-list (fingerprint, samples); an error's message is the
  // reason the node is told.
  std::function<Status(const Member&)> admit;
  std::chrono::milliseconds poll_wait{20000};  // a Next with nothing to send returns "wait"
  // A message a node submits that is larger is refused (the node's Submit gets InvalidArgument
  // naming both sizes) before any of it is stored.
  std::uint64_t max_payload_bytes = std::uint64_t{1} << 30;
};

class CoordinatorServer {
 public:
  static Result<std::unique_ptr<CoordinatorServer>> Start(CoordinatorServerOptions options);
  ~CoordinatorServer();  // stops serving
  int port() const;

  // The nodes that have joined (latest session each).
  std::vector<Member> Members() const;
  // Those of them that are polling now (a Next in progress) or made a call within `idle`: a
  // node that died stops polling, and the round logic stops choosing it.
  std::vector<Member> ActiveMembers(std::chrono::milliseconds idle) const;
  // Blocks until at least `n` nodes have joined or the deadline passes; returns the members.
  std::vector<Member> WaitForMembers(std::size_t n, std::chrono::steady_clock::time_point deadline);

  // Queues a message for a node (its next Next returns it). Later posts replace earlier ones
  // the node has not fetched yet only if they have the same (round, step).
  void Post(const std::string& node, Message message);
  // Tells every member (and nodes joining later) that the task is over.
  void Finish(std::string payload);
  // Waits for the answers of `nodes` to (round, step) until the deadline; returns those that
  // arrived (a node absent from the result has dropped, as far as this step goes).
  std::map<std::string, Message> Collect(const std::set<std::string>& nodes, std::uint32_t round,
                                         std::uint32_t step,
                                         std::chrono::steady_clock::time_point deadline);

  struct Impl;

 private:
  explicit CoordinatorServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct NodeClientOptions {
  std::string coordinator;  // host:port
  std::string certs_dir;    // ca.pem, NAME.pem, NAME.key
  std::string name;         // this node's certificate name
  std::chrono::milliseconds call_timeout{60000};
  // A message from the coordinator that is larger is refused (Next gets InvalidArgument naming
  // both sizes) before any of it is stored.
  std::uint64_t max_payload_bytes = std::uint64_t{1} << 30;
};

struct JoinResult {
  std::string task_json;
  std::string session;
};

class NodeClient {
 public:
  static Result<std::unique_ptr<NodeClient>> Connect(NodeClientOptions options);
  ~NodeClient();

  // The task (and its encoding) the coordinator runs, without joining: what a node needs to
  // build its data set before it can say how many rows it has and what its schema is. An empty
  // task id asks for whatever task the coordinator runs.
  Result<std::string> Describe(const std::string& task_id = "");
  // kPermissionDenied with the coordinator's reason when refused; kUnavailable when the
  // coordinator cannot be reached (the caller retries).
  Result<JoinResult> Join(const std::string& task_id, const std::string& fingerprint,
                          std::uint64_t samples);
  // The next message after (round, step); kind "wait" when there is none yet. kNotFound when
  // the coordinator no longer knows the session (it restarted): join again.
  Result<Message> Next(std::uint32_t after_round, std::uint32_t after_step);
  Status Submit(const Message& message);
  // A fresh channel to the coordinator: a channel that failed to connect waits out gRPC's
  // reconnect backoff and may keep failing after the coordinator is back (seen: 37 s).
  Status Reconnect();

  struct Impl;

 private:
  explicit NodeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::fl
