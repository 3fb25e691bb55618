// Compiled against the OpenSSL 3 API with every deprecated declaration hidden, so that a
// low-level call (EC_KEY, RSA, HMAC_CTX, SHA256_Init ...) fails to compile here.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "core/crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <climits>
#include <cstdint>
#include <utility>

namespace sund::crypto {

namespace internal {
void PkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
}  // namespace internal

namespace {

using internal::PkeyPtr;

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter>;
struct ParamDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamDeleter>;
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;

// Largest PEM key text FromPem reads; real EC keys are a few hundred bytes.
constexpr std::size_t kMaxPemBytes = 64 * 1024;
constexpr int kMinRsaBits = 2048;   // RFC 7518 section 3.3
constexpr int kMaxRsaBits = 16384;  // bounds the cost of one verification
constexpr std::size_t kMaxRsaExponentBytes = 8;

Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }

// Drops OpenSSL's queued errors after a failure we report ourselves, so they cannot surface
// later in an unrelated call.
Status OpensslFailure(Status status) {
  ERR_clear_error();
  return status;
}

constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string EncodeBase64(std::string_view data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                      (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                      std::uint32_t{static_cast<unsigned char>(data[i + 2])};
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = data.size() - i;
  if (rest == 1) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(data[i])} << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                      (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes unpadded base64 text in `alphabet`. The text's length modulo 4 must not be 1, and
// the bits a final partial group leaves unused must be zero (RFC 4648 section 3.5), so that
// each byte string has exactly one encoding.
Result<std::string> DecodeBase64(std::string_view text, const char* alphabet) {
  std::array<std::int8_t, 256> table;
  table.fill(-1);
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
  if (text.size() % 4 == 1) return InvalidArgument("base64 text has an impossible length");
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    std::int8_t v = table[static_cast<unsigned char>(c)];
    if (v < 0) return InvalidArgument("base64 text has a character outside its alphabet");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return InvalidArgument("base64 text has non-zero padding bits");
  return out;
}

// The length of `text` without its trailing '=' padding; npos when the padding is malformed
// ('=' elsewhere than at the end, more than two, or padded text not a multiple of 4 long).
std::size_t UnpaddedLength(std::string_view text) {
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '=') --end;
  std::size_t pads = text.size() - end;
  if (pads == 0) return end;
  if (pads > 2 || text.size() % 4 != 0) return std::string_view::npos;
  return end;
}

template <typename F>
std::string WriteJson(F&& f) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  f(w);
  return {sb.GetString(), sb.GetSize()};
}

void Key(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view name,
         std::string_view value) {
  w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// RFC 7638 section 3.2: the required members in lexicographic order, no whitespace.
std::string EcThumbprint(std::string_view crv, std::string_view x, std::string_view y) {
  std::string canonical = WriteJson([&](auto& w) {
    w.StartObject();
    Key(w, "crv", crv);
    Key(w, "kty", "EC");
    Key(w, "x", x);
    Key(w, "y", y);
    w.EndObject();
  });
  return Base64UrlEncode(Sha256(canonical));
}

std::string RsaThumbprint(std::string_view e, std::string_view n) {
  std::string canonical = WriteJson([&](auto& w) {
    w.StartObject();
    Key(w, "e", e);
    Key(w, "kty", "RSA");
    Key(w, "n", n);
    w.EndObject();
  });
  return Base64UrlEncode(Sha256(canonical));
}

// A required string member of a JWK.
Result<std::string_view> JwkMember(const rapidjson::Value& jwk, const char* name) {
  const rapidjson::Value* v = json::Find(jwk, name);
  if (v == nullptr || !v->IsString()) {
    return InvalidArgument(std::string("JWK member \"") + name + "\" is missing or not a string");
  }
  return json::View(*v);
}

struct Curve {
  std::string_view jose_name;    // "P-256"
  const char* openssl_name;      // "prime256v1"
  std::string_view alg;          // "ES256"
  std::size_t coordinate_bytes;  // 32
};
constexpr Curve kP256{"P-256", "prime256v1", "ES256", 32};
constexpr Curve kP384{"P-384", "secp384r1", "ES384", 48};

const Curve* CurveForJoseName(std::string_view crv) {
  if (crv == kP256.jose_name) return &kP256;
  if (crv == kP384.jose_name) return &kP384;
  return nullptr;
}

const Curve* CurveForAlg(std::string_view alg) {
  if (alg == kP256.alg) return &kP256;
  if (alg == kP384.alg) return &kP384;
  return nullptr;
}

// The curve of an EC key, or nullptr when the key is not EC on P-256 or P-384.
const Curve* CurveOfKey(const EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return nullptr;
  char name[64];
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
      1) {
    ERR_clear_error();
    return nullptr;
  }
  std::string_view group(name, len);
  if (group == "prime256v1" || group == "P-256" || group == "secp256r1") return &kP256;
  if (group == "secp384r1" || group == "P-384") return &kP384;
  return nullptr;
}

// A BIGNUM parameter of `key` as big-endian bytes, left-padded to `size`.
Result<std::string> BnParam(const EVP_PKEY* key, const char* name, std::size_t size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return OpensslFailure(Internal("cannot read a key parameter"));
  }
  BnPtr bn(raw);
  std::string out(size, '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()),
                   static_cast<int>(size)) != static_cast<int>(size)) {
    return OpensslFailure(Internal("key parameter is larger than expected"));
  }
  return out;
}

const EVP_MD* DigestForAlg(std::string_view alg) {
  if (alg == "ES256" || alg == "RS256") return EVP_sha256();
  if (alg == "ES384" || alg == "RS384") return EVP_sha384();
  return nullptr;
}

// Builds a public key of `type` ("EC" or "RSA") from OSSL_PARAMs, then checks it
// (EVP_PKEY_public_check: the point lies on the curve, the RSA modulus and exponent are sane).
Result<PkeyPtr> PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return OpensslFailure(Internal("cannot build key parameters"));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OpensslFailure(Internal("cannot create a key context"));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return OpensslFailure(InvalidArgument("JWK does not describe a valid public key"));
  }
  PkeyPtr key(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) return OpensslFailure(Internal("cannot create a key context"));
  if (EVP_PKEY_public_check(check.get()) != 1) {
    return OpensslFailure(InvalidArgument("JWK does not describe a valid public key"));
  }
  return key;
}

}  // namespace

std::string RandomBytes(std::size_t n) {
  SUND_CHECK(n <= static_cast<std::size_t>(INT_MAX));
  std::string out(n, '\0');
  if (n == 0) return out;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    ::sund::internal::CheckFailed("RAND_bytes", __FILE__, __LINE__);
  }
  return out;
}

std::string RandomToken(std::size_t bytes) { return Base64UrlEncode(RandomBytes(bytes)); }

std::string Base64UrlEncode(std::string_view data) {
  return EncodeBase64(data, kUrlAlphabet, /*pad=*/false);
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  std::size_t len = UnpaddedLength(text);
  if (len == std::string_view::npos) return InvalidArgument("base64url text has bad padding");
  return DecodeBase64(text.substr(0, len), kUrlAlphabet);
}

std::string Base64Encode(std::string_view data) {
  return EncodeBase64(data, kStdAlphabet, /*pad=*/true);
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("base64 text is not padded to 4 characters");
  std::size_t len = UnpaddedLength(text);
  if (len == std::string_view::npos) return InvalidArgument("base64 text has bad padding");
  return DecodeBase64(text.substr(0, len), kStdAlphabet);
}

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  SUND_CHECK(EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()),
                        &len, EVP_sha256(), nullptr) == 1 &&
             len == 32);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string digest = Sha256(data);
  std::string out;
  out.reserve(64);
  for (unsigned char c : digest) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  // An empty HMAC key means a block of zero bytes (RFC 2104 section 2), which is what a one-byte
  // zero key is padded to; OpenSSL refuses a zero-length key.
  static constexpr char kZero = 0;
  const void* key_data = key.empty() ? &kZero : key.data();
  std::size_t key_len = key.empty() ? 1 : key.size();
  std::string out(32, '\0');
  std::size_t len = 0;
  SUND_CHECK(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_data, key_len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                       reinterpret_cast<unsigned char*>(out.data()), out.size(), &len) != nullptr &&
             len == 32);
  return out;
}

HmacSha256Key::HmacSha256Key(std::string_view key) {
  constexpr std::size_t kBlock = 64;  // SHA-256 block size
  std::string k = key.size() > kBlock ? Sha256(key) : std::string(key);
  k.resize(kBlock, '\0');
  std::string ipad(kBlock, '\0');
  std::string opad(kBlock, '\0');
  for (std::size_t i = 0; i < kBlock; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  OPENSSL_cleanse(k.data(), k.size());
  inner_ = EVP_MD_CTX_new();
  outer_ = EVP_MD_CTX_new();
  SUND_CHECK(inner_ != nullptr && outer_ != nullptr);
  SUND_CHECK(EVP_DigestInit_ex(inner_, EVP_sha256(), nullptr) == 1 &&
             EVP_DigestUpdate(inner_, ipad.data(), ipad.size()) == 1);
  SUND_CHECK(EVP_DigestInit_ex(outer_, EVP_sha256(), nullptr) == 1 &&
             EVP_DigestUpdate(outer_, opad.data(), opad.size()) == 1);
  OPENSSL_cleanse(ipad.data(), ipad.size());
  OPENSSL_cleanse(opad.data(), opad.size());
}

HmacSha256Key::~HmacSha256Key() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
}

HmacSha256Key::HmacSha256Key(HmacSha256Key&& other) noexcept
    : inner_(std::exchange(other.inner_, nullptr)), outer_(std::exchange(other.outer_, nullptr)) {}

HmacSha256Key& HmacSha256Key::operator=(HmacSha256Key&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(inner_);
    EVP_MD_CTX_free(outer_);
    inner_ = std::exchange(other.inner_, nullptr);
    outer_ = std::exchange(other.outer_, nullptr);
  }
  return *this;
}

std::string HmacSha256Key::Mac(std::string_view data) const {
  SUND_CHECK(inner_ != nullptr);  // not moved from
  MdCtxPtr ctx(EVP_MD_CTX_new());
  SUND_CHECK(ctx != nullptr);
  unsigned char digest[32];
  unsigned int len = 0;
  SUND_CHECK(EVP_MD_CTX_copy_ex(ctx.get(), inner_) == 1 &&
             EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
             EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1 && len == 32);
  std::string out(32, '\0');
  SUND_CHECK(EVP_MD_CTX_copy_ex(ctx.get(), outer_) == 1 &&
             EVP_DigestUpdate(ctx.get(), digest, sizeof digest) == 1 &&
             EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) ==
                 1 &&
             len == 32);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> JwkThumbprint(const rapidjson::Value& jwk) {
  if (!jwk.IsObject()) return InvalidArgument("JWK is not a JSON object");
  SUND_ASSIGN_OR_RETURN(std::string_view kty, JwkMember(jwk, "kty"));
  if (kty == "EC") {
    SUND_ASSIGN_OR_RETURN(std::string_view crv, JwkMember(jwk, "crv"));
    SUND_ASSIGN_OR_RETURN(std::string_view x, JwkMember(jwk, "x"));
    SUND_ASSIGN_OR_RETURN(std::string_view y, JwkMember(jwk, "y"));
    return EcThumbprint(crv, x, y);
  }
  if (kty == "RSA") {
    SUND_ASSIGN_OR_RETURN(std::string_view e, JwkMember(jwk, "e"));
    SUND_ASSIGN_OR_RETURN(std::string_view n, JwkMember(jwk, "n"));
    return RsaThumbprint(e, n);
  }
  return InvalidArgument("JWK kty is not supported (EC and RSA are)");
}

// ---------------------------------------------------------------------------------------------
// SigningKey

Result<SigningKey> SigningKey::Generate(std::string alg) {
  const Curve* curve = CurveForAlg(alg);
  if (curve == nullptr) return InvalidArgument("signing algorithm must be ES256 or ES384");
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve->openssl_name));
  if (!key) return OpensslFailure(Internal("EC key generation failed"));
  return FromPkey(std::move(key));
}

Result<SigningKey> SigningKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return InvalidArgument("PEM key text is too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpensslFailure(Internal("cannot allocate a BIO"));
  // A callback that supplies no passphrase, so an encrypted key fails instead of prompting on
  // the terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) return OpensslFailure(InvalidArgument("text is not an unencrypted PEM private key"));
  return FromPkey(std::move(key));
}

Result<SigningKey> SigningKey::FromPkey(PkeyPtr key) {
  const Curve* curve = CurveOfKey(key.get());
  if (curve == nullptr) return InvalidArgument("signing key must be an EC key on P-256 or P-384");
  SigningKey out;
  SUND_ASSIGN_OR_RETURN(std::string x,
                        BnParam(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, curve->coordinate_bytes));
  SUND_ASSIGN_OR_RETURN(std::string y,
                        BnParam(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, curve->coordinate_bytes));
  out.key_ = std::move(key);
  out.alg_ = std::string(curve->alg);
  out.crv_ = std::string(curve->jose_name);
  out.x_ = Base64UrlEncode(x);
  out.y_ = Base64UrlEncode(y);
  out.kid_ = EcThumbprint(out.crv_, out.x_, out.y_);
  return out;
}

std::string SigningKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  SUND_CHECK(bio != nullptr);
  SUND_CHECK(
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  SUND_CHECK(len >= 0);
  std::string pem(data, static_cast<std::size_t>(len));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return pem;
}

Result<std::string> SigningKey::Sign(std::string_view data) const {
  const Curve* curve = CurveForAlg(alg_);
  SUND_CHECK(curve != nullptr);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpensslFailure(Internal("cannot allocate a digest context"));
  if (EVP_DigestSignInit(ctx.get(), nullptr, DigestForAlg(alg_), nullptr, key_.get()) != 1) {
    return OpensslFailure(Internal("cannot start signing"));
  }
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, in, data.size()) != 1) {
    return OpensslFailure(Internal("signing failed"));
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len, in,
                     data.size()) != 1) {
    return OpensslFailure(Internal("signing failed"));
  }
  // OpenSSL produces a DER ECDSA-Sig-Value; JWS wants R and S as fixed-size big-endian integers
  // (RFC 7518 section 3.4).
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpensslFailure(Internal("cannot parse the ECDSA signature"));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  const int n = static_cast<int>(curve->coordinate_bytes);
  std::string out(2 * curve->coordinate_bytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, n) != n || BN_bn2binpad(s, o + n, n) != n) {
    return OpensslFailure(Internal("ECDSA signature is larger than the curve"));
  }
  return out;
}

std::string SigningKey::PublicJwk() const {
  return WriteJson([&](auto& w) {
    w.StartObject();
    Key(w, "kty", "EC");
    Key(w, "crv", crv_);
    Key(w, "x", x_);
    Key(w, "y", y_);
    Key(w, "kid", kid_);
    Key(w, "alg", alg_);
    Key(w, "use", "sig");
    w.EndObject();
  });
}

// ---------------------------------------------------------------------------------------------
// VerifyKey

Result<VerifyKey> VerifyKey::FromJwk(const rapidjson::Value& jwk) {
  if (!jwk.IsObject()) return InvalidArgument("JWK is not a JSON object");
  SUND_ASSIGN_OR_RETURN(std::string_view kty, JwkMember(jwk, "kty"));
  if (const rapidjson::Value* use = json::Find(jwk, "use")) {
    if (json::View(*use) != "sig") return InvalidArgument("JWK use is not \"sig\"");
  }
  std::string_view alg;
  if (const rapidjson::Value* a = json::Find(jwk, "alg")) {
    if (!a->IsString()) return InvalidArgument("JWK alg is not a string");
    alg = json::View(*a);
  }

  VerifyKey out;
  if (kty == "EC") {
    SUND_ASSIGN_OR_RETURN(std::string_view crv, JwkMember(jwk, "crv"));
    const Curve* curve = CurveForJoseName(crv);
    if (curve == nullptr) return InvalidArgument("JWK crv is not supported (P-256, P-384 are)");
    if (!alg.empty() && alg != curve->alg) {
      return InvalidArgument("JWK alg does not fit its curve");
    }
    SUND_ASSIGN_OR_RETURN(std::string_view x64, JwkMember(jwk, "x"));
    SUND_ASSIGN_OR_RETURN(std::string_view y64, JwkMember(jwk, "y"));
    Result<std::string> x = Base64UrlDecode(x64);
    Result<std::string> y = Base64UrlDecode(y64);
    if (!x.ok() || !y.ok() || x->size() != curve->coordinate_bytes ||
        y->size() != curve->coordinate_bytes) {
      return InvalidArgument("JWK x or y is not a base64url coordinate of the curve's size");
    }
    std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl_name,
                                        0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return OpensslFailure(Internal("cannot build key parameters"));
    }
    SUND_ASSIGN_OR_RETURN(out.key_, PublicKeyFromParams("EC", bld.get()));
    out.kind_ = curve == &kP256 ? Kind::kEcP256 : Kind::kEcP384;
  } else if (kty == "RSA") {
    if (!alg.empty() && alg != "RS256" && alg != "RS384") {
      return InvalidArgument("JWK alg is not supported for RSA keys (RS256, RS384 are)");
    }
    SUND_ASSIGN_OR_RETURN(std::string_view n64, JwkMember(jwk, "n"));
    SUND_ASSIGN_OR_RETURN(std::string_view e64, JwkMember(jwk, "e"));
    Result<std::string> n_bytes = Base64UrlDecode(n64);
    Result<std::string> e_bytes = Base64UrlDecode(e64);
    if (!n_bytes.ok() || !e_bytes.ok() || e_bytes->empty() ||
        e_bytes->size() > kMaxRsaExponentBytes) {
      return InvalidArgument("JWK n or e is not a valid base64url integer");
    }
    if (n_bytes->size() > static_cast<std::size_t>(kMaxRsaBits / 8 + 1)) {
      return InvalidArgument("JWK RSA modulus is too large");
    }
    BnPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes->data()),
                      static_cast<int>(n_bytes->size()), nullptr));
    BnPtr e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes->data()),
                      static_cast<int>(e_bytes->size()), nullptr));
    if (!n || !e) return OpensslFailure(Internal("cannot allocate a BIGNUM"));
    int bits = BN_num_bits(n.get());
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return InvalidArgument("JWK RSA modulus must have 2048 to 16384 bits");
    }
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return OpensslFailure(Internal("cannot build key parameters"));
    }
    SUND_ASSIGN_OR_RETURN(out.key_, PublicKeyFromParams("RSA", bld.get()));
    out.kind_ = Kind::kRsa;
  } else {
    return InvalidArgument("JWK kty is not supported (EC and RSA are)");
  }
  out.jwk_alg_ = std::string(alg);
  return out;
}

Result<VerifyKey> VerifyKey::FromSigningKey(const SigningKey& key) {
  // Round trip through SubjectPublicKeyInfo DER so that the VerifyKey holds no private part.
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.key_.get(), &der);
  if (len <= 0) return OpensslFailure(Internal("cannot encode the public key"));
  const unsigned char* p = der;
  PkeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  if (!pub) return OpensslFailure(Internal("cannot decode the public key"));
  VerifyKey out;
  out.key_ = std::move(pub);
  out.kind_ = key.alg() == kP256.alg ? Kind::kEcP256 : Kind::kEcP384;
  return out;
}

Status VerifyKey::Verify(std::string_view alg, std::string_view data,
                         std::string_view signature) const {
  const EVP_MD* md = DigestForAlg(alg);
  if (md == nullptr) return Unauthenticated("signature algorithm is not supported");
  if (!jwk_alg_.empty() && alg != jwk_alg_) {
    return Unauthenticated("signature algorithm does not match the key");
  }
  const bool is_ec = alg[0] == 'E';
  std::string der;
  if (is_ec) {
    const Curve& curve = kind_ == Kind::kEcP256 ? kP256 : kP384;
    if (kind_ == Kind::kRsa || alg != curve.alg) {
      return Unauthenticated("signature algorithm does not match the key");
    }
    if (signature.size() != 2 * curve.coordinate_bytes) {
      return Unauthenticated("signature has the wrong length");
    }
    // JWS carries R||S; OpenSSL verifies a DER ECDSA-Sig-Value.
    const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
    const int n = static_cast<int>(curve.coordinate_bytes);
    BnPtr r(BN_bin2bn(sig, n, nullptr));
    BnPtr s(BN_bin2bn(sig + n, n, nullptr));
    EcdsaSigPtr ecdsa(ECDSA_SIG_new());
    if (!r || !s || !ecdsa || ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
      return OpensslFailure(Internal("cannot build an ECDSA signature"));
    }
    r.release();  // now owned by `ecdsa`
    s.release();
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(ecdsa.get(), &out);
    if (len <= 0) return OpensslFailure(Internal("cannot encode an ECDSA signature"));
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
  } else {
    if (kind_ != Kind::kRsa) return Unauthenticated("signature algorithm does not match the key");
    if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key_.get()))) {
      return Unauthenticated("signature has the wrong length");
    }
    der.assign(signature);
  }

  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpensslFailure(Internal("cannot allocate a digest context"));
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key_.get()) != 1) {
    return OpensslFailure(Internal("cannot start verification"));
  }
  if (!is_ec && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return OpensslFailure(Internal("cannot select PKCS#1 v1.5 padding"));
  }
  int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  if (rc != 1) return OpensslFailure(Unauthenticated("bad signature"));
  return Status::Ok();
}

}  // namespace sund::crypto
