// Shamir secret sharing (A. Shamir, "How to share a secret", CACM 1979), byte-wise over GF(2^8):
// each byte of a secret is the constant term of its own random polynomial of degree t-1, and a
// share is the value of every polynomial at one non-zero point x. Any t shares give the secret
// back by Lagrange interpolation at 0; t-1 or fewer shares are independent of it (every secret
// is consistent with them). Secure aggregation (secagg.h) shares each node's mask key and
// self-mask seed this way, so that the coordinator can unmask the sum when nodes drop out.
//
// The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1; arithmetic on secrets
// runs without table look-ups or secret-dependent branches. At most 255 shares (x = 1..255).
// Wire form of a share (ShamirShare::Serialize): the byte x, then the bytes y.
// Thread-safety: pure functions; the randomness is OpenSSL's CSPRNG.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::fl {

// The most shares one secret can have: the non-zero elements of GF(2^8).
inline constexpr int kMaxShamirShares = 255;
// The longest secret ShamirSplit accepts (secagg shares 32-byte keys).
inline constexpr std::size_t kMaxShamirSecretBytes = 4096;

struct ShamirShare {
  std::uint8_t x = 0;  // the evaluation point, 1..255
  std::string y;       // one byte per byte of the secret

  std::string Serialize() const;
  // InvalidArgument for an empty buffer, x = 0, or more than kMaxShamirSecretBytes bytes of y.
  static Result<ShamirShare> Parse(std::string_view bytes);
  bool operator==(const ShamirShare&) const = default;
};

// `count` shares of `secret` at x = 1..count, any `threshold` of which recover it.
// InvalidArgument unless 1 <= threshold <= count <= 255 and 1 <= secret.size() <=
// kMaxShamirSecretBytes.
Result<std::vector<ShamirShare>> ShamirSplit(std::string_view secret, int threshold, int count);

// The secret from `shares` by Lagrange interpolation at 0 over all of them. With at least the
// threshold of consistent shares this is the secret; with fewer it is a value unrelated to the
// secret (the function cannot tell: callers count shares themselves). InvalidArgument when
// `shares` is empty or holds more than 255 shares, an x of 0, a repeated x, or values of
// different or zero lengths.
Result<std::string> ShamirCombine(std::span<const ShamirShare> shares);

}  // namespace sund::fl
