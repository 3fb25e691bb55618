#include "fl/certs.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>

namespace sund::fl {
namespace {

namespace fs = std::filesystem;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

Status Ssl(std::string_view what) { return Internal("OpenSSL: " + std::string(what) + " failed"); }

Result<Key> NewKey() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return Ssl("generating a P-256 key");
  return k;
}

std::string BioText(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Ssl("writing a key");
  }
  return BioText(b.get());
}

Result<std::string> CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return Ssl("writing a certificate");
  return BioText(b.get());
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Ssl("making an extension");
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : Ssl("adding an extension");
}

enum class Role { kAuthority, kServer, kClient };

// A certificate for `key` named `cn`, signed by (issuer, issuer_key); self-signed when issuer is
// null.
Result<Cert> MakeCert(EVP_PKEY* key, const std::string& cn, Role role,
                      const std::vector<std::string>& hosts, X509* issuer, EVP_PKEY* issuer_key,
                      int days) {
  Cert c(X509_new());
  if (!c) return Ssl("X509_new");
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Ssl("RAND_bytes");
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  if (sn == nullptr) return Ssl("setting the serial number");
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(days) * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Sund federated pilot"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
  X509_set_pubkey(c.get(), key);
  switch (role) {
    case Role::kAuthority:
      SUND_RETURN_IF_ERROR(
          AddExt(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
      SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
      break;
    case Role::kServer:
    case Role::kClient: {
      SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
      SUND_RETURN_IF_ERROR(
          AddExt(c.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement"));
      SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_ext_key_usage,
                                  role == Role::kServer ? "serverAuth" : "clientAuth"));
      std::string san;
      for (const auto& h : hosts) {
        if (!san.empty()) san += ",";
        bool ip = !h.empty() && (std::isdigit(static_cast<unsigned char>(h[0])) ||
                                 h.find(':') != std::string::npos);
        san += (ip ? "IP:" : "DNS:") + h;
      }
      if (role == Role::kClient) san = "DNS:" + cn;
      if (!san.empty()) SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_subject_alt_name, san));
      break;
    }
  }
  SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  if (X509_sign(c.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return Ssl("signing a certificate");
  }
  return c;
}

Status WriteNew(const fs::path& path, const std::string& text, bool secret) {
  if (fs::exists(path)) {
    return Status(StatusCode::kConflict, path.string() + " exists: not overwritten");
  }
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) return Internal("cannot write " + path.string());
  }
  if (secret && ::chmod(path.c_str(), 0600) != 0) return Internal("cannot chmod " + path.string());
  return Status::Ok();
}

Result<std::string> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Status WritePair(const fs::path& dir, const std::string& name, EVP_PKEY* key, X509* cert) {
  SUND_ASSIGN_OR_RETURN(std::string cert_pem, CertPem(cert));
  SUND_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key));
  SUND_RETURN_IF_ERROR(WriteNew(dir / (name + ".pem"), cert_pem, false));
  return WriteNew(dir / (name + ".key"), key_pem, true);
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
  SUND_ASSIGN_OR_RETURN(Key ca_key, NewKey());
  SUND_ASSIGN_OR_RETURN(Cert ca, MakeCert(ca_key.get(), "Sund federated pilot CA", Role::kAuthority,
                                          {}, nullptr, nullptr, o.days));
  SUND_RETURN_IF_ERROR(WritePair(dir, "ca", ca_key.get(), ca.get()));
  SUND_ASSIGN_OR_RETURN(Key co_key, NewKey());
  SUND_ASSIGN_OR_RETURN(Cert co, MakeCert(co_key.get(), "coordinator", Role::kServer,
                                          o.coordinator_hosts, ca.get(), ca_key.get(), o.days));
  SUND_RETURN_IF_ERROR(WritePair(dir, "coordinator", co_key.get(), co.get()));
  return AddNodeCertificates(o.dir, o.nodes, o.days);
}

Status AddNodeCertificates(const std::string& dir_name, const std::vector<std::string>& nodes,
                           int days) {
  SUND_RETURN_IF_ERROR(CheckNames(nodes));
  fs::path dir(dir_name);
  SUND_ASSIGN_OR_RETURN(std::string ca_pem, ReadAll(dir / "ca.pem"));
  SUND_ASSIGN_OR_RETURN(std::string ca_key_pem, ReadAll(dir / "ca.key"));
  Bio cb(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  Cert ca(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Bio kb(BIO_new_mem_buf(ca_key_pem.data(), static_cast<int>(ca_key_pem.size())));
  Key ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca || !ca_key) return InvalidArgument("ca.pem or ca.key in " + dir_name + " is unreadable");
  for (const auto& n : nodes) {
    SUND_ASSIGN_OR_RETURN(Key key, NewKey());
    SUND_ASSIGN_OR_RETURN(Cert cert,
                          MakeCert(key.get(), n, Role::kClient, {}, ca.get(), ca_key.get(), days));
    SUND_RETURN_IF_ERROR(WritePair(dir, n, key.get(), cert.get()));
  }
  return Status::Ok();
}

Result<std::string> CertificateCommonName(std::string_view pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) return InvalidArgument("not a PEM certificate");
  char buf[256];
  int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(c.get()), NID_commonName, buf, sizeof buf);
  if (n < 0) return InvalidArgument("the certificate has no common name");
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace sund::fl
