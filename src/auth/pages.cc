#include "auth/pages.h"

#include <cstddef>
#include <string>
#include <string_view>

#include "core/html.h"

namespace sund::auth::pages {
namespace {

// Colours (contrast against their background, WCAG 2.1 formula): text #1a1a1a on #fff 17.4:1,
// on the error/notice tints over 15:1; links and primary buttons #0b4f8a/#fff 8.4:1; secondary
// text #4a4a4a 8.9:1; input borders #555 7.5:1; fieldset and footer rules #767676 4.5:1; the
// focus outline #1a1a1a, offset from the element by 2px of page background, 17.4:1.
constexpr std::string_view kCss =
    "*{box-sizing:border-box}"
    "html{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;"
    "line-height:1.5;color:#1a1a1a;background:#fff}"
    "body{margin:0;padding:1rem}"
    "main,footer{max-width:40rem;margin:0 auto}"
    "h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}"
    "h2{font-size:1.25rem;margin:1.5rem 0 .5rem}"
    "a{color:#0b4f8a}"
    "label{display:block;font-weight:600;margin:1rem 0 .25rem}"
    ".choice{display:flex;gap:.6rem;align-items:flex-start;margin:.6rem 0}"
    ".choice label{font-weight:normal;margin:0}"
    "input[type=text],input[type=password],input[type=search]{width:100%;max-width:24rem;"
    "padding:.5rem;font:inherit;color:inherit;background:#fff;border:2px solid #555;"
    "border-radius:4px}"
    "input[type=checkbox],input[type=radio]{width:1.25rem;height:1.25rem;margin:.15rem 0 0;"
    "flex:none}"
    "fieldset{border:1px solid #767676;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}"
    "legend{font-weight:600;padding:0 .25rem}"
    "button{font:inherit;font-weight:600;padding:.6rem 1.2rem;margin:.5rem .5rem .5rem 0;"
    "border:2px solid #0b4f8a;border-radius:4px;background:#0b4f8a;color:#fff;cursor:pointer}"
    "button.secondary{background:#fff;color:#0b4f8a}"
    ":focus{outline:3px solid #1a1a1a;outline-offset:2px}"
    ".error{border-left:6px solid #b00020;background:#fdecee;padding:.25rem 1rem;margin:1rem 0}"
    ".notice{border-left:6px solid #1e6b35;background:#eaf5ec;padding:.25rem 1rem;margin:1rem 0}"
    ".hint,.meta{color:#4a4a4a}"
    ".tech{font-family:ui-monospace,monospace;font-size:.9em;color:#4a4a4a;"
    "overflow-wrap:anywhere}"
    ".app{border-top:1px solid #767676;margin-top:1.5rem}"
    "footer{margin-top:2rem;border-top:1px solid #767676;padding-top:.5rem;font-size:.9rem;"
    "color:#4a4a4a}"
    "@media (max-width:30rem){button{width:100%;margin-right:0}}";

std::string_view T(Lang lang, std::string_view da, std::string_view en) {
  return lang == Lang::kDa ? da : en;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[i]) != Lower(prefix[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The language a tag names by its primary subtag, if Sund speaks it.
enum class Match { kNone, kDa, kEn, kAny };

Match MatchTag(std::string_view tag) {
  tag = Trim(tag);
  if (tag == "*") return Match::kAny;
  std::size_t end = tag.find_first_of("-_");
  std::string_view primary = tag.substr(0, end);
  if (primary.size() != 2) return Match::kNone;
  if (StartsWithNoCase(primary, "da")) return Match::kDa;
  if (StartsWithNoCase(primary, "en")) return Match::kEn;
  return Match::kNone;
}

// An RFC 9110 qvalue ("0", "0.8", "1.000") in thousandths, or -1 when malformed.
int ParseQ(std::string_view q) {
  q = Trim(q);
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return -1;
  int whole = q[0] - '0';
  int frac = 0;
  if (q.size() > 1) {
    if (q[1] != '.' || q.size() > 5) return -1;
    int scale = 100;
    for (std::size_t i = 2; i < q.size(); ++i) {
      if (q[i] < '0' || q[i] > '9') return -1;
      frac += (q[i] - '0') * scale;
      scale /= 10;
    }
  }
  int value = whole * 1000 + frac;
  return value > 1000 ? -1 : value;
}

// Only relative and http(s) URLs may become an href or a form action.
std::string Url(std::string_view url) {
  bool safe = (!url.empty() && (url[0] == '/' || url[0] == '?' || url[0] == '#')) ||
              StartsWithNoCase(url, "https://") || StartsWithNoCase(url, "http://");
  return safe ? HtmlEscape(url) : std::string("#");
}

void AppendHidden(std::string& out, const Fields& fields) {
  for (const auto& [name, value] : fields) {
    out += "<input type=\"hidden\" name=\"";
    out += HtmlEscape(name);
    out += "\" value=\"";
    out += HtmlEscape(value);
    out += "\">\n";
  }
}

void AppendFormStart(std::string& out, std::string_view method, std::string_view action,
                     std::string_view extra_attributes = {}) {
  out += "<form method=\"";
  out += method;
  out += "\" action=\"";
  out += Url(action);
  out += "\"";
  out += extra_attributes;
  out += ">\n";
}

// Wraps `main_html` (the content of <main>, starting with its <h1>) into a whole document.
std::string Document(Lang lang, std::string_view title, std::string_view main_html,
                     std::string_view lang_switch_url) {
  std::string out;
  out.reserve(main_html.size() + kCss.size() + 1024);
  out += "<!DOCTYPE html>\n<html lang=\"";
  out += LangCode(lang);
  out +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>";
  out += HtmlEscape(title);
  out += " – Sund</title>\n<style>";
  out += kCss;
  out += "</style>\n</head>\n<body>\n<main>\n";
  out += main_html;
  out += "</main>\n<footer>\n<p>";
  out += T(lang, "Denne side leveres af Sund.", "This page is provided by Sund.");
  if (!lang_switch_url.empty()) {
    // The link text is in the other language, and marked so for screen readers.
    out += " <a href=\"";
    out += Url(lang_switch_url);
    out += lang == Lang::kDa ? "\" hreflang=\"en\" lang=\"en\">English</a>"
                             : "\" hreflang=\"da\" lang=\"da\">Dansk</a>";
  }
  out += "</p>\n</footer>\n</body>\n</html>\n";
  return out;
}

std::string GenderText(Lang lang, std::string_view code) {
  if (code == "female") return std::string(T(lang, "kvinde", "female"));
  if (code == "male") return std::string(T(lang, "mand", "male"));
  if (code == "other") return std::string(T(lang, "andet", "other"));
  if (code == "unknown") return std::string(T(lang, "køn ukendt", "gender unknown"));
  return HtmlEscape(code);
}

}  // namespace

Lang PickLang(std::string_view explicit_param, std::string_view accept_language) {
  // ui_locales is space-separated; be lenient and accept commas too.
  std::string_view rest = explicit_param;
  while (!rest.empty()) {
    std::size_t end = rest.find_first_of(" ,");
    Match m = MatchTag(rest.substr(0, end));
    if (m == Match::kDa) return Lang::kDa;
    if (m == Match::kEn) return Lang::kEn;
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }

  Lang best = Lang::kDa;
  int best_q = 0;
  rest = accept_language;
  while (!rest.empty()) {
    std::size_t end = rest.find(',');
    std::string_view entry = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);

    std::size_t semi = entry.find(';');
    Match m = MatchTag(entry.substr(0, semi));
    if (m == Match::kNone) continue;
    int q = 1000;
    std::string_view params =
        semi == std::string_view::npos ? std::string_view() : entry.substr(semi + 1);
    while (!params.empty()) {
      std::size_t next = params.find(';');
      std::string_view param = Trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      if (param.size() >= 2 && Lower(param[0]) == 'q' && param[1] == '=') {
        q = ParseQ(param.substr(2));  // malformed: -1, never chosen
      }
    }
    if (q > best_q) {
      best_q = q;
      best = m == Match::kEn ? Lang::kEn : Lang::kDa;  // "*": any language, so the default
    }
  }
  return best;
}

std::string_view LangCode(Lang lang) { return lang == Lang::kDa ? "da" : "en"; }

std::string_view Stylesheet() { return kCss; }

std::string RenderLogin(const LoginPage& page) {
  const Lang l = page.lang;
  std::string m;
  m += "<h1>";
  m += T(l, "Log ind", "Sign in");
  m += "</h1>\n<p>";
  if (!page.app_name.empty()) {
    m += "<strong>";
    m += HtmlEscape(page.app_name);
    m += "</strong> ";
    m += T(l,
           "beder om adgang til dine sundhedsdata. Log ind for at se, hvad appen beder om, og "
           "beslutte, om den må få det.",
           "is asking for access to your health data. Sign in to see what it asks for and "
           "decide whether to allow it.");
  } else {
    m += T(l, "Log ind på Sund med dit brugernavn og din adgangskode.",
           "Sign in to Sund with your username and password.");
  }
  m += "</p>\n";
  if (page.failed) {
    m += "<div class=\"error\" id=\"login-error\" role=\"alert\">\n<p>";
    m += T(l, "Forkert brugernavn eller adgangskode. Prøv igen.",
           "Wrong username or password. Please try again.");
    m += "</p>\n</div>\n";
  }
  const std::string_view invalid =
      page.failed ? " aria-invalid=\"true\" aria-describedby=\"login-error\"" : "";
  AppendFormStart(m, "post", page.action);
  AppendHidden(m, page.hidden);
  m += "<label for=\"username\">";
  m += T(l, "Brugernavn", "Username");
  m += "</label>\n<input type=\"text\" id=\"username\" name=\"username\" value=\"";
  m += HtmlEscape(page.username);
  m += "\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required";
  m += invalid;
  m += ">\n<label for=\"password\">";
  m += T(l, "Adgangskode", "Password");
  m += "</label>\n<input type=\"password\" id=\"password\" name=\"password\" "
       "autocomplete=\"current-password\" required";
  m += invalid;
  m += ">\n<div>\n<button type=\"submit\">";
  m += T(l, "Log ind", "Sign in");
  m += "</button>\n</div>\n</form>\n";
  std::string title(T(l, "Log ind", "Sign in"));
  if (page.failed) title = std::string(T(l, "Fejl: ", "Error: ")) + title;
  return Document(l, title, m, page.lang_switch_url);
}

std::string RenderConsent(const ConsentPage& page) {
  const Lang l = page.lang;
  const std::string app = HtmlEscape(page.app_name);
  std::string m;
  m += "<h1>";
  m += app;
  m += T(l, " beder om adgang", " is asking for access");
  m += "</h1>\n";

  m += "<p class=\"meta\">";
  if (!page.publisher.empty()) {
    m += T(l, "Udgiver: ", "Publisher: ");
    m += HtmlEscape(page.publisher);
    m += ".";
  } else {
    m += T(l, "Udgiveren er ikke oplyst.", "The publisher is not stated.");
  }
  if (!page.app_uri.empty()) {
    m += "<br>\n";
    m += T(l, "Appens hjemmeside: ", "App website: ");
    m += "<span class=\"tech\">";
    m += HtmlEscape(page.app_uri);
    m += "</span>";
  }
  m += "</p>\n<p>";
  m += T(l, "Giv kun adgang til apps, du stoler på.", "Only allow access to apps you trust.");
  m += "</p>\n";
  if (!page.user_display.empty()) {
    m += "<p>";
    m += T(l, "Du er logget ind som ", "You are signed in as ");
    m += "<strong>";
    m += HtmlEscape(page.user_display);
    m += "</strong>.</p>\n";
  }
  if (!page.patient_display.empty()) {
    m += "<p>";
    m += T(l, "Adgangen gælder data om ", "The access covers data about ");
    m += "<strong>";
    m += HtmlEscape(page.patient_display);
    m += "</strong>.</p>\n";
  }

  AppendFormStart(m, "post", page.action);
  AppendHidden(m, page.hidden);
  m += "<fieldset aria-describedby=\"scopes-hint";
  if (page.wildcard) m += " scopes-wildcard";
  m += "\">\n<legend>";
  m += T(l, "Det beder appen om", "What the app asks for");
  m += "</legend>\n<p class=\"hint\" id=\"scopes-hint\">";
  m += T(l, "Fjern fluebenet ved det, appen ikke skal have adgang til.",
         "Untick anything the app should not have access to.");
  m += "</p>\n";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    const ConsentItem& item = page.items[i];
    const std::string id = "scope-" + std::to_string(i);
    const std::string value = HtmlEscape(item.value);
    m += "<div class=\"choice\">\n<input type=\"checkbox\" id=\"";
    m += id;
    m += "\" name=\"scope\" value=\"";
    m += value;
    m += "\"";
    if (item.checked || item.required) m += " checked";
    if (item.required) m += " disabled";
    m += ">\n<label for=\"";
    m += id;
    m += "\">";
    m += HtmlEscape(item.description);
    if (item.required) {
      m += T(l, " (nødvendig)", " (required)");
    }
    m += "<br><span class=\"tech\">";
    m += value;
    m += "</span></label>\n";
    if (item.required) {
      // A disabled checkbox is not submitted; the hidden field carries the scope instead.
      m += "<input type=\"hidden\" name=\"scope\" value=\"";
      m += value;
      m += "\">\n";
    }
    m += "</div>\n";
  }
  if (page.wildcard) {
    m += "<p class=\"hint\" id=\"scopes-wildcard\">";
    m += T(l,
           "Hvor der står „alle typer“, gælder adgangen også typer af data, som bliver "
           "tilføjet senere.",
           "Where it says “all types”, the access also covers types of data that are added "
           "later.");
    m += "</p>\n";
  }
  m += "</fieldset>\n";

  if (!page.duration.empty()) {
    m += "<p><strong>";
    m += T(l, "Varighed:", "Duration:");
    m += "</strong> ";
    m += HtmlEscape(page.duration);
    m += "</p>\n";
  }
  if (page.offline) {
    m += "<p>";
    m += T(l,
           "Appen beder om at forblive forbundet: den kan hente data, også når du ikke bruger "
           "den.",
           "The app asks to stay connected: it can fetch data even when you are not using it.");
    m += "</p>\n";
  }
  m += "<p>";
  m += T(l, "Du kan til enhver tid tilbagekalde adgangen under „Apps med adgang til dine data“.",
         "You can revoke access at any time under “Apps with access to your data”.");
  m += "</p>\n<div>\n<button type=\"submit\" name=\"decision\" value=\"approve\">";
  m += T(l, "Giv adgang", "Allow access");
  m += "</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">";
  m += T(l, "Afvis", "Deny");
  m += "</button>\n</div>\n</form>\n";
  return Document(l, T(l, "Giv adgang", "Allow access"), m, page.lang_switch_url);
}

std::string RenderPatientPicker(const PatientPickerPage& page) {
  const Lang l = page.lang;
  std::string m;
  m += "<h1>";
  m += T(l, "Vælg patient", "Choose patient");
  m += "</h1>\n";
  if (!page.app_name.empty()) {
    m += "<p>";
    m += T(l, "Vælg, hvilken patient ", "Choose which patient ");
    m += "<strong>";
    m += HtmlEscape(page.app_name);
    m += "</strong>";
    m += T(l, " skal arbejde med.", " should work with.");
    m += "</p>\n";
  }

  AppendFormStart(m, "get", page.action, " role=\"search\"");
  AppendHidden(m, page.search_hidden);
  m += "<label for=\"q\">";
  m += T(l, "Søg efter patient", "Search for a patient");
  m += "</label>\n<input type=\"search\" id=\"q\" name=\"q\" value=\"";
  m += HtmlEscape(page.query);
  m += "\" autocomplete=\"off\">\n<button type=\"submit\" class=\"secondary\">";
  m += T(l, "Søg", "Search");
  m += "</button>\n</form>\n";

  if (page.patients.empty()) {
    m += "<p role=\"status\">";
    m += page.query.empty()
             ? T(l, "Søg efter en patient for at fortsætte.", "Search for a patient to continue.")
             : T(l, "Ingen patienter matcher søgningen.", "No patients match the search.");
    m += "</p>\n";
    return Document(l, T(l, "Vælg patient", "Choose patient"), m, page.lang_switch_url);
  }

  AppendFormStart(m, "post", page.action);
  AppendHidden(m, page.hidden);
  m += "<fieldset>\n<legend>";
  m += T(l, "Patienter", "Patients");
  m += "</legend>\n";
  for (std::size_t i = 0; i < page.patients.size(); ++i) {
    const PatientChoice& p = page.patients[i];
    const std::string id = "patient-" + std::to_string(i);
    m += "<div class=\"choice\">\n<input type=\"radio\" id=\"";
    m += id;
    m += "\" name=\"patient\" value=\"";
    m += HtmlEscape(p.id);
    m += "\" required";
    if (page.patients.size() == 1) m += " checked";
    m += ">\n<label for=\"";
    m += id;
    m += "\">";
    m += HtmlEscape(p.name.empty() ? p.id : p.name);
    std::string details;
    if (!p.birth_date.empty()) {
      details += T(l, "født ", "born ");
      details += HtmlEscape(p.birth_date);
    }
    if (!p.gender.empty()) {
      if (!details.empty()) details += ", ";
      details += GenderText(l, p.gender);
    }
    if (!details.empty()) {
      m += "<br><span class=\"hint\">";
      m += details;
      m += "</span>";
    }
    m += "</label>\n</div>\n";
  }
  m += "</fieldset>\n<div>\n<button type=\"submit\">";
  m += T(l, "Fortsæt", "Continue");
  m += "</button>\n</div>\n</form>\n";
  return Document(l, T(l, "Vælg patient", "Choose patient"), m, page.lang_switch_url);
}

std::string RenderApps(const AppsPage& page) {
  const Lang l = page.lang;
  std::string m;
  m += "<h1>";
  m += T(l, "Apps med adgang til dine data", "Apps with access to your data");
  m += "</h1>\n";
  if (!page.message.empty()) {
    m += "<div class=\"notice\" role=\"status\">\n<p>";
    m += HtmlEscape(page.message);
    m += "</p>\n</div>\n";
  }
  if (!page.user_display.empty()) {
    m += "<p>";
    m += T(l, "Du er logget ind som ", "You are signed in as ");
    m += "<strong>";
    m += HtmlEscape(page.user_display);
    m += "</strong>.</p>\n";
  }
  if (!page.log_url.empty()) {
    m += "<p><a href=\"";
    m += HtmlEscape(page.log_url);
    m += "\">";
    m += T(l, "Se hvem der har set dine data (din log)",
           "See who has looked at your data (your log)");
    m += "</a></p>\n";
  }
  if (!page.logout_action.empty()) {
    AppendFormStart(m, "post", page.logout_action);
    AppendHidden(m, page.hidden);
    m += "<button type=\"submit\" class=\"secondary\">";
    m += T(l, "Log ud", "Sign out");
    m += "</button>\n</form>\n";
  }
  if (page.apps.empty()) {
    m += "<p>";
    m += T(l, "Ingen apps har adgang til dine data lige nu.",
           "No apps have access to your data right now.");
    m += "</p>\n";
  }
  for (std::size_t i = 0; i < page.apps.size(); ++i) {
    const AppGrant& a = page.apps[i];
    const std::string heading_id = "app-" + std::to_string(i);
    const std::string name = HtmlEscape(a.app_name.empty() ? a.client_id : a.app_name);
    m += "<section class=\"app\" aria-labelledby=\"";
    m += heading_id;
    m += "\">\n<h2 id=\"";
    m += heading_id;
    m += "\">";
    m += name;
    m += "</h2>\n";
    if (!a.what.empty()) {
      m += "<p>";
      m += T(l, "Appen kan:", "The app can:");
      m += "</p>\n<ul>\n";
      for (const std::string& line : a.what) {
        m += "<li>";
        m += HtmlEscape(line);
        m += "</li>\n";
      }
      m += "</ul>\n";
    }
    m += "<p class=\"meta\">";
    if (!a.granted.empty()) {
      m += T(l, "Adgang givet: ", "Access granted: ");
      m += HtmlEscape(a.granted);
      m += "<br>\n";
    }
    if (a.expires.empty()) {
      m += T(l, "Udløber ikke: gælder, indtil du tilbagekalder den.",
             "Does not expire: lasts until you revoke it.");
    } else {
      m += T(l, "Udløber: ", "Expires: ");
      m += HtmlEscape(a.expires);
    }
    m += "</p>\n";
    AppendFormStart(m, "post", page.revoke_action);
    AppendHidden(m, page.hidden);
    m += "<input type=\"hidden\" name=\"client_id\" value=\"";
    m += HtmlEscape(a.client_id);
    m += "\">\n<button type=\"submit\">";
    m += T(l, "Tilbagekald adgang for ", "Revoke access for ");
    m += name;
    m += "</button>\n</form>\n</section>\n";
  }
  return Document(l, T(l, "Apps med adgang til dine data", "Apps with access to your data"), m,
                  page.lang_switch_url);
}

std::string RenderError(Lang lang, std::string_view title, std::string_view message) {
  std::string m;
  m += "<h1>";
  m += HtmlEscape(title);
  m += "</h1>\n<p>";
  m += HtmlEscape(message);
  m += "</p>\n";
  return Document(lang, title, m, {});
}

}  // namespace sund::auth::pages
