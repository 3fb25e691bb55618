#include "fl/certs.h"

#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/x509.h"

namespace sund::fl {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOrganisation = "Sund federated pilot";

Result<std::string> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Status WritePair(const fs::path& dir, const std::string& name, const x509::KeyPair& pair) {
  SUND_RETURN_IF_ERROR(x509::WriteNewFile((dir / (name + ".pem")).string(), pair.cert_pem, false));
  return x509::WriteNewFile((dir / (name + ".key")).string(), pair.key_pem, true);
}

Status CheckNames(const std::vector<std::string>& nodes) {
  for (const auto& n : nodes) {
    if (!ValidNodeName(n) || n == "ca" || n == "coordinator") {
      return InvalidArgument("node name '" + n +
                             "': use 1-64 letters, digits, '.', '_' or '-' (not ca or "
                             "coordinator)");
    }
  }
  return Status::Ok();
}

}  // namespace

bool ValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

Status MakePilotCertificates(const CertsOptions& o) {
  SUND_RETURN_IF_ERROR(CheckNames(o.nodes));
  if (o.days < 1 || o.days > 3650) return InvalidArgument("days must be 1..3650");
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) return Internal("cannot create " + o.dir);
  fs::path dir(o.dir);
  SUND_ASSIGN_OR_RETURN(
      x509::KeyPair ca,
      x509::MakeCertificate(
          {kOrganisation, "Sund federated pilot CA", x509::Usage::kAuthority, {}, o.days}));
  SUND_RETURN_IF_ERROR(WritePair(dir, "ca", ca));
  SUND_ASSIGN_OR_RETURN(
      x509::KeyPair coordinator,
      x509::MakeCertificate(
          {kOrganisation, "coordinator", x509::Usage::kServer, o.coordinator_hosts, o.days}, &ca));
  SUND_RETURN_IF_ERROR(WritePair(dir, "coordinator", coordinator));
  return AddNodeCertificates(o.dir, o.nodes, o.days);
}

Status AddNodeCertificates(const std::string& dir_name, const std::vector<std::string>& nodes,
                           int days) {
  SUND_RETURN_IF_ERROR(CheckNames(nodes));
  fs::path dir(dir_name);
  x509::KeyPair ca;
  SUND_ASSIGN_OR_RETURN(ca.cert_pem, ReadAll(dir / "ca.pem"));
  SUND_ASSIGN_OR_RETURN(ca.key_pem, ReadAll(dir / "ca.key"));
  for (const auto& n : nodes) {
    auto made = x509::MakeCertificate({kOrganisation, n, x509::Usage::kClient, {}, days}, &ca);
    if (made.status().code() == StatusCode::kInvalidArgument) {
      return InvalidArgument("ca.pem or ca.key in " + dir_name + " is unreadable");
    }
    SUND_ASSIGN_OR_RETURN(x509::KeyPair pair, std::move(made));
    SUND_RETURN_IF_ERROR(WritePair(dir, n, pair));
  }
  return Status::Ok();
}

Result<std::string> CertificateCommonName(std::string_view pem) { return x509::CommonName(pem); }

}  // namespace sund::fl
