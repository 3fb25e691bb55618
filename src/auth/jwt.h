// JSON Web Tokens in JWS compact serialisation: signing Sund's own tokens, and parsing and
// checking tokens that come from outside (SMART Backend Services client assertions, Sund's
// access tokens presented back to it).
//
// Checking an outside token takes three steps, each its own function so that the caller can
// pick the key by the token's kid in between: ParseJwt (structure only), VerifyJwtSignature,
// CheckTimeClaims. Audience, issuer and replay (jti) checks belong to the caller. Every failure
// is Unauthenticated with a message that names the problem and never contains the token.
// Specs: RFC 7519 (JWT), RFC 7515 (JWS), RFC 8725 (JWT best current practice).
// Thread-safety: free functions, safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto.h"
#include "core/json.h"
#include "core/status.h"

namespace sund::auth {

// Longest token ParseJwt accepts.
inline constexpr std::size_t kMaxJwtBytes = 16 * 1024;

// A compact JWS whose header is {"alg":key.alg(),"typ":"JWT","kid":key.kid()} and whose payload
// is `claims` serialised. InvalidArgument when `claims` is not an object; Internal if signing
// fails.
Result<std::string> SignJwt(const rapidjson::Value& claims, const crypto::SigningKey& key);

// A token split and decoded, but not yet verified: nothing in it can be trusted before
// VerifyJwtSignature succeeds.
struct ParsedJwt {
  rapidjson::Document header;
  rapidjson::Document claims;
  std::string signing_input;  // "<header>.<payload>" as received
  std::string signature;      // decoded bytes
  std::string alg;            // header "alg"
  std::string kid;            // header "kid"; empty when absent
};

// Splits `token` into its three parts and decodes them. Unauthenticated when the token is longer
// than kMaxJwtBytes, does not have exactly three non-empty parts, a part is not base64url, the
// header or payload is not a JSON object (or repeats a member name), the header has no string
// "alg", "alg" is "none", "kid" is present but not a string, or the header carries "crit"
// (Sund understands no JWS extensions). Does not check the signature or any claim.
Result<ParsedJwt> ParseJwt(std::string_view token);

// Checks the token's signature with `key` and the header's alg. Unauthenticated when the
// algorithm does not fit the key or the signature does not verify.
Status VerifyJwtSignature(const ParsedJwt& jwt, const crypto::VerifyKey& key);

// RFC 7519 section 4.1.4-4.1.6 against `now_s` (seconds since the Unix epoch), allowing
// `leeway_s` of clock skew. Unauthenticated when "exp" is missing, not a number or not after
// now - leeway ("token expired"), or when "nbf" or "iat" is not a number or lies after
// now + leeway.
Status CheckTimeClaims(const rapidjson::Value& claims, std::int64_t now_s,
                       std::int64_t leeway_s = 30);

}  // namespace sund::auth
