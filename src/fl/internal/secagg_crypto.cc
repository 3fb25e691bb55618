// Compiled against the OpenSSL 3 API with every deprecated declaration hidden.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "fl/internal/secagg_crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <bit>
#include <cstring>
#include <memory>

#include "core/crypto.h"

namespace sund::fl::internal {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Status OpensslError(Status s) {
  ERR_clear_error();
  return s;
}

Result<PkeyPtr> PrivateKey(std::string_view private_key) {
  if (private_key.size() != kX25519Bytes)
    return InvalidArgument("x25519: a private key of 32 bytes");
  PkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, U8(private_key), private_key.size()));
  if (!key) return OpensslError(Internal("x25519: cannot load a private key"));
  return key;
}

std::string RawPublic(EVP_PKEY* key) {
  std::string out(kX25519Bytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kX25519Bytes) {
    ERR_clear_error();
    return {};
  }
  return out;
}

std::uint64_t LoadLe64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

SecretString& SecretString::operator=(SecretString&& o) noexcept {
  if (this != &o) {
    Wipe();
    s_ = std::move(o.s_);
    o.Wipe();
  }
  return *this;
}

void SecretString::Wipe() {
  if (!s_.empty()) OPENSSL_cleanse(s_.data(), s_.size());
  s_.clear();
}

Result<X25519KeyPair> GenerateX25519() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpensslError(Internal("x25519: key generation failed"));
  }
  PkeyPtr key(raw);
  X25519KeyPair pair;
  std::string priv(kX25519Bytes, '\0');
  std::size_t len = priv.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(priv.data()),
                                   &len) != 1 ||
      len != kX25519Bytes) {
    OPENSSL_cleanse(priv.data(), priv.size());
    return OpensslError(Internal("x25519: cannot read a private key"));
  }
  pair.private_key = SecretString(std::move(priv));
  pair.public_key = RawPublic(key.get());
  if (pair.public_key.empty()) return Internal("x25519: cannot read a public key");
  return pair;
}

Result<std::string> X25519PublicKey(std::string_view private_key) {
  SUND_ASSIGN_OR_RETURN(PkeyPtr key, PrivateKey(private_key));
  std::string pub = RawPublic(key.get());
  if (pub.empty()) return Internal("x25519: cannot read a public key");
  return pub;
}

Result<SecretString> X25519Agree(std::string_view private_key, std::string_view peer_public) {
  if (peer_public.size() != kX25519Bytes)
    return InvalidArgument("x25519: a public key of 32 bytes");
  SUND_ASSIGN_OR_RETURN(PkeyPtr key, PrivateKey(private_key));
  PkeyPtr peer(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, U8(peer_public), peer_public.size()));
  if (!peer) return OpensslError(InvalidArgument("x25519: not a public key"));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return OpensslError(Internal("x25519: cannot start key agreement"));
  }
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpensslError(InvalidArgument("x25519: the peer key is not usable"));
  }
  std::string secret(kX25519Bytes, '\0');
  std::size_t len = secret.size();
  // OpenSSL refuses an all-zero result, which a public key of small order gives.
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &len) != 1 ||
      len != kX25519Bytes) {
    OPENSSL_cleanse(secret.data(), secret.size());
    return OpensslError(InvalidArgument("x25519: key agreement failed (a small-order key?)"));
  }
  return SecretString(std::move(secret));
}

SecretString Hkdf(std::string_view ikm, std::string_view salt, std::string_view info,
                  std::size_t length) {
  SUND_CHECK(length <= 255 * 32);
  std::string prk = crypto::HmacSha256(salt, ikm);
  std::string out, t, block;
  out.reserve(length + 32);
  for (std::uint8_t i = 1; out.size() < length; ++i) {
    block.assign(t);
    block.append(info);
    block.push_back(static_cast<char>(i));
    OPENSSL_cleanse(t.data(), t.size());
    t = crypto::HmacSha256(prk, block);
    out += t;
  }
  OPENSSL_cleanse(prk.data(), prk.size());
  OPENSSL_cleanse(t.data(), t.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(out.data() + length, out.size() - length);
  out.resize(length);
  return SecretString(std::move(out));
}

Result<std::string> AeadSeal(std::string_view key, std::string_view aad,
                             std::string_view plaintext) {
  if (key.size() != kSeedBytes) return InvalidArgument("aead: a key of 32 bytes");
  std::string out = crypto::RandomBytes(kAeadNonceBytes);
  out.resize(kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U8(key), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kAeadNonceBytes, &len, U8(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kAeadNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAeadTagBytes),
                          o + kAeadNonceBytes + plaintext.size()) != 1) {
    return OpensslError(Internal("aead: encryption failed"));
  }
  return out;
}

Result<SecretString> AeadOpen(std::string_view key, std::string_view aad, std::string_view sealed) {
  if (key.size() != kSeedBytes) return InvalidArgument("aead: a key of 32 bytes");
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return Status(StatusCode::kUnauthenticated, "aead: the ciphertext is too short");
  }
  const std::size_t n = sealed.size() - kAeadNonceBytes - kAeadTagBytes;
  std::string plain(n, '\0');
  auto* p = reinterpret_cast<unsigned char*>(plain.data());
  const unsigned char* s = U8(sealed);
  std::array<unsigned char, kAeadTagBytes> tag;
  std::memcpy(tag.data(), s + kAeadNonceBytes + n, kAeadTagBytes);
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U8(key), s) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), p, &len, s + kAeadNonceBytes, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAeadTagBytes),
                          tag.data()) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return OpensslError(Internal("aead: decryption failed"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), p + len, &len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return OpensslError(
        Status(StatusCode::kUnauthenticated, "aead: the ciphertext does not authenticate"));
  }
  return SecretString(std::move(plain));
}

Status AddMask(std::string_view seed, std::span<std::uint64_t> v, bool subtract) {
  if (seed.size() != kSeedBytes) return InvalidArgument("prg: a seed of 32 bytes");
  static constexpr std::size_t kChunkWords = 2048;  // 16 KiB of key stream at a time
  static constexpr std::array<unsigned char, kChunkWords * 8> kZeros{};
  std::array<unsigned char, kChunkWords * 8> stream;
  const std::array<unsigned char, 16> iv{};
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, U8(seed), iv.data()) != 1) {
    return OpensslError(Internal("prg: cannot start AES-256-CTR"));
  }
  for (std::size_t at = 0; at < v.size(); at += kChunkWords) {
    const std::size_t words = std::min(kChunkWords, v.size() - at);
    int len = 0;
    if (EVP_EncryptUpdate(ctx.get(), stream.data(), &len, kZeros.data(),
                          static_cast<int>(words * 8)) != 1) {
      return OpensslError(Internal("prg: AES-256-CTR failed"));
    }
    std::uint64_t* out = v.data() + at;
    if (subtract) {
      for (std::size_t i = 0; i < words; ++i) out[i] -= LoadLe64(stream.data() + 8 * i);
    } else {
      for (std::size_t i = 0; i < words; ++i) out[i] += LoadLe64(stream.data() + 8 * i);
    }
  }
  OPENSSL_cleanse(stream.data(), stream.size());
  return Status::Ok();
}

}  // namespace sund::fl::internal
