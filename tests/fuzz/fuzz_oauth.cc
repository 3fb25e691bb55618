// An OAuth request as the authorization server reads it (auth/server.cc), without the server:
// the form body or query of /oauth2/authorize, /oauth2/token, /oauth2/launch ...
// (application/x-www-form-urlencoded), the SMART scopes and launch context it asks for, narrowed
// against what a registered client may have and checked the way the FHIR API and a refresh
// check them; the page language from ui_locales, lang and Accept-Language; Basic client
// credentials. Input: the form, NUL, the Accept-Language header, NUL, the Authorization header.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/pages.h"
#include "auth/scopes.h"
#include "core/crypto.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "http/query.h"

namespace {

namespace auth = sund::auth;
using Params = std::vector<std::pair<std::string, std::string>>;

std::string_view Param(const Params& form, std::string_view name) {
  for (const auto& [k, v] : form) {
    if (k == name) return v;
  }
  return {};
}

// The most a client may have (its registered scopes), as the token and authorize endpoints
// narrow a request to it.
const auth::ScopeSet& Allowed() {
  static const auth::ScopeSet allowed = auth::ParseScopes(
      "launch launch/patient launch/encounter openid fhirUser profile offline_access sund/synth "
      "patient/*.cruds user/Patient.read system/*.rs "
      "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|vital-signs");
  return allowed;
}

void Scopes(std::string_view text) {
  auth::ScopeSet requested = auth::ParseScopes(text);
  // The canonical text is stable once written: read back and written again it is unchanged.
  // (Two scopes written differently can share a canonical text, e.g. ?a=%41 and ?a=A, which
  // the next read keeps once; hence the second round.)
  std::string canonical = auth::ToString(auth::ParseScopes(auth::ToString(requested)));
  if (auth::ToString(auth::ParseScopes(canonical)) != canonical) __builtin_trap();

  // What is granted is never wider than what was asked for, nor than what the client may have
  // (scopes_test.cc's NarrowPropertyTest, here on any scope string).
  auth::ScopeSet granted = auth::Narrow(requested, Allowed());
  if (!auth::IsSubset(granted, requested) || !auth::IsSubset(granted, Allowed())) {
    __builtin_trap();
  }
  auth::IsSubset(requested, granted);  // a refresh asking for more than its grant

  for (auth::ScopeContext ctx :
       {auth::ScopeContext::kPatient, auth::ScopeContext::kUser, auth::ScopeContext::kSystem}) {
    for (std::string_view type : {"Observation", "Patient", "*"}) {
      auth::AccessRule rule = auth::RulesFor(granted, ctx, type);
      auto queries = auth::QueriesFor(rule, auth::kSearch);
      (void)queries;
      auth::Allows(rule, auth::kRead);
    }
  }
  for (std::string_view lang : {"da", "en"}) {
    auto lines = auth::DescribeScopes(requested, lang);
    (void)lines;
  }
}

// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 section 2.3.1), read
// as AuthServer::Impl::AuthenticateClient reads it.
void BasicCredentials(std::string_view authorization) {
  if (authorization.size() <= 6 ||
      !sund::http::EqualsIgnoreCase(authorization.substr(0, 6), "Basic ")) {
    return;
  }
  auto decoded = sund::crypto::Base64Decode(authorization.substr(6));
  if (!decoded.ok()) return;
  std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return;
  std::string id = sund::http::PercentDecode(std::string_view(*decoded).substr(0, colon), true);
  std::string secret =
      sund::http::PercentDecode(std::string_view(*decoded).substr(colon + 1), true);
  (void)id;
  (void)secret;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [body, headers] = sund::fuzz::SplitAtNul(sund::fuzz::AsView(data, size));
  auto [accept_language, authorization] = sund::fuzz::SplitAtNul(headers);

  Params form = sund::http::ParseQuery(body);
  // `scope`, then the first few other values whatever their names (so that the mutator need
  // not find the name first); not all of them, to keep a run fast on a form of many fields.
  Scopes(Param(form, "scope"));
  int others = 0;
  for (const auto& [name, value] : form) {
    if (name == "scope") continue;
    if (++others > 4) break;
    Scopes(value);
  }
  auth::pages::PickLang(Param(form, "ui_locales"), accept_language);
  auth::pages::PickLang(Param(form, "lang"), accept_language);
  BasicCredentials(authorization);
  return 0;
}
