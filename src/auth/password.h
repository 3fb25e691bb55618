// Password hashing for Sund's user accounts (the login screen of the authorization server):
// Argon2id in the PHC string encoding that the reference implementation writes
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), so that the parameters travel with each
// stored hash and can be raised later without invalidating old ones.
//
// Specs: RFC 9106 (Argon2); parameters from the OWASP Password Storage Cheat Sheet.
// Thread-safety: free functions, safe to call from any thread; each call allocates m_cost_kib
// KiB for its duration.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund::auth {

struct PasswordParams {
  // OWASP's recommended Argon2id configuration: 19 MiB of memory, 2 iterations, 1 lane.
  std::uint32_t t_cost = 2;
  std::uint32_t m_cost_kib = 19456;
  std::uint32_t parallelism = 1;
  std::uint32_t salt_bytes = 16;
  std::uint32_t hash_bytes = 32;
};

// Argon2id of `password` with a fresh random salt and the default PasswordParams, encoded as a
// PHC string. Internal if libargon2 fails (for instance out of memory).
Result<std::string> HashPassword(std::string_view password);
// The same with explicit parameters (tests use cheap ones). InvalidArgument when libargon2
// refuses the parameters.
Result<std::string> HashPassword(std::string_view password, const PasswordParams& params);

// True when `encoded` is an Argon2id PHC string and `password` hashes to it under the
// parameters and salt it names. False on a wrong password and on any error, including a
// malformed or non-Argon2id encoding. Takes time and memory set by the encoded parameters.
bool VerifyPassword(std::string_view password, std::string_view encoded);

}  // namespace sund::auth
