#include "demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "auth/password.h"
#include "auth/server.h"
#include "core/time.h"
#include "fhir/search_query.h"

namespace {

struct DemoAccount {
  const char* username;
  const char* password;
  const char* role;
  const char* type;       // link to the first resource of this type, or nullptr
  const char* fhir_user;  // or this fixed link, or nullptr
  const char* name;
};
// sim-p-3 is one of the demo's simulated citizens (created when the demo starts; not one of
// those who fall ill), so a developer's test launch shows home measurements.
constexpr DemoAccount kDemoAccounts[] = {
    {"borger", "demo-borger", "citizen", "Patient", nullptr, "Demo-borger"},
    {"sygeplejerske", "demo-sygeplejerske", "practitioner", "Practitioner", nullptr,
     "Demo-sygeplejerske"},
    {"udvikler", "demo-udvikler", "developer", nullptr, nullptr, "Demo-udvikler"},
    {"admin", "demo-admin", "admin", nullptr, nullptr, "Demo-administrator"},
    {"sandkasse", "demo-sandkasse", "citizen", nullptr, "Patient/sim-p-3", "Sandkasse-borger"},
};

// A free TCP port on loopback (the kernel's choice; free again when this returns).
sund::Result<std::uint16_t> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return sund::Status(sund::StatusCode::kUnavailable, "no socket for a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) return sund::Status(sund::StatusCode::kUnavailable, "no free loopback port");
  return ntohs(a.sin_port);
}

bool Accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

std::string FindMosquitto() {
  if (const char* env = std::getenv("SUND_MOSQUITTO"); env != nullptr && *env != 0) return env;
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

}  // namespace

sund::Status SetUpDemoAccounts(const std::string& data, sund::storage::Store& store) {
  sund::auth::AuthOptions o;
  o.data_dir = data;
  SUND_ASSIGN_OR_RETURN(auto auth,
                        sund::auth::AuthServer::Open(o, &store, sund::SystemClock::Get()));
  for (const auto& a : kDemoAccounts) {
    sund::auth::User u;
    u.username = a.username;
    u.role = a.role;
    u.display = a.name;
    if (a.fhir_user != nullptr) u.fhir_user = a.fhir_user;
    if (a.type != nullptr) {
      sund::fhir::SearchQuery q;
      q.type = a.type;
      q.count = 1;
      SUND_ASSIGN_OR_RETURN(auto page, store.Search(q));
      if (page.matches.empty()) continue;
      u.fhir_user = std::string(a.type) + "/" + page.matches[0].id;
    }
    SUND_ASSIGN_OR_RETURN(u.password_hash, sund::auth::HashPassword(a.password));
    sund::Status s = auth->db().AddUser(u);
    if (!s.ok() && s.code() != sund::StatusCode::kConflict) return s;
  }
  sund::auth::Client c;
  c.client_id = "sund-demo-app";
  c.name = "Sund demo-app";
  c.auth_method = "none";
  c.redirect_uris = {"http://127.0.0.1:3000/callback"};
  c.grant_types = {"authorization_code", "refresh_token"};
  c.scope = "launch launch/patient openid fhirUser profile offline_access patient/*.rs user/*.rs";
  c.created = sund::SystemClock::Get().NowMicros() / 1'000'000;
  sund::Status s = auth->db().AddClient(c);
  if (!s.ok() && s.code() != sund::StatusCode::kConflict) return s;
  return sund::Status::Ok();
}

std::string DemoLogins() {
  std::string out;
  for (const auto& a : kDemoAccounts) {
    out += std::string("  ") + a.username + " / " + a.password + "  (" + a.role + ")\n";
  }
  return out;
}

sund::Result<std::unique_ptr<DemoBroker>> DemoBroker::Start(const std::string& data) {
  std::string bin = FindMosquitto();
  if (bin.empty()) {
    return sund::Status(sund::StatusCode::kUnavailable,
                        "mosquitto is not installed (scripts/install-deps.sh installs it)");
  }
  SUND_ASSIGN_OR_RETURN(std::uint16_t port, FreePort());
  sund::iomt::BrokerConfig config;
  config.dir = (std::filesystem::path(data) / "mosquitto").string();
  config.port = port;
  config.simulator = true;
  SUND_ASSIGN_OR_RETURN(sund::iomt::BrokerUrls urls, sund::iomt::WriteBrokerConfig(config));
  std::string conf = (std::filesystem::path(config.dir) / "mosquitto.conf").string();
  std::string log = (std::filesystem::path(config.dir) / "mosquitto.log").string();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return sund::Status(sund::StatusCode::kUnavailable, "cannot start mosquitto");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::unique_ptr<DemoBroker> broker(new DemoBroker());
  broker->pid_ = pid;
  broker->port_ = port;
  broker->urls_ = std::move(urls);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Accepts(port)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      broker->pid_ = -1;
      return sund::Status(sund::StatusCode::kUnavailable,
                          "mosquitto exited at start (see " + log + ")");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return sund::Status(sund::StatusCode::kUnavailable,
                          "mosquitto did not come up in 10 s (see " + log + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return broker;
}

DemoBroker::~DemoBroker() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}
