// sund: the one binary of the platform. main() only wires subcommands (ARCHITECTURE.md,
// Command-line contract); the work happens in the modules.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/engine.h"
#include "api/fhir_api.h"
#include "api/importer.h"
#include "core/log.h"
#include "core/time.h"
#include "http/server.h"
#include "storage/sqlite/sqlite_store.h"

namespace {

struct ServeFlags {
  std::string data = "data";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string db;
  std::string base_url;
  std::string sync = "normal";
  std::string tls_cert, tls_key;
  bool insecure_dev = false;
  int threads = 0;
};

sund::Result<std::unique_ptr<sund::storage::Store>> OpenStore(const std::string& data,
                                                              const std::string& db,
                                                              const std::string& sync) {
  if (!db.empty() && db.rfind("sqlite:", 0) != 0) {
    return sund::NotImplemented("--db " + db.substr(0, db.find(':')) +
                                ": only the embedded SQLite store is available in this build");
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

int Fail(const sund::Status& s) {
  std::fprintf(stderr, "sund: %s\n", s.ToString().c_str());
  return 1;
}

int Serve(const ServeFlags& f, const std::vector<std::string>& preload) {
  if (!f.tls_cert.empty() || !f.tls_key.empty()) {
    return Fail(sund::NotImplemented("TLS is not available yet (TODO(#11)); run behind a proxy"));
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
  sund::api::FhirApi api(engine, ao);
  sund::http::ServerOptions so;
  so.host = f.host;
  so.port = static_cast<std::uint16_t>(f.port);
  so.io_threads = f.threads;
  so.worker_threads = f.threads > 0 ? std::max(2, f.threads) : 0;
  so.error_response = sund::api::FhirApi::ErrorResponse;
  sund::http::Server server(
      so, [&api](sund::http::Request& r) { return api.Handle(r); },
      [](const sund::http::Request& r) { return sund::api::FhirApi::RunsInline(r); });
  if (auto s = server.Start(); !s.ok()) return Fail(s);
  server.InstallSignalHandlers();
  std::printf("sund listening on http://%s:%u\n", f.host.c_str(),
              static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.Wait();
  sund::log::Info("sund stopped");
  return 0;
}

void AddServeFlags(CLI::App* cmd, ServeFlags& f) {
  cmd->add_option("--data", f.data, "data directory (embedded database)")->capture_default_str();
  cmd->add_option("--port", f.port, "port to listen on (0 picks a free port)")
      ->capture_default_str();
  cmd->add_option("--host", f.host, "address to listen on")->capture_default_str();
  cmd->add_option("--db", f.db, "database URL (default: SQLite in --data)");
  cmd->add_option("--base-url", f.base_url,
                  "public FHIR base URL (default: derived from the Host header)");
  cmd->add_option("--sync", f.sync,
                  "durability: normal (survives a killed process) or full "
                  "(survives a power cut)")
      ->capture_default_str();
  cmd->add_option("--threads", f.threads, "network and worker threads (0: one per core)");
  cmd->add_option("--tls-cert", f.tls_cert, "TLS certificate (PEM)");
  cmd->add_option("--tls-key", f.tls_key, "TLS private key (PEM)");
  cmd->add_flag("--insecure-dev", f.insecure_dev,
                "no authentication (local experiments only; security arrives with #3)");
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed memory in the process: import and search allocate and free large blocks, and
  // returning them to the kernel each time costs page faults (measured: ~9% of import time).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  CLI::App app{"Sund: an open health-data platform (FHIR R4 server and more)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sund 0.1.0");

  ServeFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "run the platform (FHIR API at /fhir)");
  AddServeFlags(serve, serve_flags);

  std::string import_data = "data";
  std::string import_url;
  std::vector<std::string> import_files;
  bool no_progress = false;
  int import_threads = 0;
  auto* import = app.add_subcommand("import", "load FHIR Bundles and NDJSON into a data dir");
  import->add_option("--data", import_data, "data directory")->capture_default_str();
  import->add_option("--url", import_url, "import through a running server (FHIR base URL)");
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

  CLI11_PARSE(app, argc, argv);

  if (serve->parsed()) return Serve(serve_flags, {});

  if (import->parsed()) {
    if (!import_url.empty()) {
      return Fail(sund::NotImplemented("import --url is not available yet; use --data"));
    }
    auto store = OpenStore(import_data, "", "normal");
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
    std::printf(
        "sund demo: open http://%s:%d/fhir/metadata or try "
        "http://%s:%d/fhir/Patient?gender=female\n",
        demo_flags.host.c_str(), demo_flags.port, demo_flags.host.c_str(), demo_flags.port);
    return Serve(demo_flags, {});
  }
  return 0;
}
