#include "fl/transport.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/crypto.h"
#include "fl.grpc.pb.h"
#include "fl/internal/grpc_tls.h"

namespace sund::fl {
namespace {

namespace pb = sund::fl::v1;

constexpr std::size_t kChunk = 1 << 20;

using Key = std::pair<std::uint32_t, std::uint32_t>;  // (round, step)

Status FromGrpc(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status(StatusCode::kPermissionDenied, s.error_message());
    case grpc::StatusCode::NOT_FOUND:
      return Status(StatusCode::kNotFound, s.error_message());
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status(StatusCode::kInvalidArgument, s.error_message());
    default:
      return Status(StatusCode::kUnavailable, "the coordinator: " + s.error_message());
  }
}

template <typename Writer>
bool WriteChunks(Writer& w, const std::string& session, const Message& m) {
  std::size_t offset = 0;
  do {
    pb::Chunk c;
    if (offset == 0) {
      c.set_session(session);
      c.set_round(m.round);
      c.set_step(m.step);
      c.set_kind(m.kind);
      c.set_total_bytes(m.payload.size());
    }
    std::size_t n = std::min(kChunk, m.payload.size() - offset);
    c.set_data(m.payload.substr(offset, n));
    offset += n;
    c.set_last(offset >= m.payload.size());
    if (!w.Write(c)) return false;
  } while (offset < m.payload.size());
  return true;
}

// Reads one chunked message; InvalidArgument for a malformed sequence or one that announces more
// than `max_payload` bytes (refused before any of it is stored).
template <typename Reader>
Result<std::pair<std::string, Message>> ReadChunks(Reader& r, std::uint64_t max_payload) {
  pb::Chunk c;
  Message m;
  std::string session;
  std::uint64_t total = 0;
  bool first = true, last = false;
  while (!last && r.Read(&c)) {
    if (first) {
      session = c.session();
      m.round = c.round();
      m.step = c.step();
      m.kind = c.kind();
      total = c.total_bytes();
      if (total > max_payload) {
        return InvalidArgument("a message of " + std::to_string(total) +
                               " bytes is over the limit of " + std::to_string(max_payload) +
                               " bytes");
      }
      m.payload.reserve(total);
      first = false;
    }
    if (m.payload.size() + c.data().size() > total) {
      return InvalidArgument("a message longer than it announced");
    }
    m.payload += c.data();
    last = c.last();
  }
  if (first || !last || m.payload.size() != total) {
    return InvalidArgument("an incomplete message");
  }
  return std::make_pair(std::move(session), std::move(m));
}

}  // namespace

// --- Coordinator ---------------------------------------------------------------------------

struct CoordinatorServer::Impl final : public pb::Coordinator::Service {
  CoordinatorServerOptions options;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::map<std::string, Member> members;        // by node
  std::map<std::string, std::string> sessions;  // session -> node
  // Liveness: Next calls in progress, and the last call's start or end, by node.
  std::map<std::string, int> polling;
  std::map<std::string, std::chrono::steady_clock::time_point> last_seen;
  std::map<std::string, std::map<Key, Message>> outbox;
  std::map<std::tuple<std::string, std::uint32_t, std::uint32_t>, Message> inbox;
  std::optional<std::string> done;

  grpc::Status Join(grpc::ServerContext* context, const pb::JoinRequest* req,
                    pb::JoinReply* reply) override {
    std::string node = internal::PeerName(*context);
    if (node.empty() || !options.allow.count(node)) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "this node's certificate is not on the coordinator's allow-list");
    }
    if (req->task_id().empty() && req->samples() == 0 && req->schema_fingerprint().empty()) {
      reply->set_accepted(false);  // a description request for whatever task runs here
      reply->set_reason("describe");
      reply->set_task(options.task_json);
      return grpc::Status::OK;
    }
    if (req->task_id() != options.task_id) {
      reply->set_accepted(false);
      reply->set_reason("this coordinator runs task '" + options.task_id + "'");
      return grpc::Status::OK;
    }
    if (req->samples() == 0 && req->schema_fingerprint().empty()) {
      // A description request (NodeClient::Describe): the task, no membership.
      reply->set_accepted(false);
      reply->set_reason("describe");
      reply->set_task(options.task_json);
      return grpc::Status::OK;
    }
    Member m{node, crypto::RandomToken(16), req->samples(), req->schema_fingerprint()};
    if (options.admit) {
      if (Status s = options.admit(m); !s.ok()) {
        reply->set_accepted(false);
        reply->set_reason(s.message());
        return grpc::Status::OK;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = members.find(node); it != members.end()) sessions.erase(it->second.session);
      members[node] = m;
      sessions[m.session] = node;
      last_seen[node] = std::chrono::steady_clock::now();
    }
    cv.notify_all();
    reply->set_accepted(true);
    reply->set_session(m.session);
    reply->set_task(options.task_json);
    return grpc::Status::OK;
  }

  grpc::Status Next(grpc::ServerContext* context, const pb::NextRequest* req,
                    grpc::ServerWriter<pb::Chunk>* writer) override {
    Message out;
    std::string session = req->session();
    {
      std::unique_lock<std::mutex> lock(mu);
      auto s = sessions.find(session);
      if (s == sessions.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown session: join again");
      }
      std::string node = s->second;
      ++polling[node];
      last_seen[node] = std::chrono::steady_clock::now();
      Key after{req->after_round(), req->after_step()};
      auto ready = [&]() -> bool {
        auto& box = outbox[node];
        box.erase(box.begin(), box.upper_bound(after));  // answered already
        return stopping || done.has_value() || !box.empty() || context->IsCancelled();
      };
      cv.wait_for(lock, options.poll_wait, ready);
      auto& box = outbox[node];
      if (!box.empty()) {
        out = box.begin()->second;
      } else if (done) {
        out.kind = "done";
        out.payload = *done;
      } else {
        out.kind = "wait";
      }
      --polling[node];
      last_seen[node] = std::chrono::steady_clock::now();
    }
    if (!WriteChunks(*writer, session, out)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the node went away");
    }
    return grpc::Status::OK;
  }

  grpc::Status Submit(grpc::ServerContext*, grpc::ServerReader<pb::Chunk>* reader,
                      pb::SubmitReply* reply) override {
    auto got = ReadChunks(*reader, options.max_payload_bytes);
    if (!got.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, got.status().message());
    }
    auto& [session, m] = *got;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto s = sessions.find(session);
      if (s == sessions.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown session: join again");
      }
      inbox[{s->second, m.round, m.step}] = std::move(m);
    }
    cv.notify_all();
    reply->set_accepted(true);
    return grpc::Status::OK;
  }
};

CoordinatorServer::CoordinatorServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CoordinatorServer::~CoordinatorServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    CoordinatorServerOptions options) {
  auto impl = std::make_unique<Impl>();
  SUND_ASSIGN_OR_RETURN(internal::TlsFiles files,
                        internal::LoadTlsFiles(options.certs_dir, "coordinator"));
  impl->options = std::move(options);
  grpc::ServerBuilder b;
  b.AddListeningPort(impl->options.listen, internal::ServerCredentials(files), &impl->port);
  b.RegisterService(impl.get());
  impl->server = b.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return Status(StatusCode::kUnavailable, "cannot listen on " + impl->options.listen);
  }
  return std::unique_ptr<CoordinatorServer>(new CoordinatorServer(std::move(impl)));
}

int CoordinatorServer::port() const { return impl_->port; }

std::vector<Member> CoordinatorServer::Members() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<Member> out;
  for (const auto& [node, m] : impl_->members) out.push_back(m);
  return out;
}

std::vector<Member> CoordinatorServer::ActiveMembers(std::chrono::milliseconds idle) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto now = std::chrono::steady_clock::now();
  std::vector<Member> out;
  for (const auto& [node, m] : impl_->members) {
    auto p = impl_->polling.find(node);
    auto seen = impl_->last_seen.find(node);
    if ((p != impl_->polling.end() && p->second > 0) ||
        (seen != impl_->last_seen.end() && now - seen->second <= idle)) {
      out.push_back(m);
    }
  }
  return out;
}

std::vector<Member> CoordinatorServer::WaitForMembers(
    std::size_t n, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_until(lock, deadline,
                       [&] { return impl_->stopping || impl_->members.size() >= n; });
  std::vector<Member> out;
  for (const auto& [node, m] : impl_->members) out.push_back(m);
  return out;
}

void CoordinatorServer::Post(const std::string& node, Message message) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    Key k{message.round, message.step};
    impl_->outbox[node][k] = std::move(message);
  }
  impl_->cv.notify_all();
}

void CoordinatorServer::Finish(std::string payload) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->done = std::move(payload);
    impl_->outbox.clear();
  }
  impl_->cv.notify_all();
}

std::map<std::string, Message> CoordinatorServer::Collect(
    const std::set<std::string>& nodes, std::uint32_t round, std::uint32_t step,
    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  auto have = [&] {
    std::size_t n = 0;
    for (const auto& node : nodes) n += impl_->inbox.count({node, round, step});
    return n;
  };
  impl_->cv.wait_until(lock, deadline, [&] { return impl_->stopping || have() == nodes.size(); });
  std::map<std::string, Message> out;
  for (const auto& node : nodes) {
    auto it = impl_->inbox.find({node, round, step});
    if (it != impl_->inbox.end()) {
      out[node] = std::move(it->second);
      impl_->inbox.erase(it);
    }
  }
  return out;
}

// --- Node ----------------------------------------------------------------------------------

struct NodeClient::Impl {
  NodeClientOptions options;
  std::unique_ptr<pb::Coordinator::Stub> stub;
  std::string session;

  std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds timeout) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    return c;
  }
};

NodeClient::NodeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeClient::~NodeClient() = default;

Result<std::unique_ptr<NodeClient>> NodeClient::Connect(NodeClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  std::unique_ptr<NodeClient> client(new NodeClient(std::move(impl)));
  SUND_RETURN_IF_ERROR(client->Reconnect());
  return client;
}

Status NodeClient::Reconnect() {
  SUND_ASSIGN_OR_RETURN(internal::TlsFiles files,
                        internal::LoadTlsFiles(impl_->options.certs_dir, impl_->options.name));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  // Reconnect sooner after a coordinator restarts (gRPC's default backoff grows to minutes). Not
  // the minimum backoff: gRPC also takes it as a connection attempt's timeout, and 200 ms cut TLS
  // handshakes short on a busy machine.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = grpc::CreateCustomChannel(impl_->options.coordinator,
                                           internal::ClientCredentials(files), args);
  impl_->stub = pb::Coordinator::NewStub(channel);
  return Status::Ok();
}

Result<JoinResult> NodeClient::Join(const std::string& task_id, const std::string& fingerprint,
                                    std::uint64_t samples) {
  auto ctx = impl_->Context(impl_->options.call_timeout);
  pb::JoinRequest req;
  req.set_task_id(task_id);
  req.set_schema_fingerprint(fingerprint);
  req.set_samples(samples);
  req.set_node_version("sund-fl/1");
  pb::JoinReply reply;
  SUND_RETURN_IF_ERROR(FromGrpc(impl_->stub->Join(ctx.get(), req, &reply)));
  if (!reply.accepted()) {
    return Status(StatusCode::kPermissionDenied, "the coordinator refused: " + reply.reason());
  }
  impl_->session = reply.session();
  return JoinResult{reply.task(), reply.session()};
}

Result<std::string> NodeClient::Describe(const std::string& task_id) {
  auto ctx = impl_->Context(impl_->options.call_timeout);
  pb::JoinRequest req;
  req.set_task_id(task_id);
  pb::JoinReply reply;
  SUND_RETURN_IF_ERROR(FromGrpc(impl_->stub->Join(ctx.get(), req, &reply)));
  if (reply.task().empty()) {
    return Status(StatusCode::kPermissionDenied, "the coordinator refused: " + reply.reason());
  }
  return reply.task();
}

Result<Message> NodeClient::Next(std::uint32_t after_round, std::uint32_t after_step) {
  auto ctx = impl_->Context(impl_->options.call_timeout);
  pb::NextRequest req;
  req.set_session(impl_->session);
  req.set_after_round(after_round);
  req.set_after_step(after_step);
  auto reader = impl_->stub->Next(ctx.get(), req);
  auto got = ReadChunks(*reader, impl_->options.max_payload_bytes);
  grpc::Status s = reader->Finish();
  SUND_RETURN_IF_ERROR(FromGrpc(s));
  if (!got.ok()) return got.status();
  return std::move(got->second);
}

Status NodeClient::Submit(const Message& message) {
  auto ctx = impl_->Context(impl_->options.call_timeout);
  pb::SubmitReply reply;
  auto writer = impl_->stub->Submit(ctx.get(), &reply);
  bool ok = WriteChunks(*writer, impl_->session, message);
  if (ok) writer->WritesDone();
  SUND_RETURN_IF_ERROR(FromGrpc(writer->Finish()));
  if (!ok) return Status(StatusCode::kUnavailable, "the coordinator went away");
  if (!reply.accepted()) return Status(StatusCode::kInvalidArgument, reply.reason());
  return Status::Ok();
}

}  // namespace sund::fl
