// Certificates for a federated-learning pilot (`sund fl certs`): a small certificate authority,
// a server certificate for the coordinator and a client certificate per node, all ECDSA P-256
// with SHA-256 signatures. The coordinator and the nodes authenticate each other with them
// (gRPC over mutual TLS); a node is known by its certificate's common name, which the
// coordinator checks against its allow-list. Production deployments use their own PKI instead.
//
// Files written into `dir`: ca.pem and ca.key (the authority: keep ca.key offline once the
// certificates are made), coordinator.pem and coordinator.key, and NODE.pem and NODE.key per
// node. Keys are PEM (PKCS#8), written with mode 0600.
// Thread-safety: pure functions (OpenSSL 3 is thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::fl {

struct CertsOptions {
  std::string dir;
  std::vector<std::string> nodes;  // names: letters, digits, '.', '_', '-'; 1 to 64 characters
  // Names the coordinator is reached by (subjectAltName): DNS names and IP addresses.
  std::vector<std::string> coordinator_hosts = {"localhost", "127.0.0.1"};
  int days = 365;
};

// Makes the authority and every certificate. Errors: a bad node name (InvalidArgument), a
// folder that cannot be written (Internal); existing files are not overwritten (kConflict).
Status MakePilotCertificates(const CertsOptions& options);

// Adds node certificates signed by an existing authority in `dir` (ca.pem, ca.key).
Status AddNodeCertificates(const std::string& dir, const std::vector<std::string>& nodes,
                           int days = 365);

// The subject common name of a PEM certificate.
Result<std::string> CertificateCommonName(std::string_view pem);

bool ValidNodeName(std::string_view name);

}  // namespace sund::fl
