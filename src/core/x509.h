// X.509 certificates for Sund's own use: development TLS certificates for `sund serve
// --tls-cert auto`, the federated-learning pilot's small authority (fl/certs.h), and tests.
// Keys are ECDSA P-256, signatures SHA-256, everything PEM (keys PKCS#8). Production
// deployments bring certificates from their own PKI.
// Thread-safety: pure functions (OpenSSL 3 is thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::x509 {

enum class Usage {
  kAuthority,  // CA:TRUE, pathlen 0, keyCertSign
  kServer,     // serverAuth, subjectAltName from `hosts`
  kClient,     // clientAuth, subjectAltName DNS:<common name>
};

struct CertificateSpec {
  std::string organisation;
  std::string common_name;
  Usage usage = Usage::kServer;
  std::vector<std::string> hosts;  // kServer: DNS names and IP addresses (v4 or v6)
  int days = 365;
};

// A private key and its certificate, both PEM.
struct KeyPair {
  std::string key_pem;
  std::string cert_pem;
};

// Makes a new key and a certificate for it, signed by `issuer` (self-signed when null).
// Errors: kInvalidArgument for an unreadable issuer, kInternal when OpenSSL fails.
Result<KeyPair> MakeCertificate(const CertificateSpec& spec, const KeyPair* issuer = nullptr);

// The subject's common name of a PEM certificate.
Result<std::string> CommonName(std::string_view cert_pem);

// Seconds until a PEM certificate expires (negative once it has).
Result<long long> SecondsToExpiry(std::string_view cert_pem);

// Writes a new file (kConflict when it exists: never overwritten), mode 0600 when `secret`.
Status WriteNewFile(const std::string& path, std::string_view text, bool secret);

}  // namespace sund::x509
