// Cryptographic building blocks over OpenSSL 3 (EVP APIs only): random tokens, base64 and
// base64url, SHA-256 and HMAC-SHA256, constant-time comparison, and the ECDSA/RSA keys that
// sign and verify JSON Web Signatures. The authorization server (src/auth) uses them for access
// tokens, client assertions (SMART Backend Services) and JWKS documents.
//
// Specs: RFC 4648 (base64, base64url), RFC 7515 (JWS), RFC 7517 (JWK), RFC 7518 section 3.3-3.4
// (RS256/RS384 and ES256/ES384, with ECDSA signatures as fixed-length R||S), RFC 7638 (JWK
// thumbprint). Thread-safety: free functions are thread-safe; SigningKey and VerifyKey are
// immutable after construction, so const methods may be called from several threads at once.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"

namespace sund::crypto {

// `n` bytes from OpenSSL's CSPRNG. Crashes if the generator fails (it cannot be seeded), since
// no caller could go on safely.
std::string RandomBytes(std::size_t n);
// Base64url (no padding) of `bytes` random bytes: 32 bytes give a 43-character token.
std::string RandomToken(std::size_t bytes = 32);

// RFC 4648 section 5, without padding.
std::string Base64UrlEncode(std::string_view data);
// Accepts input with or without '=' padding. InvalidArgument on characters outside the url-safe
// alphabet, an impossible length, misplaced padding or non-zero unused bits.
Result<std::string> Base64UrlDecode(std::string_view text);
// RFC 4648 section 4, with padding.
std::string Base64Encode(std::string_view data);
// Requires the standard alphabet and padding (length a multiple of 4). InvalidArgument otherwise,
// and on non-zero unused bits.
Result<std::string> Base64Decode(std::string_view text);

// Raw 32-byte digest.
std::string Sha256(std::string_view data);
// Lower-case hex of Sha256 (64 characters).
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256 (RFC 2104) of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// HMAC-SHA256 under one fixed key, for keys used many times (the audit log's salt): the key's
// padded inner and outer blocks are hashed once, so Mac costs two SHA-256 passes and no key
// setup or algorithm lookup (several times faster than HmacSha256 on short data). Immutable;
// Mac may be called from several threads at once.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);
  ~HmacSha256Key();
  HmacSha256Key(HmacSha256Key&& other) noexcept;
  HmacSha256Key& operator=(HmacSha256Key&& other) noexcept;
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;
  // Equals HmacSha256(key, data).
  std::string Mac(std::string_view data) const;

 private:
  EVP_MD_CTX* inner_ = nullptr;  // SHA-256 after (key ^ ipad)
  EVP_MD_CTX* outer_ = nullptr;  // SHA-256 after (key ^ opad)
};

// Compares in time that depends only on the length; false when the sizes differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// RFC 7638 thumbprint of a public JWK: base64url(SHA-256(canonical JSON of the required
// members)). Supports kty EC (crv, x, y) and RSA (e, n); other members are ignored.
// InvalidArgument when `jwk` is not an object, kty is missing or unsupported, or a required
// member is missing or not a string.
Result<std::string> JwkThumbprint(const rapidjson::Value& jwk);

namespace internal {
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
}  // namespace internal

// A private ECDSA key that signs JWS: P-256 for "ES256", P-384 for "ES384".
class SigningKey {
 public:
  // A fresh key. InvalidArgument unless `alg` is "ES256" or "ES384".
  static Result<SigningKey> Generate(std::string alg);
  // Reads a PEM private key (PKCS#8 "PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"); the curve decides
  // the algorithm. InvalidArgument when the text is not such a key or the curve is not P-256 or
  // P-384.
  static Result<SigningKey> FromPem(std::string_view pem);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() = default;

  // Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Secret: store it like a password.
  std::string ToPem() const;
  // "ES256" or "ES384".
  std::string alg() const { return alg_; }
  // RFC 7638 thumbprint of the public key.
  std::string kid() const { return kid_; }
  // JWS signature of `data`: R||S, each padded to the curve size (64 bytes for ES256, 96 for
  // ES384). Internal if OpenSSL fails.
  Result<std::string> Sign(std::string_view data) const;
  // The public key as a JWK JSON object: kty, crv, x, y, kid, alg and "use":"sig".
  std::string PublicJwk() const;

 private:
  friend class VerifyKey;
  SigningKey() = default;
  static Result<SigningKey> FromPkey(internal::PkeyPtr key);

  internal::PkeyPtr key_;
  std::string alg_;
  std::string crv_;
  std::string x_;  // base64url
  std::string y_;  // base64url
  std::string kid_;
};

// A public key that verifies JWS signatures: EC P-256 or P-384, or RSA (2048 to 16384 bits).
class VerifyKey {
 public:
  // From a JWK object: kty "EC" with crv "P-256" or "P-384", x and y; or kty "RSA" with n and e.
  // When the JWK has "alg", only that algorithm verifies; when it has "use", it must be "sig".
  // InvalidArgument for any other kty or curve, missing or malformed members, a point not on the
  // curve, or an RSA modulus outside 2048..16384 bits.
  static Result<VerifyKey> FromJwk(const rapidjson::Value& jwk);
  // The public half of `key`.
  static Result<VerifyKey> FromSigningKey(const SigningKey& key);

  VerifyKey(VerifyKey&&) noexcept = default;
  VerifyKey& operator=(VerifyKey&&) noexcept = default;
  VerifyKey(const VerifyKey&) = delete;
  VerifyKey& operator=(const VerifyKey&) = delete;
  ~VerifyKey() = default;

  // Checks `signature` over `data` with `alg`: "ES256" (P-256 key, 64-byte R||S), "ES384"
  // (P-384 key, 96-byte R||S), "RS256" or "RS384" (RSA key, PKCS#1 v1.5). Unauthenticated when
  // the algorithm is unknown or does not fit this key, the signature has the wrong length or
  // does not verify; Internal if OpenSSL fails.
  Status Verify(std::string_view alg, std::string_view data, std::string_view signature) const;

 private:
  enum class Kind : std::uint8_t { kEcP256, kEcP384, kRsa };
  VerifyKey() = default;

  internal::PkeyPtr key_;
  Kind kind_ = Kind::kEcP256;
  std::string jwk_alg_;  // empty when the JWK did not restrict the algorithm
};

}  // namespace sund::crypto
