#include "auth/jwt.h"

#include <gtest/gtest.h>

#include <string>

namespace sund::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

rapidjson::Document Json(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

std::string B64(std::string_view s) { return crypto::Base64UrlEncode(s); }

class JwtTest : public testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::SigningKey::Generate("ES256");
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<crypto::SigningKey>(std::move(key).value());
    auto verify = crypto::VerifyKey::FromSigningKey(*key_);
    ASSERT_TRUE(verify.ok());
    verify_ = std::make_unique<crypto::VerifyKey>(std::move(verify).value());
  }

  std::string Sign(std::string_view claims) {
    auto token = SignJwt(Json(claims), *key_);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : std::string();
  }

  // A token with the given header and claims, signed by key_ whatever the header says.
  std::string Forge(std::string_view header, std::string_view claims) {
    std::string input = B64(header) + "." + B64(claims);
    auto sig = key_->Sign(input);
    EXPECT_TRUE(sig.ok());
    return input + "." + B64(*sig);
  }

  static StatusCode ParseCode(std::string_view token) { return ParseJwt(token).status().code(); }

  std::unique_ptr<crypto::SigningKey> key_;
  std::unique_ptr<crypto::VerifyKey> verify_;
};

// Verifies: REQ-AUTH-088, REQ-AUTH-093
TEST_F(JwtTest, RoundTrip) {
  std::string token = Sign(R"({"iss":"https://sund.example","sub":"u1","exp":1700000600})");
  auto jwt = ParseJwt(token);
  ASSERT_TRUE(jwt.ok()) << jwt.status().ToString();
  EXPECT_EQ(jwt->alg, "ES256");
  EXPECT_EQ(jwt->kid, key_->kid());
  EXPECT_EQ(json::GetString(jwt->header, "typ"), "JWT");
  EXPECT_EQ(json::GetString(jwt->header, "alg"), "ES256");
  EXPECT_EQ(json::GetString(jwt->header, "kid"), key_->kid());
  EXPECT_EQ(json::GetString(jwt->claims, "sub"), "u1");
  EXPECT_EQ(jwt->claims["exp"].GetInt64(), 1700000600);
  EXPECT_EQ(jwt->signing_input, token.substr(0, token.rfind('.')));
  EXPECT_EQ(jwt->signature.size(), 64u);
  EXPECT_TRUE(VerifyJwtSignature(*jwt, *verify_).ok());
  EXPECT_TRUE(CheckTimeClaims(jwt->claims, kNow).ok());
}

// Verifies: REQ-AUTH-088, REQ-AUTH-089
TEST_F(JwtTest, RoundTripEs384WithPublishedJwk) {
  auto key = crypto::SigningKey::Generate("ES384");
  ASSERT_TRUE(key.ok());
  auto token = SignJwt(Json(R"({"sub":"x"})"), *key);
  ASSERT_TRUE(token.ok());
  auto verify = crypto::VerifyKey::FromJwk(Json(key->PublicJwk()));
  ASSERT_TRUE(verify.ok());
  auto jwt = ParseJwt(*token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->alg, "ES384");
  EXPECT_TRUE(VerifyJwtSignature(*jwt, *verify).ok());
  // The ES256 key of the fixture does not accept it.
  EXPECT_EQ(VerifyJwtSignature(*jwt, *verify_).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-AUTH-088
TEST_F(JwtTest, SignRejectsNonObjectClaims) {
  EXPECT_EQ(SignJwt(Json("[1]"), *key_).status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-AUTH-089
TEST_F(JwtTest, TamperedPayloadFails) {
  std::string token = Sign(R"({"sub":"alice","exp":1700000600})");
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = token.rfind('.');
  std::string forged =
      token.substr(0, dot1 + 1) + B64(R"({"sub":"mallory","exp":1700000600})") + token.substr(dot2);
  auto jwt = ParseJwt(forged);
  ASSERT_TRUE(jwt.ok());
  Status s = VerifyJwtSignature(*jwt, *verify_);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "bad signature");
  EXPECT_EQ(s.message().find(forged), std::string::npos);

  // A flipped bit in the signature fails too.
  std::string sig = *crypto::Base64UrlDecode(token.substr(dot2 + 1));
  sig[5] ^= 1;
  auto jwt2 = ParseJwt(token.substr(0, dot2 + 1) + B64(sig));
  ASSERT_TRUE(jwt2.ok());
  EXPECT_EQ(VerifyJwtSignature(*jwt2, *verify_).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-AUTH-089
TEST_F(JwtTest, TokenFromAnotherKeyFails) {
  auto other = crypto::SigningKey::Generate("ES256");
  ASSERT_TRUE(other.ok());
  auto token = SignJwt(Json(R"({"exp":1700000600})"), *other);
  ASSERT_TRUE(token.ok());
  auto jwt = ParseJwt(*token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(VerifyJwtSignature(*jwt, *verify_).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-AUTH-090
TEST_F(JwtTest, AlgNoneRefused) {
  const std::string claims = B64(R"({"sub":"admin","exp":1700000600})");
  for (const char* header :
       {R"({"alg":"none"})", R"({"alg":"None","typ":"JWT"})", R"({"alg":"NONE"})"}) {
    // With an empty signature (the form RFC 7519 section 6.1 gives) and with some bytes.
    auto r1 = ParseJwt(B64(header) + "." + claims + ".");
    EXPECT_EQ(r1.status().code(), StatusCode::kUnauthenticated) << header;
    auto r2 = ParseJwt(B64(header) + "." + claims + ".c2ln");
    EXPECT_EQ(r2.status().code(), StatusCode::kUnauthenticated) << header;
    EXPECT_NE(r2.status().message().find("none"), std::string::npos);
  }
}

// Verifies: REQ-AUTH-089
TEST_F(JwtTest, AlgMustFitTheKey) {
  // Header claims RS256 but the key is EC: refused even though the bytes were signed by key_.
  auto jwt = ParseJwt(Forge(R"({"alg":"RS256"})", R"({"exp":1700000600})"));
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(VerifyJwtSignature(*jwt, *verify_).code(), StatusCode::kUnauthenticated);
  auto hs = ParseJwt(Forge(R"({"alg":"HS256"})", R"({"exp":1700000600})"));
  ASSERT_TRUE(hs.ok());
  EXPECT_EQ(VerifyJwtSignature(*hs, *verify_).code(), StatusCode::kUnauthenticated);
  // The same bytes with the right alg verify, so the refusals above are about alg only.
  auto good = ParseJwt(Forge(R"({"alg":"ES256"})", R"({"exp":1700000600})"));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(VerifyJwtSignature(*good, *verify_).ok());
}

// Verifies: REQ-AUTH-091
TEST_F(JwtTest, WrongNumberOfPartsRefused) {
  std::string token = Sign(R"({"exp":1700000600})");
  std::size_t dot2 = token.rfind('.');
  EXPECT_EQ(ParseCode(token.substr(0, dot2)), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode(token + ".x"), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode(token + "."), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode(""), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode("abc"), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode(".."), StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseCode(token.substr(0, dot2 + 1)), StatusCode::kUnauthenticated);
}

// Verifies: REQ-AUTH-091
TEST_F(JwtTest, GarbageRefused) {
  std::string token = Sign(R"({"exp":1700000600})");
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = token.rfind('.');
  const std::string header = token.substr(0, dot1);
  const std::string payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string sig = token.substr(dot2 + 1);
  for (const std::string& bad : {
           "!!!." + payload + "." + sig,                         // header not base64url
           header + ".***." + sig,                               // payload not base64url
           header + "." + payload + ".a+b/",                     // signature not base64url
           B64("not json") + "." + payload + "." + sig,          // header not JSON
           header + "." + B64("[1,2]") + "." + sig,              // payload not an object
           header + "." + B64("{\"exp\":1") + "." + sig,         // truncated JSON
           header + "." + B64("{\"a\":1} x") + "." + sig,        // trailing garbage
           header + "." + B64("{\"a\":\"\xff\"}") + "." + sig,   // invalid UTF-8
           B64(R"({"typ":"JWT"})") + "." + payload + "." + sig,  // no alg
           B64(R"({"alg":256})") + "." + payload + "." + sig,    // alg not a string
           B64(R"({"alg":"ES256","kid":7})") + "." + payload + "." + sig,  // kid not a string
           B64(R"({"alg":"ES256","crit":["b64"],"b64":false})") + "." + payload + "." + sig,
           B64(R"({"alg":"ES256","alg":"none"})") + "." + payload + "." + sig,  // duplicate
           header + "." + B64(R"({"sub":"a","sub":"b"})") + "." + sig,          // duplicate
       }) {
    auto r = ParseJwt(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << bad;
    EXPECT_EQ(r.status().message().find(bad), std::string::npos);
  }
}

// Verifies: REQ-AUTH-092
TEST_F(JwtTest, OversizedTokenRefused) {
  std::string big(kMaxJwtBytes, 'a');
  std::string token = Sign(R"({"exp":1700000600,"pad":")" + big + R"("})");
  EXPECT_GT(token.size(), kMaxJwtBytes);
  auto r = ParseJwt(token);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "token is too large");
}

// Verifies: REQ-AUTH-093
TEST(CheckTimeClaimsTest, Expired) {
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1700000001})"), kNow, 0).ok());
  Status s = CheckTimeClaims(Json(R"({"exp":1700000000})"), kNow, 0);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "token expired");
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":1600000000})"), kNow).code(),
            StatusCode::kUnauthenticated);
  // Leeway: 20 s past exp passes with the default 30 s, 31 s does not.
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1699999980})"), kNow).ok());
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":1699999969})"), kNow).code(),
            StatusCode::kUnauthenticated);
  // Fractional NumericDate values are allowed.
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1700000000.5})"), kNow, 0).ok());
}

// Verifies: REQ-AUTH-093
TEST(CheckTimeClaimsTest, ExpRequiredAndNumeric) {
  EXPECT_EQ(CheckTimeClaims(Json(R"({"sub":"a"})"), kNow).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":"1800000000"})"), kNow).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":null})"), kNow).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckTimeClaims(Json("[]"), kNow).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-AUTH-093
TEST(CheckTimeClaimsTest, NotYetValid) {
  Status s = CheckTimeClaims(Json(R"({"exp":1800000000,"nbf":1700000100})"), kNow);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "token not yet valid");
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1800000000,"nbf":1700000030})"), kNow).ok());
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1800000000,"nbf":1600000000})"), kNow).ok());
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":1800000000,"iat":1700000031})"), kNow).code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(CheckTimeClaims(Json(R"({"exp":1800000000,"iat":1700000000})"), kNow).ok());
  EXPECT_EQ(CheckTimeClaims(Json(R"({"exp":1800000000,"nbf":"soon"})"), kNow).code(),
            StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace sund::auth
