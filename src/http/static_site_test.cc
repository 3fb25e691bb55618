#include "http/static_site.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::http {
namespace {

namespace fs = std::filesystem;

class StaticSiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-static-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "assets");
    Write("index.html", "<!doctype html><title>app</title>");
    Write("assets/main-abc123.js", "console.log(1)");
    Write("assets/main-abc123.js.gz", "GZIPPED");
    Write(".secret", "hidden");
    std::ofstream(dir_.parent_path() / "outside.txt") << "outside";
    fs::create_symlink(dir_.parent_path() / "outside.txt", dir_ / "link.txt");
  }
  void TearDown() override {
    fs::remove_all(dir_);
    fs::remove(dir_.parent_path() / "outside.txt");
  }
  void Write(const std::string& name, const std::string& body) {
    std::ofstream(dir_ / name) << body;
  }

  Response Get(std::string path, std::string accept_encoding = "", std::string inm = "") {
    Request r;
    r.method = "GET";
    r.path = std::move(path);
    if (!accept_encoding.empty()) r.headers.Add("Accept-Encoding", accept_encoding);
    if (!inm.empty()) r.headers.Add("If-None-Match", inm);
    return site_->Handle(r);
  }

  fs::path dir_;
  std::unique_ptr<StaticSite> site_;
};

// Verifies: REQ-HTTP-046, REQ-HTTP-047
TEST_F(StaticSiteTest, ServesFilesAndTheAppForRoutes) {
  auto site = StaticSite::Open(dir_.string(), "/app");
  ASSERT_TRUE(site.ok()) << site.status().ToString();
  site_ = std::move(site).value();
  EXPECT_TRUE(site_->Handles("/app"));
  EXPECT_TRUE(site_->Handles("/app/x"));
  EXPECT_FALSE(site_->Handles("/apple"));

  Response index = Get("/app/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<!doctype html><title>app</title>");
  EXPECT_EQ(index.headers.Get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.headers.Get("Cache-Control"), "no-cache");
  EXPECT_NE(index.headers.Get("Content-Security-Policy").find("default-src 'self'"),
            std::string_view::npos);
  EXPECT_EQ(index.headers.Get("X-Frame-Options"), "DENY");

  // Routes of the single-page app get index.html; missing files do not.
  EXPECT_EQ(Get("/app/launch-callback").body, index.body);
  EXPECT_EQ(Get("/app/missing.js").status, 404);

  Response redirect = Get("/app");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.headers.Get("Location"), "/app/");
}

// Verifies: REQ-HTTP-048
TEST_F(StaticSiteTest, HashedAssetsAreImmutableAndGzipWhenAccepted) {
  site_ = std::move(StaticSite::Open(dir_.string(), "/app")).value();
  Response plain = Get("/app/assets/main-abc123.js");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, "console.log(1)");
  EXPECT_EQ(plain.headers.Get("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(plain.headers.Get("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_FALSE(plain.headers.Has("Content-Encoding"));

  Response gz = Get("/app/assets/main-abc123.js", "br, gzip;q=0.8");
  EXPECT_EQ(gz.body, "GZIPPED");
  EXPECT_EQ(gz.headers.Get("Content-Encoding"), "gzip");
  EXPECT_EQ(Get("/app/assets/main-abc123.js", "gzip;q=0").body, "console.log(1)");

  Response again = Get("/app/assets/main-abc123.js", "", std::string(plain.headers.Get("ETag")));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
}

// Verifies: REQ-HTTP-049
TEST_F(StaticSiteTest, NothingOutsideTheFolderOrHidden) {
  site_ = std::move(StaticSite::Open(dir_.string(), "/app")).value();
  EXPECT_EQ(Get("/app/../outside.txt").status, 404);
  EXPECT_EQ(Get("/app/assets/../../outside.txt").status, 404);
  EXPECT_EQ(Get("/app/link.txt").status, 404);  // a link out of the folder is not served
  EXPECT_EQ(Get("/app/.secret").status, 404);
  Request post;
  post.method = "POST";
  post.path = "/app/";
  EXPECT_EQ(site_->Handle(post).status, 405);
}

// Every answer, also a redirect, a 404 and a 405, carries the portals' security headers: a
// Content-Security-Policy that allows only this origin and no framing, no MIME sniffing, no
// referrer beyond the origin, no opener across origins, and no camera, microphone or location.
// Verifies: REQ-HTTP-055
TEST_F(StaticSiteTest, EveryAnswerCarriesTheSecurityHeaders) {
  site_ = std::move(StaticSite::Open(dir_.string(), "/app")).value();
  Request post;
  post.method = "POST";
  post.path = "/app/";
  const std::vector<std::pair<std::string, Response>> answers = {
      {"index", Get("/app/")},
      {"asset", Get("/app/assets/main-abc123.js")},
      {"redirect", Get("/app")},
      {"not found", Get("/app/missing.js")},
      {"method not allowed", site_->Handle(post)},
  };
  for (const auto& [what, r] : answers) {
    std::string csp(r.headers.Get("Content-Security-Policy"));
    for (std::string_view directive :
         {"default-src 'self'", "script-src 'self'", "style-src 'self'",
          "connect-src 'self' ws: wss:", "base-uri 'none'", "form-action 'self'",
          "frame-ancestors 'none'"}) {
      EXPECT_NE(csp.find(directive), std::string::npos) << what << ": " << csp;
    }
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << what;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << what;
    EXPECT_EQ(r.headers.Get("X-Content-Type-Options"), "nosniff") << what;
    EXPECT_EQ(r.headers.Get("X-Frame-Options"), "DENY") << what;
    EXPECT_EQ(r.headers.Get("Referrer-Policy"), "same-origin") << what;
    EXPECT_EQ(r.headers.Get("Cross-Origin-Opener-Policy"), "same-origin") << what;
    EXPECT_EQ(r.headers.Get("Permissions-Policy"), "camera=(), microphone=(), geolocation=()")
        << what;
  }
}

// The files are read into memory at Open(), so their total (a .gz copy included) is bounded:
// a folder over the limit is refused, one of exactly the limit is served.
// Verifies: REQ-HTTP-056
TEST_F(StaticSiteTest, RefusesAFolderOverTheSizeLimit) {
  std::size_t total = fs::file_size(dir_ / "index.html") +
                      fs::file_size(dir_ / "assets/main-abc123.js") +
                      fs::file_size(dir_ / "assets/main-abc123.js.gz");
  auto over = StaticSite::Open(dir_.string(), "/app", total - 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  auto exact = StaticSite::Open(dir_.string(), "/app", total);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ((*exact)->file_count(), 2u);
}

// Verifies: REQ-HTTP-050
TEST_F(StaticSiteTest, RefusesAFolderWithoutAnApp) {
  fs::remove(dir_ / "index.html");
  auto site = StaticSite::Open(dir_.string(), "/app");
  ASSERT_FALSE(site.ok());
  EXPECT_EQ(site.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sund::http
