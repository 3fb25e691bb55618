// gRPC credentials for mutual TLS from `sund fl certs` files, and the peer's node name. Internal
// to fl: it includes gRPC's headers, so only fl's transport files include it.
// Thread-safety: pure functions.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace sund::fl::internal {

struct TlsFiles {
  std::string ca;    // PEM of the authority that signed every party
  std::string cert;  // this party's certificate (PEM)
  std::string key;   // its private key (PEM)
};

// Reads DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key.
Result<TlsFiles> LoadTlsFiles(const std::string& dir, const std::string& name);

// The coordinator's side: TLS 1.2+ with a client certificate required and verified against
// the authority.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsFiles& files);
// A node's side: verifies the coordinator's certificate and presents its own.
std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TlsFiles& files);

// The common name of the verified client certificate of the call, or "" when there is none.
std::string PeerName(const grpc::ServerContext& context);

}  // namespace sund::fl::internal
