#include "fl_cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "fl/certs.h"

namespace {

[[noreturn]] void Fail(const sund::Status& s) {
  std::fprintf(stderr, "sund fl: %s\n", s.ToString().c_str());
  throw CLI::RuntimeError(1);
}

struct CertsFlags {
  sund::fl::CertsOptions options;
  bool add = false;
};

void RunCerts(const CertsFlags& f) {
  sund::Status s =
      f.add ? sund::fl::AddNodeCertificates(f.options.dir, f.options.nodes, f.options.days)
            : sund::fl::MakePilotCertificates(f.options);
  if (!s.ok()) Fail(s);
  if (!f.add) {
    std::printf("certificate authority: %s/ca.pem (keep ca.key offline once done)\n",
                f.options.dir.c_str());
    std::printf("coordinator: %s/coordinator.pem and .key\n", f.options.dir.c_str());
  }
  for (const auto& n : f.options.nodes) {
    std::printf("node %s: %s/%s.pem and .key (give them and ca.pem to that site only)\n", n.c_str(),
                f.options.dir.c_str(), n.c_str());
  }
}

}  // namespace

void AddFlCommands(CLI::App& app) {
  auto* fl = app.add_subcommand("fl", "federated learning: train where the data lives");
  fl->require_subcommand(1);
  auto cf = std::make_shared<CertsFlags>();
  auto* certs = fl->add_subcommand(
      "certs", "make a small certificate authority and certificates for a pilot (mutual TLS)");
  certs->add_option("--out", cf->options.dir, "folder for the certificates and keys")->required();
  certs->add_option("--nodes", cf->options.nodes, "node names (their certificates' names)")
      ->delimiter(',')
      ->required();
  certs
      ->add_option("--host", cf->options.coordinator_hosts,
                   "names and addresses the coordinator is reached by")
      ->capture_default_str();
  certs->add_option("--days", cf->options.days, "validity")->capture_default_str();
  certs->add_flag("--add", cf->add, "add node certificates signed by the authority in --out");
  certs->callback([cf] { RunCerts(*cf); });
}
