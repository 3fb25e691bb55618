#include "fl/internal/grpc_tls.h"

#include <filesystem>
#include <fstream>

namespace sund::fl::internal {
namespace {

Result<std::string> ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

Result<TlsFiles> LoadTlsFiles(const std::string& dir, const std::string& name) {
  std::filesystem::path d(dir);
  TlsFiles f;
  SUND_ASSIGN_OR_RETURN(f.ca, ReadAll(d / "ca.pem"));
  SUND_ASSIGN_OR_RETURN(f.cert, ReadAll(d / (name + ".pem")));
  SUND_ASSIGN_OR_RETURN(f.key, ReadAll(d / (name + ".key")));
  return f;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsFiles& files) {
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = files.ca;
  o.pem_key_cert_pairs.push_back({files.key, files.cert});
  return grpc::SslServerCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TlsFiles& files) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = files.ca;
  o.pem_private_key = files.key;
  o.pem_cert_chain = files.cert;
  return grpc::SslCredentials(o);
}

std::string PeerName(const grpc::ServerContext& context) {
  auto auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  auto names = auth->FindPropertyValues("x509_common_name");
  if (names.empty()) return "";
  return std::string(names.front().data(), names.front().size());
}

}  // namespace sund::fl::internal
