#include "cohort_input.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "core/progress.h"
#include "http/client.h"
#include "storage/store.h"
#include "synth/cohort.h"

namespace {

namespace synth = sund::synth;

// GET through a running server, for cohort extraction with --url: the bearer token in a header,
// never in an error (the URLs hold patient ids, so errors do not repeat them either).
synth::HttpGet ServerGet(const std::string& token) {
  auto client = std::make_shared<std::unique_ptr<sund::http::Client>>();
  auto origin = std::make_shared<std::string>();
  return [client, origin, token](const std::string& url) -> sund::Result<std::string> {
    auto u = sund::http::ParseHttpUrl(url);
    if (!u.ok()) return sund::InvalidArgument("a paging link that is not an http URL");
    std::string here = (u->tls ? "https://" : "http://") + u->host + ":" + std::to_string(u->port);
    if (*client == nullptr || *origin != here) {
      *client = std::make_unique<sund::http::Client>(u->host, u->port, std::chrono::seconds(120),
                                                     sund::http::ClientTls{u->tls, {}});
      *origin = here;
    }
    sund::http::Headers h;
    h.Set("Accept", "application/fhir+json");
    if (!token.empty()) h.Set("Authorization", "Bearer " + token);
    auto r = (*client)->Send("GET", u->path, h);
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return sund::Status(r->status == 401 || r->status == 403 ? sund::StatusCode::kPermissionDenied
                                                               : sund::StatusCode::kUnavailable,
                          "the server answered HTTP " + std::to_string(r->status));
    }
    return std::move(r->body);
  };
}

}  // namespace

sund::Result<CohortTable> LoadCohortTable(const CohortSource& f, const StoreOpener& open_store) {
  if (f.cohort.empty()) return sund::InvalidArgument("--data and --url need --cohort SPEC");
  if (f.data.empty() == f.url.empty()) return sund::InvalidArgument("give --data or --url");
  SUND_ASSIGN_OR_RETURN(synth::CohortSpec spec, synth::ReadCohortSpecFile(f.cohort));
  std::unique_ptr<sund::storage::Store> store;
  std::unique_ptr<synth::ResourceSource> source;
  if (!f.data.empty()) {
    SUND_ASSIGN_OR_RETURN(store, open_store(f.data));
    source = synth::StoreSource(*store);
  } else {
    source = synth::RestSource(f.url, ServerGet(f.token));
  }
  synth::ExtractOptions o;
  o.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  sund::ProgressBar bar("extract", 0, "resources");
  o.progress = [&bar](std::uint64_t n) { bar.Add(n, n); };
  SUND_ASSIGN_OR_RETURN(synth::ExtractedTable t, synth::ExtractCohort(*source, spec, o));
  bar.Finish();
  const auto& st = t.stats;
  std::printf(
      "extracted %llu patients x %zu features (%llu seen; left out: %llu by research consent, %llu "
      "by the population filter) in %.1f s\n",
      static_cast<unsigned long long>(st.extracted), t.schema.columns.size(),
      static_cast<unsigned long long>(st.patients_seen),
      static_cast<unsigned long long>(st.excluded_by_consent),
      static_cast<unsigned long long>(st.excluded_by_population), st.seconds);
  if (t.table.rows.empty()) {
    return sund::InvalidArgument(
        "the cohort is empty: no patient passed the research consent and population filter");
  }
  CohortTable out;
  out.table = std::move(t.table);
  out.schema = std::move(t.schema);
  out.cohort_json = synth::CohortSpecToJson(t.spec);
  return out;
}
