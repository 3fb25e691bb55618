// `sund iomt gateway`: the IoMT gateway as its own service, taking measurements from the MQTT
// broker and writing them through the FHIR API of a remote Sund (ARCHITECTURE.md, Services).
// Devices, their assignments and the patients' Consents are read through that API too (with
// short caches; iomt/remote.h reads the answers and decides on the Consents); dead letters and
// device activity stay in the gateway's own --data. The remote server audits every write under
// the gateway's token and scores what arrives from its change feed.
#include "iomt_gateway.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "consent/engine.h"
#include "http/client.h"
#include "http/query.h"
#include "iomt/dead_letters.h"
#include "iomt/device_log.h"
#include "iomt/gateway.h"
#include "iomt/mapping.h"
#include "iomt/mqtt_ingest.h"
#include "iomt/remote.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

// One connection to the remote Sund, for the gateway's single filing thread (and a lock, for
// safety).
class Remote {
 public:
  Remote(sund::http::HttpUrl base, std::string token)
      : base_(std::move(base)),
        client_(base_.host, base_.port, std::chrono::seconds(60), {base_.tls, {}}) {
    headers_.Set("Authorization", "Bearer " + token);
    headers_.Set("Accept", "application/fhir+json");
  }
  // GET base + path_and_query: the searchset's resources.
  sund::Result<std::vector<sund::storage::SearchHit>> Search(const std::string& path_and_query) {
    std::lock_guard lock(mu_);
    SUND_ASSIGN_OR_RETURN(auto r, client_.Send("GET", base_.path + "/" + path_and_query, headers_));
    if (r.status != 200) {
      return sund::Status(
          sund::StatusCode::kUnavailable,
          "the FHIR server answered a search with HTTP " + std::to_string(r.status));
    }
    return sund::iomt::ReadSearchset(r.body);
  }
  sund::Result<std::string> Transaction(const std::string& bundle) {
    std::lock_guard lock(mu_);
    sund::http::Headers h = headers_;
    h.Set("Content-Type", "application/fhir+json");
    SUND_ASSIGN_OR_RETURN(auto r,
                          client_.Send("POST", base_.path.empty() ? "/" : base_.path, h, bundle));
    if (r.status != 200) {
      return sund::Status(
          sund::StatusCode::kUnavailable,
          "the FHIR server answered the transaction with HTTP " + std::to_string(r.status));
    }
    return std::move(r.body);
  }

 private:
  sund::http::HttpUrl base_;
  sund::http::Headers headers_;
  std::mutex mu_;
  sund::http::Client client_;
};

}  // namespace

sund::Status RunGateway(const GatewayFlags& f) {
  SUND_ASSIGN_OR_RETURN(auto base, sund::http::ParseHttpUrl(f.fhir));
  SUND_ASSIGN_OR_RETURN(auto mqtt_url, sund::iomt::mqtt::ParseUrl(f.mqtt));
  std::optional<sund::consent::BasePolicy> base_policy;
  for (auto b : {sund::consent::BasePolicy::kDanish, sund::consent::BasePolicy::kOptIn,
                 sund::consent::BasePolicy::kOptOut}) {
    if (f.consent_policy == sund::consent::BasePolicyName(b)) base_policy = b;
  }
  if (!base_policy)
    return sund::InvalidArgument("--consent-policy takes danish, opt-in or opt-out");
  std::optional<sund::iomt::Mappings> mappings;
  if (!f.templates.empty()) {
    std::ifstream in(f.templates);
    if (!in) return sund::NotFound("cannot read " + f.templates);
    SUND_ASSIGN_OR_RETURN(
        mappings, sund::iomt::Mappings::Parse(std::string{std::istreambuf_iterator<char>(in), {}}));
  }
  Remote remote(base, f.token);
  // The token must work before devices start to be refused for it.
  SUND_RETURN_IF_ERROR(remote.Search("Device?_count=1").status());

  std::string db = f.data + "/iomt.db";
  SUND_ASSIGN_OR_RETURN(auto dead_letters, sund::iomt::DeadLetters::Open(db));
  SUND_ASSIGN_OR_RETURN(auto device_log, sund::iomt::DeviceLog::Open(db));
  sund::iomt::GatewayOptions go;
  go.dead_letters = dead_letters.get();
  go.device_log = device_log.get();
  go.mappings = mappings ? &*mappings : nullptr;
  go.find_device =
      [&remote](const std::string& device) -> sund::Result<sund::iomt::DeviceResources> {
    sund::iomt::DeviceResources out;
    SUND_ASSIGN_OR_RETURN(
        out.devices, remote.Search("Device?identifier=" +
                                   sund::http::PercentEncode(
                                       std::string(sund::iomt::kDeviceIdSystem) + "|" + device)));
    if (out.devices.size() == 1) {
      SUND_ASSIGN_OR_RETURN(auto uses,
                            remote.Search("DeviceUseStatement?_count=1000&device=Device/" +
                                          sund::http::PercentEncode(out.devices[0].id)));
      for (auto& u : uses) out.uses.push_back(std::move(u.json));
    }
    return out;
  };
  go.write = [&remote](std::string bundle) { return remote.Transaction(bundle); };
  go.authorize = [](const sund::http::Request&, bool) -> sund::Result<sund::audit::Actor> {
    return sund::Status(sund::StatusCode::kNotFound, "no HTTP surface in gateway mode");
  };
  // Collection consent, from the patients' Consents read through the API (a minute's cache).
  sund::iomt::RemoteConsentsOptions co;
  co.base_policy = *base_policy;
  co.fetch = [&remote](const std::string& patient) -> sund::Result<std::vector<std::string>> {
    SUND_ASSIGN_OR_RETURN(auto hits, remote.Search("Consent?_count=1000&patient=Patient/" +
                                                   sund::http::PercentEncode(patient)));
    std::vector<std::string> out;
    out.reserve(hits.size());
    for (auto& h : hits) out.push_back(std::move(h.json));
    return out;
  };
  sund::iomt::RemoteConsents consents(std::move(co));
  go.may_collect = [&consents](const std::string& patient, std::string_view observation,
                               std::string_view device_id) {
    return consents.MayCollect(patient, observation, device_id);
  };
  sund::iomt::Gateway gateway(std::move(go));
  sund::iomt::MqttIngestOptions mo;
  mo.url = mqtt_url;
  mo.gateway = &gateway;
  sund::iomt::MqttIngest ingest(std::move(mo));
  SUND_RETURN_IF_ERROR(ingest.Start());
  std::fprintf(stderr, "sund iomt gateway: from %s:%u to %s (Ctrl-C stops)\n",
               mqtt_url.host.c_str(), static_cast<unsigned>(mqtt_url.port), f.fhir.c_str());
  stop_requested = 0;
  std::signal(SIGINT, [](int) { stop_requested = 1; });
  std::signal(SIGTERM, [](int) { stop_requested = 1; });
  while (stop_requested == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ingest.Stop();
  auto s = ingest.stats();
  std::printf(
      "sund iomt gateway: %lld messages in %lld batches, %lld measurements filed, %lld "
      "refused, %lld connections, %lld failed batches\n",
      static_cast<long long>(s.messages), static_cast<long long>(s.batches),
      static_cast<long long>(s.measurements), static_cast<long long>(s.refused),
      static_cast<long long>(s.connections), static_cast<long long>(s.store_failures));
  return sund::Status::Ok();
}
