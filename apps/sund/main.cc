// sund: the one binary of the platform. main() only wires subcommands (ARCHITECTURE.md,
// Command-line contract); the work happens in the modules.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/app_grants.h"
#include "api/bulk_export.h"
#include "api/consent_gate.h"
#include "api/engine.h"
#include "api/errors.h"
#include "api/fhir_api.h"
#include "api/importer.h"
#include "audit/log.h"
#include "auth/password.h"
#include "auth/server.h"
#include "cells_cli.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"
#include "core/x509.h"
#include "demo.h"
#include "endpoints_cli.h"
#include "fhir/resource.h"
#include "fhir/search_query.h"
#include "fl_cli.h"
#include "http/cors.h"
#include "http/server.h"
#include "http/static_site.h"
#include "iomt/broker.h"
#include "iomt/dead_letters.h"
#include "iomt/gateway.h"
#include "iomt/mqtt_ingest.h"
#include "iomt/simulator.h"
#include "iomt_gateway.h"
#include "iomt_simulate.h"
#include "monitor/silence.h"
#include "monitor/subscriptions.h"
#include "monitor/watch.h"
#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "synth/jobs.h"
#include "synth_cli.h"

namespace {

struct ServeFlags {
  std::string data = "data";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string db;
  std::string base_url;
  std::string sync = "normal";
  std::string tls_cert, tls_key;  // --tls-cert auto: a development certificate in DATA/tls
  // Limits for clients other than loopback (http/server.h): requests a second per client
  // address and per connection (bursts of twice that), and open connections per address.
  double rate_limit = 200;
  double connection_rate_limit = 100;
  int max_connections_per_client = 64;
  bool limit_loopback = false;
  bool insecure_dev = false;
  std::string issuer;
  std::string consent_policy = "danish";
  int threads = 0;
  int audit_retention_days = 730;
  std::string mqtt;
  int no_report_hours = 24;
  std::string iomt_templates;
  int demo_citizens = 0;  // sund demo: simulated citizens measuring at home (iomt/simulator.h)
  std::string demo_mqtt;  // sund demo: the simulated devices publish here (else in process)
  // Called once the server listens, with its origin (sund demo prints its welcome).
  std::function<void(const std::string& origin)> on_listening;
  std::string web_dir;  // the built portals (web/); "" looks beside the binary
  std::int64_t export_file_resources = 100'000;
};

// The store of `--db`: PostgreSQL for a postgresql:// (or postgres://) URL, else the embedded
// SQLite database in the data directory (`sqlite:` or no --db).
sund::Result<std::unique_ptr<sund::storage::Store>> OpenStore(const std::string& data,
                                                              const std::string& db,
                                                              const std::string& sync) {
  if (db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0) {
    sund::storage::PostgresOptions o;
    o.url = db;
    return sund::storage::OpenPostgresStore(o);
  }
  if (!db.empty() && db.rfind("sqlite:", 0) != 0) {
    return sund::InvalidArgument(
        "--db takes a postgresql:// URL (or sqlite: for the embedded "
        "store), not '" +
        db.substr(0, db.find(':')) + ":'");
  }
  sund::storage::SqliteOptions o;
  o.path = (std::filesystem::path(data) / "sund.db").string();
  if (sync == "full") {
    o.sync = sund::storage::SyncMode::kFull;
  } else if (sync != "normal") {
    return sund::InvalidArgument("--sync takes normal or full");
  }
  return sund::storage::OpenSqliteStore(o);
}

// The portals beside the binary: build/bin/sund serves build/web.
std::string DefaultWebDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "web";
  return (exe.parent_path().parent_path() / "web").string();
}

// `--tls-cert auto`: a self-signed certificate for localhost, 127.0.0.1, ::1 and `host`, made
// on the first start in DATA/tls and remade when it has less than a day left. For development
// and tests only: clients must be told to trust it (e.g.
// NODE_EXTRA_CA_CERTS=DATA/tls/dev-cert.pem).
sund::Result<std::pair<std::string, std::string>> DevelopmentCertificate(const std::string& data,
                                                                         const std::string& host) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(data) / "tls";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return sund::Internal("cannot create " + dir.string() + ": " + ec.message());
  std::string cert = (dir / "dev-cert.pem").string();
  std::string key = (dir / "dev-key.pem").string();
  std::ifstream in(cert, std::ios::binary);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto left = sund::x509::SecondsToExpiry(pem);
  if (left.ok() && *left > 24 * 3600 && fs::exists(key)) return std::make_pair(cert, key);
  fs::remove(cert, ec);
  fs::remove(key, ec);
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
  if (!host.empty() && host != "0.0.0.0" && host != "::" &&
      std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
    hosts.push_back(host);
  }
  SUND_ASSIGN_OR_RETURN(
      auto pair, sund::x509::MakeCertificate(
                     {"Sund development", "localhost", sund::x509::Usage::kServer, hosts, 90}));
  SUND_RETURN_IF_ERROR(sund::x509::WriteNewFile(key, pair.key_pem, true));
  SUND_RETURN_IF_ERROR(sund::x509::WriteNewFile(cert, pair.cert_pem, false));
  std::fprintf(stderr,
               "sund: made a development TLS certificate, %s (self-signed, 90 days): clients "
               "must trust it explicitly; use a real certificate in production\n",
               cert.c_str());
  return std::make_pair(cert, key);
}

// The lines sund serve adds to /metrics (Prometheus text format 0.0.4).
std::string ServeMetrics(const std::string& data, const sund::iomt::Gateway* gateway,
                         const sund::http::Server* server) {
  std::string out;
  // One metric: its HELP and TYPE lines, then its samples ({labels, value}).
  auto metric = [&out](const char* name, const char* type, const char* help,
                       std::initializer_list<std::pair<const char*, std::uint64_t>> samples) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, value] : samples) {
      out += std::string(name) + labels + " " + std::to_string(value) + "\n";
    }
  };
  if (server != nullptr) {
    sund::http::ServerStats s = server->stats();
    metric("sund_http_throttled_requests_total", "counter",
           "Requests answered 429 by a rate limit.", {{"", s.throttled_requests}});
    metric("sund_http_refused_connections_total", "counter",
           "Connections closed at once: the client address had too many open.",
           {{"", s.refused_connections}});
    metric("sund_tls_failed_handshakes_total", "counter",
           "TLS handshakes that failed or timed out.", {{"", s.failed_handshakes}});
  }
  std::error_code ec;
  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(data, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && name.find(".db") != std::string::npos) bytes += e.file_size(ec);
  }
  metric("sund_storage_bytes", "gauge",
         "Bytes of the data directory's databases (FHIR store, audit, auth, IoMT; a PostgreSQL "
         "store not included).",
         {{"", bytes}});
  if (gateway != nullptr) {
    sund::iomt::GatewayStats s = gateway->stats();
    metric("sund_iomt_payloads_total", "counter", "Device payloads the IoMT gateway handled.",
           {{"", s.payloads}});
    metric("sund_iomt_rejected_payloads_total", "counter",
           "Device payloads refused as a whole (dead-lettered).", {{"", s.rejected_payloads}});
    metric("sund_iomt_measurements_total", "counter",
           "Measurements filed or refused by the gateway.",
           {{"{outcome=\"filed\"}", s.filed}, {"{outcome=\"refused\"}", s.refused}});
  }
  return out;
}

int Fail(const sund::Status& s) {
  std::fprintf(stderr, "sund: %s\n", s.ToString().c_str());
  return 1;
}

int Serve(const ServeFlags& f, const std::vector<std::string>& preload) {
  std::string tls_cert = f.tls_cert;
  std::string tls_key = f.tls_key;
  if (tls_cert == "auto") {
    if (!tls_key.empty()) return Fail(sund::InvalidArgument("--tls-cert auto makes its own key"));
    auto dev = DevelopmentCertificate(f.data, f.host);
    if (!dev.ok()) return Fail(dev.status());
    std::tie(tls_cert, tls_key) = *dev;
  } else if (tls_cert.empty() != tls_key.empty()) {
    return Fail(sund::InvalidArgument("--tls-cert and --tls-key go together"));
  }
  auto store = OpenStore(f.data, f.db, f.sync);
  if (!store.ok()) return Fail(store.status());
  sund::api::Engine engine(**store, sund::SystemClock::Get());
  if (!preload.empty()) {
    sund::api::ImportOptions io;
    auto summary = sund::api::Import(engine, preload, io);
    if (!summary.ok()) return Fail(summary.status());
  }
  sund::api::ApiOptions ao;
  ao.base_url = f.base_url;
  std::unique_ptr<sund::audit::AuditLog> audit_log;
  std::unique_ptr<sund::auth::AuthServer> auth;
  std::string issuer = f.issuer;
  if (issuer.empty() && f.base_url.size() > 5 &&
      f.base_url.compare(f.base_url.size() - 5, 5, "/fhir") == 0) {
    issuer = f.base_url.substr(0, f.base_url.size() - 5);
  }
  std::optional<sund::consent::BasePolicy> base_policy;
  for (auto b : {sund::consent::BasePolicy::kDanish, sund::consent::BasePolicy::kOptIn,
                 sund::consent::BasePolicy::kOptOut}) {
    if (f.consent_policy == sund::consent::BasePolicyName(b)) base_policy = b;
  }
  if (!base_policy)
    return Fail(sund::InvalidArgument("--consent-policy takes danish, opt-in or opt-out"));
  std::unique_ptr<sund::api::ConsentGate> consent;
  if (f.insecure_dev) {
    std::fprintf(stderr,
                 "WARNING: --insecure-dev: authorization, consent and auditing are OFF. Anyone "
                 "who can reach this port can read and change every record, unrecorded. Local "
                 "experiments only; never with real data.\n");
  } else {
    // Every FHIR request and authorization event (logins, consent decisions, tokens) goes to
    // the tamper-evident audit log before it is answered.
    sund::audit::Options log_options;
    log_options.retention_days = f.audit_retention_days;
    auto opened_log = sund::audit::AuditLog::Open(f.data, log_options);
    if (!opened_log.ok()) return Fail(opened_log.status());
    audit_log = std::move(opened_log).value();
    sund::auth::AuthOptions auth_options;
    auth_options.data_dir = f.data;
    auth_options.issuer = issuer;
    auth_options.audit = audit_log.get();
    // App grants for a patient are Consents too; withdrawing one revokes the grant.
    sund::api::RecordAppGrants(auth_options, engine);
    auto opened =
        sund::auth::AuthServer::Open(auth_options, store->get(), sund::SystemClock::Get());
    if (!opened.ok()) return Fail(opened.status());
    auth = std::move(opened).value();
    ao.auth = auth.get();
    ao.audit = audit_log.get();
    consent = std::make_unique<sund::api::ConsentGate>(**store, *base_policy);
    sund::api::RevokeWithdrawnAppGrants(*consent, *auth);
    ao.consent = consent.get();
  }
  // Bulk Data $export (docs/bulk-data.md): jobs in DATA/exports, resumed after a restart.
  sund::api::BulkExportOptions bulk_options;
  bulk_options.store = store->get();
  bulk_options.dir = (std::filesystem::path(f.data) / "exports").string();
  bulk_options.consent = consent.get();
  bulk_options.max_file_resources = f.export_file_resources;
  auto bulk_export = sund::api::BulkExport::Open(std::move(bulk_options));
  if (!bulk_export.ok()) return Fail(bulk_export.status());
  ao.bulk_export = bulk_export->get();
  // /metrics: what the gateway took, and the size of the data directory's databases.
  std::atomic<const sund::iomt::Gateway*> metered_gateway{nullptr};
  std::atomic<const sund::http::Server*> metered_server{nullptr};
  ao.extra_metrics = [&metered_gateway, &metered_server, data = f.data]() {
    return ServeMetrics(data, metered_gateway.load(), metered_server.load());
  };
  sund::api::FhirApi api(engine, ao);
  // The portals (web/, built by make): static files at /app/.
  std::unique_ptr<sund::http::StaticSite> site;
  {
    std::string dir = f.web_dir.empty() ? DefaultWebDir() : f.web_dir;
    auto opened_site = sund::http::StaticSite::Open(dir, "/app");
    if (opened_site.ok()) {
      site = std::move(opened_site).value();
    } else if (!f.web_dir.empty()) {
      return Fail(opened_site.status());
    } else {
      sund::log::Warn("the web portals are not built ({}); /app/ answers 404",
                      opened_site.status().message());
    }
  }
  // The IoMT gateway (docs/iomt.md): device payloads in, Observations out, refusals kept.
  auto fhir_base = [&f](const sund::http::Request& r) {
    if (!f.base_url.empty()) return f.base_url;
    return sund::auth::RequestOrigin(r, "") + "/fhir";
  };
  auto dead_letters =
      sund::iomt::DeadLetters::Open((std::filesystem::path(f.data) / "iomt.db").string());
  if (!dead_letters.ok()) return Fail(dead_letters.status());
  auto device_log =
      sund::iomt::DeviceLog::Open((std::filesystem::path(f.data) / "iomt.db").string());
  if (!device_log.ok()) return Fail(device_log.status());
  std::optional<sund::iomt::Mappings> mappings;
  if (!f.iomt_templates.empty()) {
    std::ifstream in(f.iomt_templates);
    if (!in) return Fail(sund::NotFound("cannot read " + f.iomt_templates));
    std::string text{std::istreambuf_iterator<char>(in), {}};
    auto parsed = sund::iomt::Mappings::Parse(text);
    if (!parsed.ok()) return Fail(parsed.status());
    mappings = std::move(parsed).value();
  }
  sund::iomt::GatewayOptions go;
  go.mappings = mappings ? &*mappings : nullptr;
  go.store = store->get();
  go.dead_letters = dead_letters->get();
  go.device_log = device_log->get();
  auto write_bundle = [&engine](std::string bundle) -> sund::Result<std::string> {
    SUND_ASSIGN_OR_RETURN(auto doc, sund::fhir::ParseJson(bundle));
    return engine.ProcessBundle(std::move(doc), "urn:sund:iomt-gateway");
  };
  go.write = write_bundle;
  // NEWS2 for every patient whose measurements were just filed, and a Flag when it escalates.
  sund::monitor::WatchOptions wo;
  wo.store = store->get();
  wo.write = write_bundle;
  sund::monitor::Watch watch(std::move(wo));
  sund::monitor::ScoreQueue scoring(watch);
  // The store's changes as they commit: every new vital sign is scored, however it arrived, and
  // Subscriptions (below) notify from the same feed. Changes from here on are delivered.
  sund::monitor::ChangeFeed feed(**store);
  auto feed_cursor = feed.Newest();
  if (!feed_cursor.ok()) return Fail(feed_cursor.status());
  sund::monitor::ScoreFromFeed(feed, scoring);
  // Monitored patients who stop reporting raise an alert too (checked every five minutes).
  std::unique_ptr<sund::monitor::SilenceWatch> silence;
  if (f.no_report_hours > 0) {
    sund::monitor::SilenceOptions so;
    so.store = store->get();
    so.write = write_bundle;
    so.after_ms = std::int64_t{f.no_report_hours} * 3'600'000;
    silence = std::make_unique<sund::monitor::SilenceWatch>(std::move(so), std::chrono::minutes(5));
  }
  go.authorize = [&auth, &fhir_base](const sund::http::Request& r,
                                     bool write) -> sund::Result<sund::audit::Actor> {
    if (auth == nullptr) return sund::audit::Actor{"", "anonymous", "", ""};  // --insecure-dev
    SUND_ASSIGN_OR_RETURN(sund::auth::Access access, auth->Authenticate(r, fhir_base(r)));
    // Devices' data is filed by services (system/); the rejected messages and device reports
    // are also for the care organisation's staff and operators, whose user/ scope may read
    // every Observation anyway (the operator portal).
    for (auto context : {sund::auth::ScopeContext::kSystem, sund::auth::ScopeContext::kUser}) {
      if (write && context == sund::auth::ScopeContext::kUser) break;
      auto granted = sund::auth::QueriesFor(access.scopes, context, "Observation",
                                            write ? sund::auth::kCreate : sund::auth::kRead);
      if (granted && granted->empty()) {
        // user/ scopes are held by practitioners and administrators only (auth/server.h).
        std::string role = context == sund::auth::ScopeContext::kSystem ? "system"
                           : access.fhir_user.empty()                   ? "admin"
                                                                        : "practitioner";
        return sund::audit::Actor{access.fhir_user, role, "", access.client_id};
      }
    }
    return sund::Status(sund::StatusCode::kPermissionDenied,
                        write ? "needs a system/ scope that may create Observations"
                              : "needs a system/ or user/ scope that may read Observations");
  };
  go.audit = audit_log.get();
  if (consent != nullptr) {
    // A citizen may withdraw consent to home monitoring (a Consent denying `collect`).
    go.may_collect = [&consent](const std::string& patient, std::string_view observation,
                                std::string_view device_id) {
      return consent->AllowsCollection(patient, observation, device_id,
                                       sund::SystemClock::Get().NowMicros() / 1000);
    };
  }
  sund::iomt::Gateway gateway(std::move(go));
  metered_gateway = &gateway;
  // MQTT: devices publish to the broker; the gateway files what it receives (docs/iomt.md).
  std::unique_ptr<sund::iomt::MqttIngest> mqtt;
  if (!f.mqtt.empty()) {
    auto url = sund::iomt::mqtt::ParseUrl(f.mqtt);
    if (!url.ok()) return Fail(url.status());
    sund::iomt::MqttIngestOptions mo;
    mo.url = *url;
    mo.gateway = &gateway;
    mo.audit = audit_log.get();
    mqtt = std::make_unique<sund::iomt::MqttIngest>(std::move(mo));
    if (auto s = mqtt->Start(); !s.ok()) return Fail(s);
  }
  // Synthetic data for authorised researchers (docs/synth.md): POST /fhir/$synthesize.
  sund::synth::JobServiceOptions jo;
  jo.store = store->get();
  jo.dir = (std::filesystem::path(f.data) / "synth-jobs").string();
  jo.error_response = [](const sund::Status& s) {
    return sund::api::FhirApi::ErrorResponse(sund::api::HttpStatus(s.code()), s.message());
  };
  jo.authorize = [&auth, &fhir_base](const sund::http::Request& r) -> sund::Result<std::string> {
    if (auth == nullptr) return std::string("anonymous");  // --insecure-dev
    SUND_ASSIGN_OR_RETURN(sund::auth::Access access, auth->Authenticate(r, fhir_base(r)));
    if (!access.scopes.synth) {
      return sund::Status(sund::StatusCode::kPermissionDenied,
                          "synthetic data needs a token with the scope sund/synth");
    }
    return access.subject.empty() ? access.client_id : access.subject;
  };
  // Each order is audited by the service (synth/jobs.h), naming the token's person and client.
  jo.audit = audit_log.get();
  jo.identify = [&auth, &fhir_base](const sund::http::Request& r) {
    sund::audit::Actor actor;
    if (auth == nullptr) return actor;
    if (auto access = auth->Authenticate(r, fhir_base(r)); access.ok()) {
      actor.user_id = access->subject == access->client_id ? "" : access->subject;
      actor.client_id = access->client_id;
    }
    return actor;
  };
  sund::synth::JobService synth_jobs(std::move(jo));
  sund::http::ServerOptions so;
  so.host = f.host;
  so.port = static_cast<std::uint16_t>(f.port);
  so.io_threads = f.threads;
  so.worker_threads = f.threads > 0 ? std::max(2, f.threads) : 0;
  so.error_response = sund::api::FhirApi::ErrorResponse;
  so.tls_cert_file = tls_cert;
  so.tls_key_file = tls_key;
  so.client_rate = {f.rate_limit, 2 * f.rate_limit};
  so.connection_rate = {f.connection_rate_limit, 2 * f.connection_rate_limit};
  so.max_connections_per_client = static_cast<std::size_t>(f.max_connections_per_client);
  so.limit_loopback = f.limit_loopback;
  // Browser apps on their registered origins may call the FHIR API, discovery and the token
  // endpoint (CORS, http/cors.h); nothing else is shared across origins.
  sund::http::OriginCheck cors_allowed;
  if (auth != nullptr) {
    cors_allowed = [&auth](std::string_view origin) { return auth->AllowsOrigin(origin); };
  }
  // Subscriptions start once the server's port is known (their notifications name the base).
  std::atomic<sund::monitor::Subscriptions*> subscriptions{nullptr};
  auto route = [&api, &auth, &gateway, &subscriptions, &synth_jobs, &site](sund::http::Request& r) {
    if (site != nullptr) {
      if (site->Handles(r.path)) return site->Handle(r);
      if (r.path == "/" && (r.method == "GET" || r.method == "HEAD")) {
        sund::http::Response to_app;
        to_app.status = 302;
        to_app.headers.Set("Location", "/app/");
        return to_app;
      }
    }
    if (auth != nullptr && sund::auth::AuthServer::Handles(r.path)) return auth->Handle(r);
    if (sund::synth::JobService::Handles(r.path)) return synth_jobs.Handle(r);
    if (sund::iomt::Gateway::Handles(r.path)) return gateway.Handle(r);
    if (auto* subs = subscriptions.load(); subs != nullptr && subs->Handles(r.path)) {
      return subs->Handle(r);
    }
    return api.Handle(r);
  };
  sund::http::Server server(
      so,
      [&route, &cors_allowed](sund::http::Request& r) {
        bool cors = r.path == "/fhir" || r.path.starts_with("/fhir/") ||
                    r.path == "/.well-known/smart-configuration" || r.path == "/oauth2/token" ||
                    r.path == "/oauth2/revoke";
        if (!cors) return route(r);
        if (auto preflight = sund::http::CorsPreflight(r, cors_allowed)) return *preflight;
        sund::http::Response resp = route(r);
        sund::http::AddCorsHeaders(r, resp, cors_allowed);
        return resp;
      },
      [](const sund::http::Request& r) { return sund::api::FhirApi::RunsInline(r); });
  metered_server.store(&server);
  if (auto s = server.Start(); !s.ok()) return Fail(s);
  server.InstallSignalHandlers();
  // Topic-based Subscriptions (alerts, vital signs) with rest-hook delivery.
  sund::monitor::SubscriptionsOptions subo;
  subo.store = store->get();
  subo.write = write_bundle;
  subo.base_url = !f.base_url.empty() ? f.base_url
                                      : (server.secure() ? "https://" : "http://") + f.host + ":" +
                                            std::to_string(server.port()) + "/fhir";
  subo.authorize = [&auth, &fhir_base](const sund::http::Request& r) -> sund::Status {
    if (auth == nullptr) return sund::Status::Ok();  // --insecure-dev
    SUND_ASSIGN_OR_RETURN(sund::auth::Access access, auth->Authenticate(r, fhir_base(r)));
    for (auto context : {sund::auth::ScopeContext::kSystem, sund::auth::ScopeContext::kUser}) {
      auto granted =
          sund::auth::QueriesFor(access.scopes, context, "Subscription", sund::auth::kRead);
      if (granted && granted->empty()) return sund::Status::Ok();
    }
    return sund::Status(sund::StatusCode::kPermissionDenied,
                        "needs a system/ or user/ scope that may read Subscriptions");
  };
  sund::monitor::Subscriptions subscriptions_service(std::move(subo), feed);
  if (auto s = subscriptions_service.Start(); !s.ok()) return Fail(s);
  subscriptions.store(&subscriptions_service);
  if (auto s = feed.Start(*feed_cursor); !s.ok()) return Fail(s);
  // sund demo: fictitious citizens' hubs measuring at home, three simulated days in about a
  // minute (then in real time, so the five-minute silence check finds them current and NEWS2's
  // 24-hour window holds their last day); two of them fall ill (their alerts appear as Flags).
  std::atomic<bool> demo_stop{false};
  std::thread demo_thread;
  if (f.demo_citizens > 0) {
    demo_thread = std::thread([&] {
      sund::iomt::SimulationOptions so;
      so.patients = f.demo_citizens;
      so.deteriorating = 3;
      so.seed = 7;
      so.start_ms = sund::SystemClock::Get().NowMicros() / 1000 - 3LL * 24 * 3600 * 1000;
      sund::iomt::Simulator sim(so);
      if (auto s = write_bundle(sim.SetupBundle(0, so.patients)).status(); !s.ok()) {
        sund::log::Error("demo: setting up the simulated citizens failed: {}", s.message());
        return;
      }
      // The devices publish to the demo's broker as real ones would (docs/iomt.md, "MQTT");
      // without one, their payloads go to the gateway in process.
      std::unique_ptr<sund::iomt::mqtt::Client> publisher;
      if (!f.demo_mqtt.empty()) {
        auto url = sund::iomt::mqtt::ParseUrl(f.demo_mqtt);
        sund::iomt::mqtt::ClientOptions co;
        if (url.ok()) co.url = *url;
        co.client_id = "sund-demo-devices";
        auto connected =
            url.ok() ? sund::iomt::mqtt::Client::Connect(co)
                     : sund::Result<std::unique_ptr<sund::iomt::mqtt::Client>>(url.status());
        if (!connected.ok()) {
          sund::log::Error("demo: the devices cannot reach the broker: {}",
                           connected.status().message());
          return;
        }
        publisher = std::move(connected).value();
      }
      auto run = sund::iomt::RunPaced(
          sim, so, 3600,
          [&gateway, &publisher](const sund::iomt::SimulatedPayload& p) -> sund::Status {
            if (publisher != nullptr) {
              return publisher->Publish(sund::iomt::MeasurementTopic(p.device), p.json, 1);
            }
            auto r = gateway.Ingest(p.json);
            return r.ok() || r.status().code() == sund::StatusCode::kInvalidArgument
                       ? sund::Status::Ok()
                       : r.status();
          },
          demo_stop);
      if (publisher != nullptr) publisher->Disconnect();
      if (!run.ok()) sund::log::Error("demo: the simulation stopped: {}", run.status().message());
    });
    std::printf(
        "sund demo: %d simulated citizens (Patient/sim-p-0 ...) measure at home%s, three "
        "days in about a minute and then in real time; sim-p-0, sim-p-1 and sim-p-2 fall ill: "
        "their NEWS2 scores and alerts appear in the clinician portal\n",
        f.demo_citizens, f.demo_mqtt.empty() ? "" : " and publish over MQTT");
  }
  std::string origin =
      (server.secure() ? "https://" : "http://") + f.host + ":" + std::to_string(server.port());
  if (f.on_listening) f.on_listening(origin);
  std::printf("sund listening on %s\n", origin.c_str());
  std::fflush(stdout);
  server.Wait();
  demo_stop = true;
  if (demo_thread.joinable()) demo_thread.join();
  subscriptions.store(nullptr);
  feed.Stop();  // before its listeners go
  subscriptions_service.Stop();
  if (mqtt != nullptr) mqtt->Stop();
  sund::log::Info("sund stopped");
  return 0;
}

void AddServeFlags(CLI::App* cmd, ServeFlags& f) {
  cmd->add_option("--data", f.data, "data directory (embedded database)")->capture_default_str();
  cmd->add_option("--port", f.port, "port to listen on (0 picks a free port)")
      ->capture_default_str();
  cmd->add_option("--host", f.host, "address to listen on")->capture_default_str();
  cmd->add_option("--db", f.db,
                  "database URL: postgresql://user@host:port/db (default: SQLite in --data)");
  cmd->add_option("--base-url", f.base_url,
                  "public FHIR base URL (default: derived from the Host header)");
  cmd->add_option("--sync", f.sync,
                  "durability: normal (survives a killed process) or full "
                  "(survives a power cut)")
      ->capture_default_str();
  cmd->add_option("--threads", f.threads, "network and worker threads (0: one per core)");
  cmd->add_option("--tls-cert", f.tls_cert,
                  "serve HTTPS only (TLS 1.2+) with this certificate chain (PEM); \"auto\" "
                  "makes a self-signed development certificate in DATA/tls");
  cmd->add_option("--tls-key", f.tls_key, "the certificate's private key (PEM)");
  cmd->add_option("--rate-limit", f.rate_limit,
                  "requests a second per client address, bursts of twice that; more get 429 "
                  "(0: no limit; loopback clients exempt unless --limit-loopback)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--connection-rate-limit", f.connection_rate_limit,
                  "requests a second per connection, bursts of twice that (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-connections-per-client", f.max_connections_per_client,
                  "open connections per client address; more are closed at once (0: no cap)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--limit-loopback", f.limit_loopback,
                "apply the three limits above to 127.0.0.1 and ::1 too (by default local "
                "clients, a reverse proxy on this host or tests, are exempt)");
  cmd->add_flag("--insecure-dev", f.insecure_dev,
                "no authorization, consent or auditing at all (local experiments only; warns on "
                "every start)");
  cmd->add_option("--consent-policy", f.consent_policy,
                  "base policy where no Consent decides: danish (treatment permitted, patients "
                  "may block), opt-in or opt-out")
      ->capture_default_str();
  cmd->add_option("--audit-retention-days", f.audit_retention_days,
                  "days the audit log keeps who-saw-what in clear (patient ids, resources, "
                  "queries); the hashed records stay and verify")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mqtt", f.mqtt,
                  "MQTT broker to take device measurements from, "
                  "mqtt://sund-gateway:PASSWORD@HOST:PORT (from sund iomt broker-config; also "
                  "the SUND_MQTT environment variable, which keeps the password out of ps)")
      ->envname("SUND_MQTT");
  cmd->add_option("--iomt-templates", f.iomt_templates,
                  "mapping templates that turn vendors' device payloads into Sund's "
                  "(docs/iomt.md); checked at start");
  cmd->add_option("--no-report-hours", f.no_report_hours,
                  "alert the care team when a monitored patient has sent no measurement for "
                  "this many hours (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--web-dir", f.web_dir,
                  "the built web portals served at /app/ (default: ../web beside the sund "
                  "binary, where make puts them)");
  cmd->add_option("--export-file-resources", f.export_file_resources,
                  "bulk $export: resources per NDJSON file at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--issuer", f.issuer,
                  "public origin of the authorization server, e.g. https://sund.example.dk "
                  "(default: from --base-url, else each request's Host)");
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed memory in the process: import and search allocate and free large blocks, and
  // returning them to the kernel each time costs page faults (measured: ~9% of import time).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  // A write beyond a file-size limit (ulimit -f) fails with EFBIG, like a full disk, instead of
  // killing the process (SIGXFSZ) in the middle of a transaction.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"Sund: an open health-data platform (FHIR R4 server and more)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sund 0.1.0");

  ServeFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "run the platform (FHIR API at /fhir)");
  AddServeFlags(serve, serve_flags);

  std::string import_data = "data";
  std::string import_url;
  std::string import_db;
  std::vector<std::string> import_files;
  bool no_progress = false;
  int import_threads = 0;
  auto* import = app.add_subcommand("import", "load FHIR Bundles and NDJSON into a data dir");
  import->add_option("--data", import_data, "data directory")->capture_default_str();
  import->add_option("--url", import_url, "import through a running server (FHIR base URL)");
  import->add_option("--db", import_db,
                     "database URL (postgresql://...; default: SQLite in --data)");
  import->add_option("--threads", import_threads, "decompression threads (0: one per core)");
  import->add_flag("--no-progress", no_progress, "no progress bar");
  import
      ->add_option("files", import_files,
                   "Bundles (.json, .json.bz2, .json.gz), NDJSON, or "
                   "directories of them")
      ->required();

  ServeFlags demo_flags;
  std::string demo_population;
  auto* demo = app.add_subcommand("demo", "serve after loading the demo population");
  AddServeFlags(demo, demo_flags);
  demo->add_option("--population", demo_population,
                   "folder of Bundles to load on first start (default: ../shared/data/synthea "
                   "or $SUND_DEMO_DATA)");

  // Administration of the authorization server (works on the data directory, offline).
  std::string admin_data = "data";
  auto* user_cmd = app.add_subcommand("user", "manage accounts (citizens, practitioners, admins)");
  user_cmd->require_subcommand(1);
  auto* user_add = user_cmd->add_subcommand("add", "add an account");
  std::string user_name, user_password, user_role = "citizen", user_fhir, user_display;
  bool password_stdin = false;
  user_add->add_option("--data", admin_data, "data directory")->capture_default_str();
  user_add->add_option("--username", user_name, "login name")->required();
  user_add->add_option("--password", user_password, "password (prefer --password-stdin)");
  user_add->add_flag("--password-stdin", password_stdin, "read the password from stdin");
  user_add
      ->add_option("--role", user_role,
                   "citizen, practitioner, admin or developer (app developers: the "
                   "developer portal, no access to health data)")
      ->capture_default_str();
  user_add->add_option("--fhir-user", user_fhir,
                       "the linked resource: Patient/ID (citizen) or Practitioner/ID");
  user_add->add_option("--name", user_display, "name shown on the screens");

  auto* app_cmd = app.add_subcommand("app", "the registry of third-party apps (OAuth clients)");
  app_cmd->require_subcommand(1);
  auto* app_register = app_cmd->add_subcommand("register", "register an app");
  std::string app_name, app_scope, app_jwks, app_uri, app_id;
  std::vector<std::string> app_redirects;
  std::string app_auth = "none";
  bool app_backend = false;
  app_register->add_option("--data", admin_data, "data directory")->capture_default_str();
  app_register->add_option("--name", app_name, "the app's name, shown to people")->required();
  app_register->add_option("--redirect-uri", app_redirects, "registered redirect URI(s)");
  app_register->add_option("--scope", app_scope, "the most the app may ask for")->required();
  app_register
      ->add_option("--auth", app_auth,
                   "none (public), client_secret_basic, client_secret_post or private_key_jwt")
      ->capture_default_str();
  app_register->add_option("--jwks", app_jwks, "JWK Set file (private_key_jwt)");
  app_register->add_option("--client-uri", app_uri, "the app's home page");
  app_register->add_option("--client-id", app_id, "a chosen client id (default: random)");
  app_register->add_flag("--backend", app_backend,
                         "a backend service (client_credentials with system/ scopes)");
  auto* app_list = app_cmd->add_subcommand("list", "list registered apps");
  app_list->add_option("--data", admin_data, "data directory")->capture_default_str();
  auto* app_revoke = app_cmd->add_subcommand("revoke", "revoke an app and every grant of it");
  std::string revoke_id;
  app_revoke->add_option("--data", admin_data, "data directory")->capture_default_str();
  app_revoke->add_option("client_id", revoke_id, "the app's client id")->required();

  auto* token_cmd = app.add_subcommand(
      "token", "mint an access token offline from the data directory's signing key");
  std::string token_scope, token_patient, token_user, token_aud = "http://127.0.0.1:8080/fhir";
  bool token_system = false;
  std::int64_t token_seconds = 3600;
  token_cmd->add_option("--data", admin_data, "data directory")->capture_default_str();
  token_cmd->add_flag("--system", token_system, "a system token (default scope system/*.cruds)");
  token_cmd->add_option("--patient", token_patient,
                        "a patient token bound to this Patient id (default scope patient/*.rs)");
  token_cmd->add_option("--user", token_user,
                        "a user token for this fhirUser, e.g. Practitioner/7 (default scope "
                        "user/*.rs); the consent engine sees that actor");
  token_cmd->add_option("--scope", token_scope, "SMART scopes");
  token_cmd->add_option("--aud", token_aud, "the FHIR base URL the token is for")
      ->capture_default_str();
  token_cmd->add_option("--lifetime", token_seconds, "seconds (at most 3600)")
      ->capture_default_str();

  auto* iomt_cmd = app.add_subcommand("iomt", "the home-monitoring gateway");
  iomt_cmd->require_subcommand(1);
  auto* iomt_rejected = iomt_cmd->add_subcommand(
      "rejected", "list the refused payloads and measurements, newest first, with their reasons");
  iomt_rejected->add_option("--data", admin_data, "data directory")->capture_default_str();
  int rejected_count = 20;
  iomt_rejected->add_option("--count", rejected_count, "how many")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));
  auto* iomt_broker = iomt_cmd->add_subcommand(
      "broker-config",
      "write a Mosquitto configuration (no anonymous access; each device publishes only its own "
      "topic) and print the gateway's --mqtt URL");
  sund::iomt::BrokerConfig broker_config;
  iomt_broker->add_option("--dir", broker_config.dir, "where to write mosquitto.conf, acl, passwd")
      ->required();
  iomt_broker->add_option("--port", broker_config.port, "the broker's port")->capture_default_str();
  iomt_broker->add_option("--host", broker_config.host, "the address it listens on")
      ->capture_default_str();
  iomt_broker->add_flag("--simulator", broker_config.simulator,
                        "also a user that may publish for every device, for sund iomt simulate "
                        "(demos and benchmarks; never with real devices)");
  auto* iomt_credentials = iomt_cmd->add_subcommand(
      "credentials",
      "give a device a broker password (printed once; user name = device id); reload the broker "
      "(SIGHUP) afterwards");
  std::string passwd_file;
  std::string device_id;
  iomt_credentials->add_option("--passwd", passwd_file, "the broker's password file")->required();
  iomt_credentials->add_option("--device", device_id, "the device's identifier")->required();
  auto* iomt_gateway = iomt_cmd->add_subcommand(
      "gateway",
      "the gateway as its own service: measurements from the MQTT broker, written through the "
      "FHIR API of a remote Sund");
  GatewayFlags gw;
  iomt_gateway->add_option("--fhir", gw.fhir, "the remote Sund's FHIR base, http://HOST:PORT/fhir")
      ->required();
  iomt_gateway
      ->add_option("--token", gw.token,
                   "a system/ token there that may read Devices, DeviceUseStatements and "
                   "Consents and create Observations (also SUND_TOKEN)")
      ->envname("SUND_TOKEN")
      ->required();
  iomt_gateway->add_option("--mqtt", gw.mqtt, "the broker, as for sund serve (also SUND_MQTT)")
      ->envname("SUND_MQTT")
      ->required();
  iomt_gateway->add_option("--data", gw.data, "the gateway's dead letters and device activity")
      ->capture_default_str();
  iomt_gateway
      ->add_option("--consent-policy", gw.consent_policy,
                   "the server's base policy (danish, opt-in, opt-out)")
      ->capture_default_str();
  iomt_gateway->add_option("--iomt-templates", gw.templates, "mapping templates (docs/iomt.md)");
  auto* iomt_simulate = iomt_cmd->add_subcommand(
      "simulate",
      "simulated citizens' measuring hubs (fictitious), sending over MQTT or HTTP; with --url the "
      "citizens, hubs and assignments are created first");
  SimulateFlags sim;
  iomt_simulate->add_option("--patients", sim.patients, "citizens (one hub each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  iomt_simulate
      ->add_option("--rate", sim.rate,
                   "measurement rounds per citizen per simulated hour (6-8 values each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  iomt_simulate
      ->add_option("--deteriorating", sim.deteriorating,
                   "citizens who fall ill over the run (the first K)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  iomt_simulate
      ->add_option("--mqtt", sim.mqtt,
                   "publish to this broker (a user that may write every device's topic)")
      ->envname("SUND_MQTT_SIMULATOR");
  iomt_simulate->add_option("--url", sim.url,
                            "the Sund server (http://HOST:PORT): set up the citizens there, and "
                            "POST the measurements to it unless --mqtt is given");
  iomt_simulate->add_option("--token", sim.token, "bearer token for --url (a system/ token)")
      ->envname("SUND_TOKEN");
  iomt_simulate->add_option("--duration", sim.duration_s, "wall-clock seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  iomt_simulate->add_option("--speed", sim.speed, "simulated time runs this many times faster")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  iomt_simulate->add_option("--seed", sim.seed, "random seed")->capture_default_str();
  AddCellsCommands(app);
  AddFlCommands(app, [](const std::string& data) { return OpenStore(data, "", "normal"); });
  AddSynthCommands(app, [](const std::string& data) { return OpenStore(data, "", "normal"); });
  AddEndpointsCommand(app);

  auto* audit_cmd = app.add_subcommand("audit", "the tamper-evident audit log");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand(
      "verify", "recompute the Merkle tree and check every checkpoint; non-zero exit on tampering");
  audit_verify->add_option("--data", admin_data, "data directory")->capture_default_str();

  auto* keys_cmd = app.add_subcommand("keys", "signing keys");
  keys_cmd->require_subcommand(1);
  auto* keys_rotate = keys_cmd->add_subcommand(
      "rotate", "sign with a new key from now on (the old one verifies until its tokens expire)");
  keys_rotate->add_option("--data", admin_data, "data directory")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  auto open_auth = [&]() -> sund::Result<std::unique_ptr<sund::auth::AuthServer>> {
    sund::auth::AuthOptions o;
    o.data_dir = admin_data;
    return sund::auth::AuthServer::Open(o, nullptr, sund::SystemClock::Get());
  };
  if (user_add->parsed()) {
    if (password_stdin) std::getline(std::cin, user_password);
    if (user_password.size() < 8)
      return Fail(sund::InvalidArgument("the password needs 8 or more characters"));
    if (user_role != "citizen" && user_role != "practitioner" && user_role != "admin" &&
        user_role != "developer") {
      return Fail(sund::InvalidArgument("--role takes citizen, practitioner, admin or developer"));
    }
    if (user_role == "citizen" && user_fhir.rfind("Patient/", 0) != 0) {
      return Fail(sund::InvalidArgument("a citizen needs --fhir-user Patient/ID"));
    }
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    sund::auth::User u;
    u.username = user_name;
    auto hash = sund::auth::HashPassword(user_password);
    if (!hash.ok()) return Fail(hash.status());
    u.password_hash = *hash;
    u.role = user_role;
    u.fhir_user = user_fhir;
    u.display = user_display;
    if (auto st = (*auth)->db().AddUser(u); !st.ok()) return Fail(st);
    std::printf("added %s %s (id %lld)\n", user_role.c_str(), user_name.c_str(),
                static_cast<long long>(u.id));
    return 0;
  }
  if (app_register->parsed()) {
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    sund::auth::Client c;
    c.client_id = app_id.empty() ? sund::crypto::RandomToken(16) : app_id;
    c.name = app_name;
    c.auth_method = app_auth;
    c.redirect_uris = app_redirects;
    c.scope = app_scope;
    c.client_uri = app_uri;
    c.created = sund::SystemClock::Get().NowMicros() / 1'000'000;
    c.grant_types = app_backend ? std::vector<std::string>{"client_credentials"}
                                : std::vector<std::string>{"authorization_code", "refresh_token"};
    if (app_auth != "none" && app_auth != "client_secret_basic" &&
        app_auth != "client_secret_post" && app_auth != "private_key_jwt") {
      return Fail(sund::InvalidArgument("unknown --auth method"));
    }
    if (!app_backend && app_redirects.empty()) {
      return Fail(sund::InvalidArgument("an app that signs people in needs --redirect-uri"));
    }
    std::string secret;
    if (app_auth == "client_secret_basic" || app_auth == "client_secret_post") {
      secret = sund::crypto::RandomToken(32);
      c.secret_hash = sund::crypto::Sha256Hex(secret);
    }
    if (app_auth == "private_key_jwt") {
      std::ifstream in(app_jwks);
      if (app_jwks.empty() || !in)
        return Fail(sund::InvalidArgument("private_key_jwt needs --jwks FILE"));
      std::stringstream text;
      text << in.rdbuf();
      c.jwks = text.str();
    }
    if (auto st = (*auth)->db().AddClient(c); !st.ok()) return Fail(st);
    std::printf("{\"client_id\":\"%s\"%s%s%s}\n", c.client_id.c_str(),
                secret.empty() ? "" : ",\"client_secret\":\"", secret.c_str(),
                secret.empty() ? "" : "\"");
    return 0;
  }
  if (app_list->parsed()) {
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    auto clients = (*auth)->db().ListClients();
    if (!clients.ok()) return Fail(clients.status());
    for (const auto& c : *clients) {
      std::printf("%s\t%s\t%s\t%s%s\n", c.client_id.c_str(), c.name.c_str(), c.auth_method.c_str(),
                  c.scope.c_str(), c.revoked ? "\t(revoked)" : "");
    }
    return 0;
  }
  if (app_revoke->parsed()) {
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    if (auto st = (*auth)->db().RevokeClient(revoke_id); !st.ok()) return Fail(st);
    std::printf("revoked %s (a running server refuses its tokens within five seconds)\n",
                revoke_id.c_str());
    return 0;
  }
  if (token_cmd->parsed()) {
    if (int{token_system} + int{!token_patient.empty()} + int{!token_user.empty()} != 1) {
      return Fail(sund::InvalidArgument("give exactly one of --system, --patient ID, --user REF"));
    }
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    sund::auth::MintRequest r;
    r.audience = token_aud;
    r.patient = token_patient;
    r.fhir_user = token_user;
    r.scope = !token_scope.empty() ? token_scope
              : token_system       ? "system/*.cruds"
              : token_user.empty() ? "patient/*.rs"
                                   : "user/*.rs";
    r.seconds = std::clamp<std::int64_t>(token_seconds, 1, 3600);
    auto token = (*auth)->Mint(r);
    if (!token.ok()) return Fail(token.status());
    std::printf("%s\n", token->c_str());
    return 0;
  }
  if (iomt_rejected->parsed()) {
    std::filesystem::path db = std::filesystem::path(admin_data) / "iomt.db";
    if (!std::filesystem::exists(db)) return Fail(sund::NotFound("no IoMT data in " + admin_data));
    auto letters = sund::iomt::DeadLetters::Open(db.string());
    if (!letters.ok()) return Fail(letters.status());
    auto total = (*letters)->Count();
    auto list = (*letters)->List(rejected_count);
    if (!total.ok()) return Fail(total.status());
    if (!list.ok()) return Fail(list.status());
    // Reasons and details only: the payloads are patient data (GET /iomt/v1/rejected has them).
    for (const auto& d : *list) {
      std::printf("%lld  %s  device %s  %s%s  %s\n", static_cast<long long>(d.id),
                  sund::FormatInstant(d.received_us).c_str(),
                  d.device.empty() ? "?" : d.device.c_str(), d.reason.c_str(),
                  d.index < 0 ? " (whole payload)"
                              : (" (measurement " + std::to_string(d.index) + ")").c_str(),
                  d.detail.c_str());
    }
    std::printf("%zu shown of %lld refused\n", list->size(), static_cast<long long>(*total));
    return 0;
  }
  if (iomt_gateway->parsed()) {
    if (auto s = RunGateway(gw); !s.ok()) return Fail(s);
    return 0;
  }
  if (iomt_simulate->parsed()) {
    if (auto s = RunSimulation(sim); !s.ok()) return Fail(s);
    return 0;
  }
  if (iomt_broker->parsed()) {
    auto urls = sund::iomt::WriteBrokerConfig(broker_config);
    if (!urls.ok()) return Fail(urls.status());
    std::printf("%s\n", urls->gateway.c_str());
    if (broker_config.simulator) std::printf("%s\n", urls->simulator.c_str());
    std::fprintf(stderr,
                 "Start the broker with: mosquitto -c %s/mosquitto.conf\n"
                 "and sund with: SUND_MQTT='<the first URL>' sund serve ...%s\n",
                 broker_config.dir.c_str(),
                 broker_config.simulator
                     ? "\nand the simulator with: SUND_MQTT_SIMULATOR='<the second URL>' sund "
                       "iomt simulate ..."
                     : "");
    return 0;
  }
  if (iomt_credentials->parsed()) {
    std::string password = sund::crypto::RandomToken(24);
    if (auto s = sund::iomt::SetBrokerPassword(passwd_file, device_id, password); !s.ok()) {
      return Fail(s);
    }
    std::printf("%s\n", password.c_str());
    return 0;
  }
  if (audit_verify->parsed()) {
    std::filesystem::path db = std::filesystem::path(admin_data) / "audit.db";
    if (!std::filesystem::exists(db)) {
      return Fail(sund::NotFound("no audit log in " + admin_data));
    }
    auto report = sund::audit::Verify(admin_data);
    if (!report.ok()) return Fail(report.status());
    if (!report->ok()) {
      const auto& f = *report->first_problem;
      std::printf("audit log NOT intact: %s at record %lld: %s\n",
                  std::string(sund::audit::ProblemName(f.problem)).c_str(),
                  static_cast<long long>(f.seq), f.detail.c_str());
      return 3;
    }
    std::printf("audit log intact: %lld records, %lld checkpoints (signed up to %lld)\n",
                static_cast<long long>(report->records),
                static_cast<long long>(report->checkpoints),
                static_cast<long long>(report->verified_size));
    return 0;
  }
  if (keys_rotate->parsed()) {
    auto auth = open_auth();
    if (!auth.ok()) return Fail(auth.status());
    if (auto st = (*auth)->RotateKey(); !st.ok()) return Fail(st);
    std::printf("rotated the signing key (restart sund serve to sign with it)\n");
    return 0;
  }

  if (serve->parsed()) return Serve(serve_flags, {});

  if (import->parsed()) {
    if (!import_url.empty()) {
      return Fail(sund::NotImplemented("import --url is not available yet; use --data"));
    }
    auto store = OpenStore(import_data, import_db, "normal");
    if (!store.ok()) return Fail(store.status());
    sund::api::Engine engine(**store, sund::SystemClock::Get());
    sund::api::ImportOptions io;
    io.progress = !no_progress;
    io.reader_threads = import_threads;
    auto summary = sund::api::Import(engine, import_files, io);
    if (!summary.ok()) return Fail(summary.status());
    std::printf(
        "imported %lld resources from %lld files in %.2f s (%.0f resources/s), %lld "
        "files failed\n",
        static_cast<long long>(summary->resources), static_cast<long long>(summary->files),
        summary->seconds, summary->seconds > 0 ? summary->resources / summary->seconds : 0.0,
        static_cast<long long>(summary->failed_files));
    for (const auto& e : summary->errors) std::fprintf(stderr, "  %s\n", e.c_str());
    return summary->failed_files == 0 ? 0 : 2;
  }

  if (demo->parsed()) {
    std::string population = demo_population;
    if (population.empty()) {
      const char* env = std::getenv("SUND_DEMO_DATA");
      population = env != nullptr ? env : "../shared/data/synthea";
    }
    std::vector<std::string> preload;
    std::filesystem::path marker = std::filesystem::path(demo_flags.data) / "demo-loaded";
    if (!std::filesystem::exists(marker)) {
      if (!std::filesystem::is_directory(population)) {
        return Fail(sund::NotFound("demo population folder " + population +
                                   " not found (set --population or SUND_DEMO_DATA)"));
      }
      auto store = OpenStore(demo_flags.data, demo_flags.db, demo_flags.sync);
      if (!store.ok()) return Fail(store.status());
      sund::api::Engine engine(**store, sund::SystemClock::Get());
      std::printf("sund demo: loading the demo population from %s (first start only)\n",
                  population.c_str());
      std::fflush(stdout);
      auto summary = sund::api::Import(engine, {population}, {});
      if (!summary.ok()) return Fail(summary.status());
      std::printf("sund demo: loaded %lld resources in %.1f s\n",
                  static_cast<long long>(summary->resources), summary->seconds);
      std::FILE* m = std::fopen(marker.string().c_str(), "w");
      if (m != nullptr) std::fclose(m);
    }
    if (!demo_flags.insecure_dev) {
      auto store = OpenStore(demo_flags.data, demo_flags.db, demo_flags.sync);
      if (!store.ok()) return Fail(store.status());
      if (auto st = SetUpDemoAccounts(demo_flags.data, **store); !st.ok()) return Fail(st);
    }
    // The home-monitoring devices publish to a broker of the demo's own, as real ones would.
    std::unique_ptr<DemoBroker> broker;
    if (demo_flags.mqtt.empty()) {
      auto started = DemoBroker::Start(demo_flags.data);
      if (started.ok()) {
        broker = std::move(started).value();
        demo_flags.mqtt = broker->urls().gateway;
        demo_flags.demo_mqtt = broker->urls().simulator;
      } else {
        std::printf("sund demo: no MQTT broker (%s); the simulated devices send in process\n",
                    started.status().message().c_str());
      }
    }
    demo_flags.on_listening = [&demo_flags, &broker](const std::string& origin) {
      std::printf("\nsund demo is ready (synthetic data only):\n");
      std::printf("  portals         %s/app/\n", origin.c_str());
      std::printf("    citizen       %s/app/#/citizen\n", origin.c_str());
      std::printf("    clinician     %s/app/#/clinician\n", origin.c_str());
      std::printf("    developer     %s/app/#/developer\n", origin.c_str());
      std::printf("    operator      %s/app/#/operator\n", origin.c_str());
      std::printf("  FHIR API        %s/fhir  (%s/fhir/metadata)\n", origin.c_str(),
                  origin.c_str());
      if (broker != nullptr) {
        std::printf(
            "  MQTT broker     mqtt://127.0.0.1:%u (devices authenticate; see %s/mosquitto)\n",
            static_cast<unsigned>(broker->port()), demo_flags.data.c_str());
      }
      if (demo_flags.insecure_dev) return;
      std::printf("  logins          user / password (role)\n%s", DemoLogins().c_str());
      sund::auth::AuthOptions o;
      o.data_dir = demo_flags.data;
      auto auth = sund::auth::AuthServer::Open(o, nullptr, sund::SystemClock::Get());
      if (!auth.ok()) return;
      sund::auth::MintRequest r;
      r.audience = origin + "/fhir";
      r.scope = "system/*.rs";
      auto token = (*auth)->Mint(r);
      if (!token.ok()) return;
      std::printf(
          "  a read-only token for one hour (sund token --data %s --system --aud %s/fhir mints "
          "more):\n    curl -H 'Authorization: Bearer %s' "
          "'%s/fhir/Patient?gender=female&_count=5'\n\n",
          demo_flags.data.c_str(), origin.c_str(), token->c_str(), origin.c_str());
    };
    std::fflush(stdout);
    demo_flags.demo_citizens = 30;
    return Serve(demo_flags, {});
  }
  return 0;
}
