#include "auth/jwt.h"

#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/json_bounded.h"

namespace sund::auth {

namespace {

Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// Decodes one base64url part and parses it as a JSON object whose member names are unique
// (RFC 7515 section 5.2 step 4 lets a parser reject duplicates; accepting them would let two
// parsers disagree on a token's meaning).
Status DecodeJsonPart(std::string_view part, const char* what, rapidjson::Document& out) {
  Result<std::string> text = crypto::Base64UrlDecode(part);
  if (!text.ok()) return Unauthenticated(std::string("token ") + what + " is not base64url");
  json::ParseBounded<rapidjson::kParseValidateEncodingFlag>(out, *text);
  if (out.HasParseError() || !out.IsObject()) {
    return Unauthenticated(std::string("token ") + what + " is not a JSON object");
  }
  std::unordered_set<std::string_view> names;
  for (const auto& m : out.GetObject()) {
    if (!names.emplace(m.name.GetString(), m.name.GetStringLength()).second) {
      return Unauthenticated(std::string("token ") + what + " repeats a member");
    }
  }
  return Status::Ok();
}

// A NumericDate claim: absent (false), a number (true, in `value`), or an error.
Result<bool> TimeClaim(const rapidjson::Value& claims, const char* name, double& value) {
  const rapidjson::Value* v = json::Find(claims, name);
  if (v == nullptr) return false;
  if (!v->IsNumber()) {
    return Unauthenticated(std::string("token claim \"") + name + "\" is not a number");
  }
  value = v->GetDouble();
  return true;
}

}  // namespace

Result<std::string> SignJwt(const rapidjson::Value& claims, const crypto::SigningKey& key) {
  if (!claims.IsObject()) return InvalidArgument("JWT claims must be a JSON object");
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  const std::string alg = key.alg();
  const std::string kid = key.kid();
  w.StartObject();
  w.Key("alg");
  w.String(alg.data(), static_cast<rapidjson::SizeType>(alg.size()));
  w.Key("typ");
  w.String("JWT");
  w.Key("kid");
  w.String(kid.data(), static_cast<rapidjson::SizeType>(kid.size()));
  w.EndObject();
  std::string token = crypto::Base64UrlEncode(std::string_view(sb.GetString(), sb.GetSize()));
  token += '.';
  token += crypto::Base64UrlEncode(json::Serialize(claims));
  SUND_ASSIGN_OR_RETURN(std::string signature, key.Sign(token));
  token += '.';
  token += crypto::Base64UrlEncode(signature);
  return token;
}

Result<ParsedJwt> ParseJwt(std::string_view token) {
  if (token.size() > kMaxJwtBytes) return Unauthenticated("token is too large");
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("token does not have three parts");
  }
  std::string_view header = token.substr(0, dot1);
  std::string_view payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature = token.substr(dot2 + 1);
  if (header.empty() || payload.empty() || signature.empty()) {
    return Unauthenticated("token has an empty part");
  }

  ParsedJwt jwt;
  SUND_RETURN_IF_ERROR(DecodeJsonPart(header, "header", jwt.header));
  SUND_RETURN_IF_ERROR(DecodeJsonPart(payload, "payload", jwt.claims));
  Result<std::string> sig = crypto::Base64UrlDecode(signature);
  if (!sig.ok()) return Unauthenticated("token signature is not base64url");

  const rapidjson::Value* alg = json::Find(jwt.header, "alg");
  if (alg == nullptr || !alg->IsString() || alg->GetStringLength() == 0) {
    return Unauthenticated("token header has no alg");
  }
  if (EqualsIgnoringCase(json::View(*alg), "none")) {
    return Unauthenticated("unsigned tokens (alg none) are not accepted");
  }
  if (const rapidjson::Value* kid = json::Find(jwt.header, "kid")) {
    if (!kid->IsString()) return Unauthenticated("token header kid is not a string");
    jwt.kid = std::string(json::View(*kid));
  }
  if (json::Find(jwt.header, "crit") != nullptr) {
    return Unauthenticated("token header lists critical extensions, which are not supported");
  }
  jwt.alg = std::string(json::View(*alg));
  jwt.signing_input = std::string(token.substr(0, dot2));
  jwt.signature = std::move(sig).value();
  return jwt;
}

Status VerifyJwtSignature(const ParsedJwt& jwt, const crypto::VerifyKey& key) {
  return key.Verify(jwt.alg, jwt.signing_input, jwt.signature);
}

Status CheckTimeClaims(const rapidjson::Value& claims, std::int64_t now_s, std::int64_t leeway_s) {
  if (!claims.IsObject()) return Unauthenticated("token claims are not a JSON object");
  const double now = static_cast<double>(now_s);
  const double leeway = static_cast<double>(leeway_s);
  double exp = 0;
  SUND_ASSIGN_OR_RETURN(bool has_exp, TimeClaim(claims, "exp", exp));
  if (!has_exp) return Unauthenticated("token has no exp claim");
  if (exp + leeway <= now) return Unauthenticated("token expired");
  double nbf = 0;
  SUND_ASSIGN_OR_RETURN(bool has_nbf, TimeClaim(claims, "nbf", nbf));
  if (has_nbf && nbf > now + leeway) return Unauthenticated("token not yet valid");
  double iat = 0;
  SUND_ASSIGN_OR_RETURN(bool has_iat, TimeClaim(claims, "iat", iat));
  if (has_iat && iat > now + leeway) return Unauthenticated("token issued in the future");
  return Status::Ok();
}

}  // namespace sund::auth
