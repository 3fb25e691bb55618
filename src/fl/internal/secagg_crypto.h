// The primitives of secure aggregation (secagg.h), over OpenSSL 3's EVP interface: X25519 key
// agreement (RFC 7748), HKDF-SHA256 (RFC 5869), AES-256-GCM authenticated encryption of the
// Shamir shares that nodes send each other through the coordinator, and the AES-256-CTR
// generator that expands a 32-byte seed into a mask over Z_{2^64}. Private to src/fl.
// Thread-safety: pure functions; SecretString is a value used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund::fl::internal {

inline constexpr std::size_t kX25519Bytes = 32;  // public keys, private keys, shared secrets
inline constexpr std::size_t kSeedBytes = 32;    // mask seeds and AEAD keys
inline constexpr std::size_t kAeadNonceBytes = 12;
inline constexpr std::size_t kAeadTagBytes = 16;

// Bytes that are wiped (OPENSSL_cleanse) when they go away, moved from or overwritten. Best
// effort: copies made through view() are the caller's to look after.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string s) : s_(std::move(s)) {}
  ~SecretString() { Wipe(); }
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { o.Wipe(); }
  SecretString& operator=(SecretString&& o) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  std::string_view view() const { return s_; }
  bool empty() const { return s_.empty(); }
  void Wipe();

 private:
  std::string s_;
};

struct X25519KeyPair {
  std::string public_key;    // 32 bytes, RFC 7748 encoding
  SecretString private_key;  // 32 bytes
};

// A fresh key pair. Internal if OpenSSL fails.
Result<X25519KeyPair> GenerateX25519();
// The public key of a 32-byte private key. InvalidArgument for a wrong length.
Result<std::string> X25519PublicKey(std::string_view private_key);
// The 32-byte shared secret of `private_key` and `peer_public`. InvalidArgument for keys of the
// wrong length, or a peer key of small order (the secret would be all zeros).
Result<SecretString> X25519Agree(std::string_view private_key, std::string_view peer_public);

// HKDF-SHA256: `length` (at most 8160) bytes from input keying material, salt and info.
SecretString Hkdf(std::string_view ikm, std::string_view salt, std::string_view info,
                  std::size_t length);

// AES-256-GCM under a 32-byte key with a fresh random nonce: nonce || ciphertext || tag.
Result<std::string> AeadSeal(std::string_view key, std::string_view aad,
                             std::string_view plaintext);
// Opens AeadSeal's output. Unauthenticated when the bytes are too short or do not authenticate
// under this key and `aad`; InvalidArgument for a wrong key length.
Result<SecretString> AeadOpen(std::string_view key, std::string_view aad, std::string_view sealed);

// Adds (or, with `subtract`, subtracts) PRG(seed) to `v` element-wise mod 2^64, where PRG(seed)
// is the AES-256-CTR key stream under key `seed` (32 bytes) from a zero counter block, read as
// little-endian 64-bit words. InvalidArgument for a wrong seed length; Internal if OpenSSL fails.
Status AddMask(std::string_view seed, std::span<std::uint64_t> v, bool subtract);

}  // namespace sund::fl::internal
