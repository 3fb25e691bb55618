#include "http/static_site.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "core/crypto.h"

namespace sund::http {
namespace {

namespace fs = std::filesystem;

std::string_view ContentType(std::string_view name) {
  auto dot = name.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "webp") return "image/webp";
  if (ext == "woff2") return "font/woff2";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "webmanifest") return "application/manifest+json";
  return "application/octet-stream";
}

Result<std::string> ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return NotFound("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whether an Accept-Encoding value accepts gzip (a q=0 refusal counts as no).
bool AcceptsGzip(std::string_view accept) {
  std::size_t pos = 0;
  while (pos < accept.size()) {
    std::size_t end = accept.find(',', pos);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(pos, end - pos);
    pos = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view name = item.substr(0, item.find(';'));
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!EqualsIgnoreCase(name, "gzip") && name != "*") continue;
    auto q = item.find("q=");
    return q == std::string_view::npos ||
           std::strtod(std::string(item.substr(q + 2)).c_str(), nullptr) > 0;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<StaticSite>> StaticSite::Open(const std::string& dir, std::string prefix,
                                                     std::size_t max_bytes) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(dir, ec);
  if (ec || !fs::is_regular_file(root / "index.html", ec)) {
    return NotFound("no web application at " + dir + " (index.html is missing; make builds it)");
  }
  std::unique_ptr<StaticSite> site(new StaticSite());
  site->prefix_ = std::move(prefix);
  std::size_t total = 0;
  // Only regular files inside the folder; links are not followed, hidden entries are skipped.
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    std::string relative = it->path().lexically_relative(root).generic_string();
    if (relative.ends_with(".gz")) continue;  // attached to its original below
    SUND_ASSIGN_OR_RETURN(std::string body, ReadAll(it->path()));
    File f;
    f.content_type = std::string(ContentType(name));
    f.etag = "\"" + crypto::Sha256Hex(body).substr(0, 32) + "\"";
    f.immutable = relative.rfind("assets/", 0) == 0;
    fs::path gz = it->path();
    gz += ".gz";
    if (fs::is_regular_file(gz, ec) && !fs::is_symlink(gz, ec)) {
      SUND_ASSIGN_OR_RETURN(f.gzip, ReadAll(gz));
    }
    total += body.size() + f.gzip.size();
    if (total > max_bytes) {
      return InvalidArgument("the web application at " + dir + " is over " +
                             std::to_string(max_bytes >> 20) + " MiB");
    }
    f.body = std::move(body);
    site->files_.emplace(std::move(relative), std::move(f));
  }
  if (ec) return Status(StatusCode::kUnavailable, "reading " + dir + ": " + ec.message());
  return site;
}

bool StaticSite::Handles(std::string_view path) const {
  return path.rfind(prefix_, 0) == 0 &&
         (path.size() == prefix_.size() || path[prefix_.size()] == '/');
}

const StaticSite::File* StaticSite::Find(std::string_view relative) const {
  auto it = files_.find(relative);
  return it == files_.end() ? nullptr : &it->second;
}

void StaticSite::AddSecurityHeaders(Headers& h) {
  h.Set("Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'");
  h.Set("X-Content-Type-Options", "nosniff");
  h.Set("X-Frame-Options", "DENY");
  h.Set("Referrer-Policy", "same-origin");
  h.Set("Cross-Origin-Opener-Policy", "same-origin");
  h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
}

Response StaticSite::Handle(const Request& req) const {
  Response r;
  AddSecurityHeaders(r.headers);
  if (req.method != "GET" && req.method != "HEAD") {
    r.status = 405;
    r.headers.Set("Allow", "GET, HEAD");
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.body = "method not allowed\n";
    return r;
  }
  if (req.path.size() == prefix_.size()) {
    r.status = 301;
    r.headers.Set("Location", prefix_ + "/" + (req.query.empty() ? "" : "?" + req.query));
    return r;
  }
  std::string_view relative = std::string_view(req.path).substr(prefix_.size() + 1);
  const File* f = nullptr;
  bool traversal = relative.find("..") != std::string_view::npos ||
                   relative.find('\\') != std::string_view::npos;
  if (!traversal) f = Find(relative.empty() ? std::string_view("index.html") : relative);
  if (f == nullptr) {
    std::string_view last = relative.substr(relative.rfind('/') + 1);
    if (traversal || last.find('.') != std::string_view::npos) {
      r.status = 404;
      r.headers.Set("Content-Type", "text/plain; charset=utf-8");
      r.body = "not found\n";
      return r;
    }
    f = Find("index.html");  // a route of the application
  }
  r.headers.Set("Content-Type", f->content_type);
  r.headers.Set("ETag", f->etag);
  r.headers.Set("Cache-Control", f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.Set("Vary", "Accept-Encoding");
  std::string_view inm = req.headers.Get("If-None-Match");
  if (!inm.empty() && inm.find(f->etag) != std::string_view::npos) {
    r.status = 304;
    return r;
  }
  if (!f->gzip.empty() && AcceptsGzip(req.headers.Get("Accept-Encoding"))) {
    r.headers.Set("Content-Encoding", "gzip");
    r.body = f->gzip;
  } else {
    r.body = f->body;
  }
  return r;
}

}  // namespace sund::http
