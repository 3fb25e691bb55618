#include "endpoints_cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "api/fhir_api.h"
#include "auth/server.h"
#include "iomt/gateway.h"
#include "monitor/subscriptions.h"
#include "synth/jobs.h"

namespace {

// What main.cc's serve handler answers before the modules: the portals' static files
// (http::StaticSite under /app) and the redirect of / to them (GET or HEAD).
constexpr sund::http::Endpoint kServeOwn[] = {
    {"GET", "/", "portal"},
    {"GET", "/app", "portal"},
    {"GET", "/app/", "portal"},
    {"GET", "/app/{path}", "portal"},
};

// A JSON string literal of `s` (the catalogues hold printable ASCII; others are escaped).
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::vector<sund::http::Endpoint> ServeEndpoints() {
  std::vector<sund::http::Endpoint> out(std::begin(kServeOwn), std::end(kServeOwn));
  for (const auto& e : sund::auth::AuthServer::Endpoints()) out.push_back(e);
  for (const auto& e : sund::synth::JobService::Endpoints()) out.push_back(e);
  for (const auto& e : sund::iomt::Gateway::Endpoints()) out.push_back(e);
  for (const auto& e : sund::monitor::Subscriptions::Endpoints()) out.push_back(e);
  for (const auto& e : sund::api::FhirApi::Endpoints()) out.push_back(e);
  return out;
}

void AddEndpointsCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "endpoints", "list the HTTP endpoints sund serve answers (method, path pattern, family)");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "a JSON array of {method, path, family}");
  cmd->callback([json]() {
    std::vector<sund::http::Endpoint> all = ServeEndpoints();
    if (!*json) {
      for (const auto& e : all) {
        std::printf("%.*s\t%.*s\t%.*s\n", static_cast<int>(e.method.size()), e.method.data(),
                    static_cast<int>(e.path.size()), e.path.data(),
                    static_cast<int>(e.family.size()), e.family.data());
      }
      return;
    }
    std::string out = "[";
    for (std::size_t i = 0; i < all.size(); ++i) {
      out += i == 0 ? "\n" : ",\n";
      out += "  {\"method\":" + JsonString(all[i].method) + ",\"path\":" +
             JsonString(all[i].path) + ",\"family\":" + JsonString(all[i].family) + "}";
    }
    out += "\n]\n";
    std::fputs(out.c_str(), stdout);
  });
}
