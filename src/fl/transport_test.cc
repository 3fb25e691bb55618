#include "fl/transport.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "fl/certs.h"

namespace sund::fl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-fl-transport-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    CertsOptions c;
    c.dir = dir_.string();
    c.nodes = {"site-a", "site-b", "site-c"};
    ASSERT_TRUE(MakePilotCertificates(c).ok());
    auto s = CoordinatorServer::Start(ServerOptions());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  // The fixture's coordinator; a test may change them and start its own.
  CoordinatorServerOptions ServerOptions() {
    CoordinatorServerOptions o;
    o.certs_dir = dir_.string();
    o.allow = {"site-a", "site-b"};
    o.task_id = "t1";
    o.task_json = R"({"id":"t1"})";
    o.poll_wait = std::chrono::milliseconds(200);
    o.admit = [](const Member& m) -> Status {
      if (m.samples < 20) return InvalidArgument("fewer than 20 samples");
      if (m.fingerprint != "fp") return InvalidArgument("a different feature schema");
      return Status::Ok();
    };
    return o;
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<NodeClient> Client(
      const std::string& name,
      std::uint64_t max_payload_bytes = NodeClientOptions{}.max_payload_bytes) {
    NodeClientOptions o;
    o.coordinator = "localhost:" + std::to_string(server_->port());
    o.certs_dir = dir_.string();
    o.name = name;
    o.call_timeout = std::chrono::seconds(10);
    o.max_payload_bytes = max_payload_bytes;
    auto c = NodeClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(*c);
  }

  fs::path dir_;
  std::unique_ptr<CoordinatorServer> server_;
};

// Verifies: REQ-FL-028, REQ-FL-029
TEST_F(TransportTest, JoinChecksTheAllowListTheSchemaAndTheSamples) {
  auto a = Client("site-a");
  auto joined = a->Join("t1", "fp", 100);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(joined->task_json, R"({"id":"t1"})");
  EXPECT_EQ(Client("site-c")->Join("t1", "fp", 100).status().code(), StatusCode::kPermissionDenied);
  auto few = Client("site-b")->Join("t1", "fp", 5);
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("fewer than 20 samples"), std::string::npos);
  auto schema = Client("site-b")->Join("t1", "other", 100);
  EXPECT_NE(schema.status().message().find("feature schema"), std::string::npos);
  auto task = Client("site-b")->Join("t2", "fp", 100);
  EXPECT_NE(task.status().message().find("runs task 't1'"), std::string::npos);
  EXPECT_EQ(server_->Members().size(), 1u);
}

// Verifies: REQ-FL-030
TEST_F(TransportTest, LargeMessagesTravelChunkedBothWays) {
  auto a = Client("site-a");
  auto b = Client("site-b");
  ASSERT_TRUE(a->Join("t1", "fp", 100).ok());
  ASSERT_TRUE(b->Join("t1", "fp", 50).ok());
  EXPECT_EQ(server_->WaitForMembers(2, Clock::now() + std::chrono::seconds(5)).size(), 2u);
  std::string big(5 << 20, 'x');  // over gRPC's 4 MiB message limit
  big[12345] = 'y';
  for (const char* n : {"site-a", "site-b"}) server_->Post(n, {1, 1, "train", big});
  auto answer = [&](NodeClient& c, char fill) {
    auto m = c.Next(0, 0);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->kind, "train");
    EXPECT_EQ(m->payload, big);
    ASSERT_TRUE(c.Submit({1, 1, "update", std::string(6 << 20, fill)}).ok());
  };
  std::thread ta([&] { answer(*a, 'a'); });
  std::thread tb([&] { answer(*b, 'b'); });
  auto got = server_->Collect({"site-a", "site-b"}, 1, 1, Clock::now() + std::chrono::seconds(20));
  ta.join();
  tb.join();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got["site-a"].payload, std::string(6 << 20, 'a'));
  EXPECT_EQ(got["site-b"].kind, "update");
}

// Verifies: REQ-FL-031
TEST_F(TransportTest, ASilentNodeIsLeftOutAtTheDeadline) {
  auto a = Client("site-a");
  auto b = Client("site-b");
  ASSERT_TRUE(a->Join("t1", "fp", 100).ok());
  ASSERT_TRUE(b->Join("t1", "fp", 100).ok());
  server_->Post("site-a", {1, 1, "train", "p"});
  server_->Post("site-b", {1, 1, "train", "p"});
  ASSERT_TRUE(a->Next(0, 0).ok());
  ASSERT_TRUE(a->Submit({1, 1, "update", "u"}).ok());
  auto start = Clock::now();
  auto got =
      server_->Collect({"site-a", "site-b"}, 1, 1, Clock::now() + std::chrono::milliseconds(300));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_TRUE(got.count("site-a"));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

// Verifies: REQ-FL-032
TEST_F(TransportTest, WaitRejoinAndDone) {
  auto a = Client("site-a");
  ASSERT_TRUE(a->Join("t1", "fp", 100).ok());
  auto wait = a->Next(0, 0);
  ASSERT_TRUE(wait.ok());
  EXPECT_EQ(wait->kind, "wait");
  // Joining again (a restarted node) replaces the old session.
  auto a2 = Client("site-a");
  ASSERT_TRUE(a2->Join("t1", "fp", 100).ok());
  EXPECT_EQ(a->Next(0, 0).status().code(), StatusCode::kNotFound);
  server_->Post("site-a", {2, 1, "train", "p2"});
  server_->Post("site-a", {1, 1, "train", "p1"});
  auto m = a2->Next(0, 0);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, "p1");  // in (round, step) order
  m = a2->Next(1, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, "p2");
  server_->Finish("final");
  m = a2->Next(2, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, "done");
  EXPECT_EQ(m->payload, "final");
}

// The cap on a message is the receiver's option (1 GiB unless set): a message over it is refused
// with both sizes named, whichever side receives it; one of exactly the cap travels.
// Verifies: REQ-FL-079
TEST_F(TransportTest, PayloadsOverTheReceiversCapAreRefused) {
  EXPECT_EQ(CoordinatorServerOptions{}.max_payload_bytes, std::uint64_t{1} << 30);
  EXPECT_EQ(NodeClientOptions{}.max_payload_bytes, std::uint64_t{1} << 30);
  server_.reset();
  CoordinatorServerOptions o = ServerOptions();
  o.max_payload_bytes = 1000;
  auto s = CoordinatorServer::Start(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  server_ = std::move(*s);
  auto a = Client("site-a", 500);
  ASSERT_TRUE(a->Join("t1", "fp", 100).ok());

  // A node's answer, against the coordinator's cap.
  ASSERT_TRUE(a->Submit({1, 1, "update", std::string(1000, 'u')}).ok());
  Status over = a->Submit({1, 2, "update", std::string(1001, 'u')});
  EXPECT_EQ(over.code(), StatusCode::kInvalidArgument) << over.ToString();
  EXPECT_NE(over.message().find("a message of 1001 bytes is over the limit of 1000 bytes"),
            std::string::npos)
      << over.message();
  EXPECT_EQ(server_->Collect({"site-a"}, 1, 1, Clock::now() + std::chrono::seconds(5)).size(), 1u);
  EXPECT_TRUE(
      server_->Collect({"site-a"}, 1, 2, Clock::now() + std::chrono::milliseconds(100)).empty());

  // The coordinator's step, against the node's cap.
  server_->Post("site-a", {2, 1, "train", std::string(501, 't')});
  server_->Post("site-a", {2, 2, "train", std::string(500, 't')});
  auto refused = a->Next(1, 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(
      refused.status().message().find("a message of 501 bytes is over the limit of 500 bytes"),
      std::string::npos)
      << refused.status().message();
  auto at_cap = a->Next(2, 1);
  ASSERT_TRUE(at_cap.ok()) << at_cap.status().ToString();
  EXPECT_EQ(at_cap->payload, std::string(500, 't'));
}

}  // namespace
}  // namespace sund::fl
