// A bearer token as the FHIR API and the token endpoint receive it: structure, then the time
// claims (the signature needs a key; VerifyJwtSignature is fuzzed with a fixed one).
#include <cstdint>

#include "auth/jwt.h"
#include "core/crypto.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto jwt = sund::auth::ParseJwt(sund::fuzz::AsView(data, size));
  if (!jwt.ok()) return 0;
  sund::auth::CheckTimeClaims(jwt->claims, 1'795'000'000).IgnoreError();
  static const auto key = [] {
    auto signing = sund::crypto::SigningKey::Generate("ES256");
    return signing.ok() ? sund::crypto::VerifyKey::FromSigningKey(*signing)
                        : sund::Result<sund::crypto::VerifyKey>(signing.status());
  }();
  if (key.ok()) sund::auth::VerifyJwtSignature(*jwt, *key).IgnoreError();
  return 0;
}
