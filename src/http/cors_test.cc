#include "http/cors.h"

#include <gtest/gtest.h>

namespace sund::http {
namespace {

OriginCheck OnlyApp() {
  return [](std::string_view origin) { return origin == "https://app.example"; };
}

Request From(std::string_view origin, std::string method = "GET") {
  Request r;
  r.method = std::move(method);
  r.headers.Set("Host", "sund.example");
  r.secure = true;
  if (!origin.empty()) r.headers.Set("Origin", std::string(origin));
  return r;
}

// Verifies: REQ-HTTP-037
TEST(CorsTest, OriginOfAUrl) {
  EXPECT_EQ(OriginOf("https://app.example/callback?x=1"), "https://app.example");
  EXPECT_EQ(OriginOf("http://127.0.0.1:3000/cb"), "http://127.0.0.1:3000");
  EXPECT_EQ(OriginOf("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
  EXPECT_EQ(OriginOf("/app/"), "");
  EXPECT_EQ(OriginOf("https://"), "");
  EXPECT_EQ(OriginOf("com.example.app:/cb"), "");
}

// Verifies: REQ-HTTP-038
TEST(CorsTest, PreflightFromARegisteredOriginIsAnswered) {
  Request req = From("https://app.example", "OPTIONS");
  req.headers.Set("Access-Control-Request-Method", "PUT");
  auto r = CorsPreflight(req, OnlyApp());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->headers.Get("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(r->headers.Get("Access-Control-Allow-Methods").find("PUT"), std::string_view::npos);
  EXPECT_NE(r->headers.Get("Access-Control-Allow-Headers").find("Authorization"),
            std::string_view::npos);
  EXPECT_EQ(r->headers.Get("Vary"), "Origin");
  EXPECT_FALSE(r->headers.Has("Access-Control-Allow-Credentials"));
}

// Verifies: REQ-HTTP-039
TEST(CorsTest, PreflightFromAnyOtherOriginIsRefused) {
  Request req = From("https://evil.example", "OPTIONS");
  req.headers.Set("Access-Control-Request-Method", "GET");
  auto r = CorsPreflight(req, OnlyApp());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_FALSE(r->headers.Has("Access-Control-Allow-Origin"));
  EXPECT_FALSE(CorsPreflight(req, nullptr).value().headers.Has("Access-Control-Allow-Origin"));
}

// Verifies: REQ-HTTP-040
TEST(CorsTest, OnlyCrossOriginPreflightsAreIntercepted) {
  Request plain_options = From("https://app.example", "OPTIONS");  // no request method: not CORS
  EXPECT_FALSE(CorsPreflight(plain_options, OnlyApp()).has_value());
  Request same = From("https://sund.example", "OPTIONS");
  same.headers.Set("Access-Control-Request-Method", "GET");
  EXPECT_FALSE(CorsPreflight(same, OnlyApp()).has_value());
  Request get = From("https://app.example");
  EXPECT_FALSE(CorsPreflight(get, OnlyApp()).has_value());
}

// Verifies: REQ-HTTP-041
TEST(CorsTest, ResponsesNameOnlyAllowedOrigins) {
  Response ok;
  AddCorsHeaders(From("https://app.example"), ok, OnlyApp());
  EXPECT_EQ(ok.headers.Get("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(ok.headers.Get("Access-Control-Expose-Headers").find("Location"),
            std::string_view::npos);

  Response other;
  other.headers.Set("Vary", "Accept-Encoding");
  AddCorsHeaders(From("https://evil.example"), other, OnlyApp());
  EXPECT_FALSE(other.headers.Has("Access-Control-Allow-Origin"));
  EXPECT_EQ(other.headers.Get("Vary"), "Accept-Encoding, Origin");  // caches keep them apart

  Response none;
  AddCorsHeaders(From(""), none, OnlyApp());
  EXPECT_FALSE(none.headers.Has("Vary"));
  Response same;
  AddCorsHeaders(From("https://sund.example"), same, OnlyApp());
  EXPECT_FALSE(same.headers.Has("Access-Control-Allow-Origin"));
}

}  // namespace
}  // namespace sund::http
