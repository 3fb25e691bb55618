#include "endpoints_cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "api/fhir_api.h"
#include "auth/server.h"
#include "core/json.h"
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
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartArray();
    for (const auto& e : all) {
      w.StartObject();
      for (auto [key, value] : {std::pair{"method", e.method}, std::pair{"path", e.path},
                                std::pair{"family", e.family}}) {
        w.Key(key);
        w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
      }
      w.EndObject();
    }
    w.EndArray();
    std::printf("%s\n", sb.GetString());
  });
}
