#include "core/x509.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

namespace sund::x509 {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

Status Ssl(std::string_view what) { return Internal("OpenSSL: " + std::string(what) + " failed"); }

std::string BioText(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Cert ReadCert(std::string_view pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

Key ReadKey(std::string_view pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Key(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
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

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void AddName(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return;
  X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
}

}  // namespace

Result<KeyPair> MakeCertificate(const CertificateSpec& spec, const KeyPair* issuer) {
  Cert issuer_cert;
  Key issuer_key;
  if (issuer != nullptr) {
    issuer_cert = ReadCert(issuer->cert_pem);
    issuer_key = ReadKey(issuer->key_pem);
    if (!issuer_cert || !issuer_key) return InvalidArgument("the issuer's key or certificate");
  }
  Key key(EVP_EC_gen("P-256"));
  if (!key) return Ssl("generating a P-256 key");
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
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(spec.days) * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(c.get());
  AddName(name, "O", spec.organisation);
  AddName(name, "CN", spec.common_name);
  X509* signer = issuer_cert ? issuer_cert.get() : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
  X509_set_pubkey(c.get(), key.get());
  switch (spec.usage) {
    case Usage::kAuthority:
      SUND_RETURN_IF_ERROR(
          AddExt(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
      SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
      break;
    case Usage::kServer:
    case Usage::kClient: {
      SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
      SUND_RETURN_IF_ERROR(
          AddExt(c.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement"));
      bool server = spec.usage == Usage::kServer;
      SUND_RETURN_IF_ERROR(
          AddExt(c.get(), signer, NID_ext_key_usage, server ? "serverAuth" : "clientAuth"));
      std::string san;
      if (server) {
        for (const auto& h : spec.hosts) {
          if (!san.empty()) san += ",";
          san += (IsIpAddress(h) ? "IP:" : "DNS:") + h;
        }
      } else {
        san = "DNS:" + spec.common_name;
      }
      if (!san.empty()) SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_subject_alt_name, san));
      break;
    }
  }
  SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer_cert) {
    SUND_RETURN_IF_ERROR(AddExt(c.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  EVP_PKEY* sign_key = issuer_key ? issuer_key.get() : key.get();
  if (X509_sign(c.get(), sign_key, EVP_sha256()) == 0) return Ssl("signing a certificate");

  KeyPair out;
  Bio kb(BIO_new(BIO_s_mem()));
  if (!kb ||
      PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Ssl("writing a key");
  }
  out.key_pem = BioText(kb.get());
  Bio cb(BIO_new(BIO_s_mem()));
  if (!cb || PEM_write_bio_X509(cb.get(), c.get()) != 1) return Ssl("writing a certificate");
  out.cert_pem = BioText(cb.get());
  return out;
}

Result<std::string> CommonName(std::string_view pem) {
  Cert c = ReadCert(pem);
  if (!c) return InvalidArgument("not a PEM certificate");
  char buf[256];
  int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(c.get()), NID_commonName, buf, sizeof buf);
  if (n < 0) return InvalidArgument("the certificate has no common name");
  return std::string(buf, static_cast<std::size_t>(n));
}

Result<long long> SecondsToExpiry(std::string_view pem) {
  Cert c = ReadCert(pem);
  if (!c) return InvalidArgument("not a PEM certificate");
  int days = 0;
  int seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(c.get())) != 1) {
    return InvalidArgument("the certificate's expiry time is unreadable");
  }
  return static_cast<long long>(days) * 86400 + seconds;
}

Status WriteNewFile(const std::string& path, std::string_view text, bool secret) {
  // O_EXCL: never overwrite, and a secret is never readable by others, not even briefly.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Status(StatusCode::kConflict, path + " exists: not overwritten");
    }
    return Internal("cannot write " + path + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Internal("cannot write " + path + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return Internal("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace sund::x509
