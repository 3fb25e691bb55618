// StaticSite: serves a built single-page web application (the portals in web/, built by Vite)
// from a folder under a URL prefix, as `sund serve` does at /app/.
//
// GET and HEAD only. A path names a file under the folder (no `..`, no hidden files, no links out
// of it); a path whose last segment has no dot and names no file gets index.html (the app routes
// on the URL). Files are read once at Open() into memory with a strong ETag; a sibling `NAME.gz`
// (written at build time) is sent instead, with `Content-Encoding: gzip`, to clients that accept
// it. Vite's content-hashed files under `assets/` are cached for a year (`immutable`); the rest
// is revalidated (`no-cache`, 304 on If-None-Match). Every answer carries the portals' security
// headers: a Content-Security-Policy that allows only this origin (scripts, styles, images,
// fetch and WebSocket), no framing, no MIME sniffing, no referrer beyond the origin.
// Thread-safety: immutable after Open(); Handle() may run on many threads at once.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/message.h"

namespace sund::http {

class StaticSite {
 public:
  // Reads every file under `dir` (recursively; at most `max_bytes` in all). `prefix` is the URL
  // path the site lives under, without a trailing slash ("/app"). NotFound when `dir` has no
  // index.html, InvalidArgument when the files exceed max_bytes.
  static Result<std::unique_ptr<StaticSite>> Open(const std::string& dir, std::string prefix,
                                                  std::size_t max_bytes = 64 << 20);

  // Whether `path` is the prefix itself or lies under it.
  bool Handles(std::string_view path) const;
  // The prefix alone redirects (301) to prefix + "/"; other methods than GET/HEAD get 405.
  Response Handle(const Request& req) const;

  std::size_t file_count() const { return files_.size(); }

  // The headers every answer of the site carries (also useful to a caller that answers for it).
  static void AddSecurityHeaders(Headers& h);

 private:
  struct File {
    std::string body;
    std::string gzip;  // "" when there is no NAME.gz beside it
    std::string content_type;
    std::string etag;
    bool immutable = false;
  };
  StaticSite() = default;
  const File* Find(std::string_view relative) const;

  std::string prefix_;
  std::map<std::string, File, std::less<>> files_;  // by path relative to the folder
};

}  // namespace sund::http
