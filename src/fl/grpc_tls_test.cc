// Mutual TLS between the coordinator and nodes, with certificates from `sund fl certs`: an
// allowed node gets in, a node off the allow-list is refused, and a client with a certificate
// from another authority or none cannot even connect.
#include "fl/internal/grpc_tls.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "fl.grpc.pb.h"
#include "fl/certs.h"

namespace sund::fl {
namespace {

namespace fs = std::filesystem;

class AllowListService final : public sund::fl::v1::Coordinator::Service {
 public:
  explicit AllowListService(std::set<std::string> allowed) : allowed_(std::move(allowed)) {}
  grpc::Status Join(grpc::ServerContext* context, const sund::fl::v1::JoinRequest*,
                    sund::fl::v1::JoinReply* reply) override {
    std::string who = internal::PeerName(*context);
    if (!allowed_.count(who)) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "node not on the allow-list");
    }
    reply->set_accepted(true);
    reply->set_session(who);
    return grpc::Status::OK;
  }

 private:
  std::set<std::string> allowed_;
};

class GrpcTlsTest : public ::testing::Test {
 protected:
  static fs::path Dir(const char* name) {
    fs::path d =
        fs::temp_directory_path() / ("sund-fl-tls-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(d);
    return d;
  }
  void SetUp() override {
    pilot_ = Dir("pilot");
    other_ = Dir("other");
    CertsOptions o;
    o.dir = pilot_.string();
    o.nodes = {"hospital-a", "hospital-b"};
    ASSERT_TRUE(MakePilotCertificates(o).ok());
    o.dir = other_.string();
    o.nodes = {"hospital-a"};
    ASSERT_TRUE(MakePilotCertificates(o).ok());
    auto files = internal::LoadTlsFiles(pilot_.string(), "coordinator");
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", internal::ServerCredentials(*files), &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(pilot_);
    fs::remove_all(other_);
  }

  grpc::Status Join(const fs::path& dir, const std::string& node, std::string* session) {
    auto files = internal::LoadTlsFiles(dir.string(), node);
    EXPECT_TRUE(files.ok());
    grpc::ChannelArguments args;
    auto channel = grpc::CreateCustomChannel("localhost:" + std::to_string(port_),
                                             internal::ClientCredentials(*files), args);
    auto stub = sund::fl::v1::Coordinator::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    sund::fl::v1::JoinRequest req;
    sund::fl::v1::JoinReply reply;
    grpc::Status s = stub->Join(&ctx, req, &reply);
    if (session != nullptr) *session = reply.session();
    return s;
  }

  fs::path pilot_, other_;
  AllowListService service_{{"hospital-a"}};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Verifies: REQ-FL-028
TEST_F(GrpcTlsTest, AnAllowedNodeIsKnownByItsCertificate) {
  std::string session;
  grpc::Status s = Join(pilot_, "hospital-a", &session);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(session, "hospital-a");
}

// Verifies: REQ-FL-028
TEST_F(GrpcTlsTest, ANodeOffTheAllowListIsRefused) {
  grpc::Status s = Join(pilot_, "hospital-b", nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Verifies: REQ-FL-028
TEST_F(GrpcTlsTest, ACertificateFromAnotherAuthorityCannotConnect) {
  grpc::Status s = Join(other_, "hospital-a", nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

// Verifies: REQ-FL-027
TEST(CertsTest, NamesAndFiles) {
  fs::path d = fs::temp_directory_path() / ("sund-fl-certs-" + std::to_string(::getpid()));
  fs::remove_all(d);
  CertsOptions o;
  o.dir = d.string();
  o.nodes = {"../evil"};
  EXPECT_FALSE(MakePilotCertificates(o).ok());
  o.nodes = {"node-1"};
  ASSERT_TRUE(MakePilotCertificates(o).ok());
  EXPECT_EQ(fs::status(d / "node-1.key").permissions() & fs::perms::others_read, fs::perms::none);
  EXPECT_EQ(MakePilotCertificates(o).code(), StatusCode::kConflict);  // never overwrites
  ASSERT_TRUE(AddNodeCertificates(d.string(), {"node-2"}).ok());
  std::ifstream in(d / "node-2.pem");
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto cn = CertificateCommonName(pem);
  ASSERT_TRUE(cn.ok());
  EXPECT_EQ(*cn, "node-2");
  fs::remove_all(d);
}

}  // namespace
}  // namespace sund::fl
