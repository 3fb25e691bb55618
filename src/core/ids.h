// Identifiers Sund makes: resource ids for creates (random, RFC 4122 version 4 UUID text).
// Thread-safe.
#pragma once

#include <string>

namespace sund {

// A new random UUID in canonical lower-case text form, from OpenSSL's CSPRNG.
std::string NewUuid();

}  // namespace sund
