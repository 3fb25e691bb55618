#include "audit/record.h"

#include <array>
#include <utility>

namespace sund::audit {

namespace {

constexpr std::array<std::pair<Action, std::string_view>, 16> kActionNames = {{
    {Action::kRead, "read"},
    {Action::kVread, "vread"},
    {Action::kSearch, "search"},
    {Action::kCreate, "create"},
    {Action::kUpdate, "update"},
    {Action::kPatch, "patch"},
    {Action::kDelete, "delete"},
    {Action::kHistory, "history"},
    {Action::kOperation, "operation"},
    {Action::kTransaction, "transaction"},
    {Action::kLogin, "login"},
    {Action::kLogout, "logout"},
    {Action::kToken, "token"},
    {Action::kConsentChange, "consent-change"},
    {Action::kBreakGlass, "break-glass"},
    {Action::kExport, "export"},
}};

}  // namespace

std::string_view ActionName(Action action) {
  for (const auto& [a, name] : kActionNames) {
    if (a == action) return name;
  }
  return "unknown";
}

std::optional<Action> ParseAction(std::string_view name) {
  for (const auto& [a, n] : kActionNames) {
    if (n == name) return a;
  }
  return std::nullopt;
}

}  // namespace sund::audit
