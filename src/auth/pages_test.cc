#include "auth/pages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/html.h"

namespace sund::auth::pages {
namespace {

constexpr std::string_view kHostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
constexpr std::string_view kHostileEscaped =
    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";

std::size_t Count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// Every start tag `<name ...>` in `html`, as its full text.
std::vector<std::string> Tags(std::string_view html, std::string_view name) {
  std::vector<std::string> out;
  const std::string open = "<" + std::string(name);
  for (std::size_t pos = html.find(open); pos != std::string_view::npos;
       pos = html.find(open, pos + 1)) {
    char next = html[pos + open.size()];
    if (next != ' ' && next != '>') continue;
    std::size_t end = html.find('>', pos);
    out.emplace_back(html.substr(pos, end - pos + 1));
  }
  return out;
}

// The value of attribute `name` in a start tag (written name="value"), if present.
std::optional<std::string> Attr(std::string_view tag, std::string_view name) {
  const std::string key = " " + std::string(name) + "=\"";
  std::size_t pos = tag.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  pos += key.size();
  return std::string(tag.substr(pos, tag.find('"', pos) - pos));
}

bool HasFlag(std::string_view tag, std::string_view flag) {
  const std::string a = " " + std::string(flag);
  return tag.find(a + " ") != std::string_view::npos || tag.find(a + ">") != std::string_view::npos;
}

// The <form> elements of a page, each from "<form" to "</form>".
std::vector<std::string> Forms(std::string_view html) {
  std::vector<std::string> out;
  for (std::size_t pos = html.find("<form "); pos != std::string_view::npos;
       pos = html.find("<form ", pos + 1)) {
    std::size_t end = html.find("</form>", pos);
    out.emplace_back(html.substr(pos, end - pos));
  }
  return out;
}

// The structural accessibility and safety rules every page must keep.
void ExpectWellFormedPage(const std::string& html, Lang lang) {
  SCOPED_TRACE(html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_NE(html.find("<html lang=\"" + std::string(LangCode(lang)) + "\">"), std::string::npos);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(html.find("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"),
            std::string::npos);
  EXPECT_EQ(Count(html, "<title>"), 1u);
  EXPECT_EQ(Count(html, "<h1"), 1u);
  EXPECT_EQ(Count(html, "<main>"), 1u);
  EXPECT_LT(html.find("<main>"), html.find("<h1>"));
  EXPECT_LT(html.find("<h1>"), html.find("</main>"));
  EXPECT_EQ(Count(html, "<style>"), 1u);
  EXPECT_NE(html.find(Stylesheet()), std::string::npos);
  EXPECT_NE(html.find("<footer>"), std::string::npos);
  EXPECT_NE(html.find("Sund"), std::string::npos);
  for (std::string_view banned : {"<script", "<link", "<img", "<iframe", "<object", "<table",
                                  "javascript:", "<input type=\"submit\""}) {
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  }

  // Ids are unique; every visible input has one, and a <label for=> it; every
  // aria-describedby / aria-labelledby names an existing id.
  std::set<std::string> ids;
  for (std::size_t pos = html.find(" id=\""); pos != std::string::npos;
       pos = html.find(" id=\"", pos + 1)) {
    std::size_t start = pos + 5;
    std::string id = html.substr(start, html.find('"', start) - start);
    EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id;
  }
  for (const std::string& input : Tags(html, "input")) {
    if (Attr(input, "type") == "hidden") {
      EXPECT_FALSE(Attr(input, "id").has_value()) << input;
      continue;
    }
    std::optional<std::string> id = Attr(input, "id");
    ASSERT_TRUE(id.has_value()) << input;
    EXPECT_EQ(Count(html, "<label for=\"" + *id + "\">"), 1u) << input;
  }
  for (std::string_view attr : {"aria-describedby", "aria-labelledby"}) {
    for (std::string_view tag_name : {"input", "fieldset", "section"}) {
      for (const std::string& tag : Tags(html, tag_name)) {
        std::optional<std::string> refs = Attr(tag, attr);
        if (!refs) continue;
        std::size_t start = 0;
        while (start <= refs->size()) {
          std::size_t end = refs->find(' ', start);
          std::string ref = refs->substr(start, end - start);
          EXPECT_TRUE(ids.count(ref)) << attr << " -> " << ref;
          if (end == std::string::npos) break;
          start = end + 1;
        }
      }
    }
  }
  // Inputs, buttons and all other content live inside <main> or the footer.
  for (const std::string& button : Tags(html, "button")) {
    EXPECT_EQ(Attr(button, "type"), "submit") << button;
  }
}

LoginPage SampleLogin(Lang lang) {
  LoginPage p;
  p.lang = lang;
  p.action = "/oauth2/login";
  p.hidden = {{"csrf", "tok123"}, {"tx", "abc"}};
  p.app_name = "Min Puls";
  p.lang_switch_url = "/oauth2/login?tx=abc&lang=en";
  return p;
}

ConsentPage SampleConsent(Lang lang) {
  ConsentPage p;
  p.lang = lang;
  p.action = "/oauth2/consent";
  p.hidden = {{"csrf", "tok123"}};
  p.app_name = "Min Puls";
  p.app_uri = "https://minpuls.example";
  p.publisher = "Puls ApS";
  p.user_display = "Signe Testesen (borger)";
  p.items = {{"openid", "Vide hvem du er", true, true},
             {"patient/Observation.rs", "Læse dine målinger", true, false},
             {"patient/*.rs", "Læse alle typer af data om dig", false, false}};
  p.duration = "90 dage, indtil du tilbagekalder adgangen";
  p.offline = true;
  p.wildcard = true;
  p.lang_switch_url = "/oauth2/consent?lang=en";
  return p;
}

PatientPickerPage SamplePicker(Lang lang) {
  PatientPickerPage p;
  p.lang = lang;
  p.action = "/oauth2/patient";
  p.hidden = {{"csrf", "tok123"}};
  p.search_hidden = {{"tx", "abc"}};
  p.app_name = "Journal Viewer";
  p.query = "Test";
  p.patients = {{"p1", "Signe Testesen", "1980-02-03", "female"},
                {"p2", "Bo Testesen", "1979-11-30", "male"}};
  p.lang_switch_url = "/oauth2/patient?lang=en";
  return p;
}

AppsPage SampleApps(Lang lang) {
  AppsPage p;
  p.lang = lang;
  p.user_display = "Signe Testesen";
  p.apps = {{"minpuls", "Min Puls", {"Læse dine målinger"}, "2024-01-02", "2024-04-01"},
            {"diary", "Dagbog", {"Skrive observationer"}, "2024-02-03", ""}};
  p.revoke_action = "/my/apps/revoke";
  p.hidden = {{"csrf", "tok123"}};
  p.message = "Adgangen for Gammel App er tilbagekaldt";
  p.logout_action = "/my/logout";
  p.lang_switch_url = "/my/apps?lang=en";
  return p;
}

std::vector<std::string> AllPages(Lang lang) {
  LoginPage failed = SampleLogin(lang);
  failed.failed = true;
  failed.username = "signe";
  PatientPickerPage empty_picker = SamplePicker(lang);
  empty_picker.patients.clear();
  AppsPage no_apps = SampleApps(lang);
  no_apps.apps.clear();
  return {RenderLogin(SampleLogin(lang)),
          RenderLogin(failed),
          RenderConsent(SampleConsent(lang)),
          RenderPatientPicker(SamplePicker(lang)),
          RenderPatientPicker(empty_picker),
          RenderApps(SampleApps(lang)),
          RenderApps(no_apps),
          RenderError(lang, "Ugyldig anmodning", "Appen sendte en ukendt redirect_uri.")};
}

// Verifies: REQ-AUTH-065
TEST(PagesTest, EscapesAllFiveSpecialCharacters) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("Blåbær & co"), "Blåbær &amp; co");
  EXPECT_EQ(HtmlEscape(""), "");
  EXPECT_EQ(HtmlEscape(kHostile), kHostileEscaped);
}

// Verifies: REQ-AUTH-067
TEST(PagesTest, PickLangPrefersExplicitParameterOverHeader) {
  EXPECT_EQ(PickLang("en", "da"), Lang::kEn);
  EXPECT_EQ(PickLang("da-DK", "en-GB,en;q=0.9"), Lang::kDa);
  EXPECT_EQ(PickLang("EN-gb", ""), Lang::kEn);
  EXPECT_EQ(PickLang("fr en", "da"), Lang::kEn);  // ui_locales: first tag Sund speaks
  EXPECT_EQ(PickLang("fr", "en"), Lang::kEn);     // nothing usable: the header decides
}

// Verifies: REQ-AUTH-067
TEST(PagesTest, PickLangReadsAcceptLanguage) {
  EXPECT_EQ(PickLang("", "en-GB,en;q=0.9,da;q=0.8"), Lang::kEn);
  EXPECT_EQ(PickLang("", "da"), Lang::kDa);
  EXPECT_EQ(PickLang("", "en"), Lang::kEn);
  EXPECT_EQ(PickLang("", "fr"), Lang::kDa);
  EXPECT_EQ(PickLang("", ""), Lang::kDa);
  EXPECT_EQ(PickLang("", "da;q=0.1, en;q=0.9"), Lang::kEn);
  EXPECT_EQ(PickLang("", "en;q=0.5, da;q=0.6"), Lang::kDa);
  EXPECT_EQ(PickLang("", "fr-FR, fr;q=0.9, en-US;q=0.8, en;q=0.7"), Lang::kEn);
  EXPECT_EQ(PickLang("", "en;q=0, da;q=0.2"), Lang::kDa);  // q=0: not acceptable
  EXPECT_EQ(PickLang("", "en;q=0"), Lang::kDa);
  EXPECT_EQ(PickLang("", "en;q=0.5, da;q=0.5"), Lang::kEn);  // tie: earlier entry
  EXPECT_EQ(PickLang("", "en;q=banana, da;q=0.1"), Lang::kDa);
  EXPECT_EQ(PickLang("", "*;q=0.9, en;q=0.5"), Lang::kDa);
  EXPECT_EQ(PickLang("", "english, en;q=0.3"), Lang::kEn);  // "english" is not "en"
}

// Verifies: REQ-AUTH-068
TEST(PagesTest, LangCodes) {
  EXPECT_EQ(LangCode(Lang::kDa), "da");
  EXPECT_EQ(LangCode(Lang::kEn), "en");
}

// Verifies: REQ-AUTH-064
TEST(PagesTest, EveryPageIsWellFormedAndAccessibleInBothLanguages) {
  for (Lang lang : {Lang::kDa, Lang::kEn}) {
    for (const std::string& html : AllPages(lang)) ExpectWellFormedPage(html, lang);
  }
}

// Verifies: REQ-AUTH-064
TEST(PagesTest, StylesheetLoadsNothingExternal) {
  std::string_view css = Stylesheet();
  EXPECT_EQ(css.find("url("), std::string_view::npos);
  EXPECT_EQ(css.find("@import"), std::string_view::npos);
  EXPECT_EQ(css.find("@font-face"), std::string_view::npos);
  EXPECT_NE(css.find(":focus{outline:3px solid"), std::string_view::npos);
}

// Verifies: REQ-AUTH-064, REQ-AUTH-065, REQ-AUTH-066
TEST(PagesTest, EveryPageEscapesHostileStrings) {
  const std::string h(kHostile);
  LoginPage login = SampleLogin(Lang::kDa);
  login.app_name = h;
  login.username = h;
  login.failed = true;
  login.hidden = {{h, h}};
  login.action = h;
  login.lang_switch_url = "/x?" + h;

  ConsentPage consent = SampleConsent(Lang::kEn);
  consent.app_name = consent.app_uri = consent.publisher = consent.user_display =
      consent.patient_display = consent.duration = h;
  consent.hidden = {{h, h}};
  consent.items[0].value = consent.items[0].description = h;
  consent.items[1].value = consent.items[1].description = h;

  PatientPickerPage picker = SamplePicker(Lang::kDa);
  picker.app_name = picker.query = h;
  picker.hidden = picker.search_hidden = {{h, h}};
  picker.patients[0] = {h, h, h, h};

  AppsPage apps = SampleApps(Lang::kEn);
  apps.user_display = apps.message = h;
  apps.apps[0] = {h, h, {h}, h, h};
  apps.apps[1].app_name.clear();
  apps.apps[1].client_id = h;  // shown in place of a missing name
  apps.hidden = {{h, h}};

  const std::vector<std::string> pages = {RenderLogin(login), RenderConsent(consent),
                                          RenderPatientPicker(picker), RenderApps(apps),
                                          RenderError(Lang::kDa, h, h)};
  for (const std::string& html : pages) {
    SCOPED_TRACE(html);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_EQ(html.find("\"><"), std::string::npos);  // no attribute was broken out of
    EXPECT_NE(html.find(kHostileEscaped), std::string::npos);
  }
  ExpectWellFormedPage(pages[0], Lang::kDa);
  ExpectWellFormedPage(pages[1], Lang::kEn);
  ExpectWellFormedPage(pages[2], Lang::kDa);
  ExpectWellFormedPage(pages[3], Lang::kEn);
  ExpectWellFormedPage(pages[4], Lang::kDa);
  // Unsafe URLs are neutralised, safe ones are kept.
  EXPECT_NE(pages[0].find("<form method=\"post\" action=\"#\">"), std::string::npos);
  EXPECT_NE(pages[0].find("<a href=\"/x?&lt;script&gt;"), std::string::npos);
}

// Verifies: REQ-AUTH-066
TEST(PagesTest, UnsafeUrlsBecomeHash) {
  LoginPage p = SampleLogin(Lang::kDa);
  p.lang_switch_url = "JavaScript:alert(1)";
  p.action = "data:text/html,hi";
  std::string html = RenderLogin(p);
  EXPECT_EQ(html.find("alert(1)"), std::string::npos);
  EXPECT_EQ(html.find("data:"), std::string::npos);
  EXPECT_NE(html.find("action=\"#\""), std::string::npos);
  EXPECT_NE(html.find("<a href=\"#\" hreflang=\"en\" lang=\"en\">English</a>"), std::string::npos);

  p.action = "https://sund.example/oauth2/login";
  EXPECT_NE(RenderLogin(p).find("action=\"https://sund.example/oauth2/login\""), std::string::npos);
}

// Verifies: REQ-AUTH-069
TEST(PagesTest, LoginFormHasLabelledFieldsAndCarriesHiddenFields) {
  std::string html = RenderLogin(SampleLogin(Lang::kDa));
  std::vector<std::string> forms = Forms(html);
  ASSERT_EQ(forms.size(), 1u);
  EXPECT_NE(forms[0].find("<form method=\"post\" action=\"/oauth2/login\">"), std::string::npos);
  EXPECT_NE(forms[0].find("<input type=\"hidden\" name=\"csrf\" value=\"tok123\">"),
            std::string::npos);
  EXPECT_NE(forms[0].find("<input type=\"hidden\" name=\"tx\" value=\"abc\">"), std::string::npos);
  EXPECT_NE(html.find("<label for=\"username\">Brugernavn</label>"), std::string::npos);
  EXPECT_NE(html.find("<label for=\"password\">Adgangskode</label>"), std::string::npos);
  EXPECT_NE(html.find("<strong>Min Puls</strong>"), std::string::npos);
  EXPECT_NE(html.find("<button type=\"submit\">Log ind</button>"), std::string::npos);
  EXPECT_EQ(html.find("role=\"alert\""), std::string::npos);
  EXPECT_EQ(html.find("aria-invalid"), std::string::npos);
  // The footer links to the English page, marked as English.
  EXPECT_NE(html.find("<a href=\"/oauth2/login?tx=abc&amp;lang=en\" hreflang=\"en\" "
                      "lang=\"en\">English</a>"),
            std::string::npos);
}

// Verifies: REQ-AUTH-013, REQ-AUTH-069
TEST(PagesTest, FailedLoginShowsLinkedAlertAndNeverEchoesPassword) {
  LoginPage p = SampleLogin(Lang::kEn);
  p.failed = true;
  p.username = "signe\"x";
  std::string html = RenderLogin(p);
  EXPECT_NE(html.find("<div class=\"error\" id=\"login-error\" role=\"alert\">\n<p>Wrong "
                      "username or password. Please try again.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<title>Error: Sign in – Sund</title>"), std::string::npos);
  int checked = 0;
  for (const std::string& input : Tags(html, "input")) {
    if (Attr(input, "type") == "hidden") continue;
    EXPECT_EQ(Attr(input, "aria-describedby"), "login-error") << input;
    EXPECT_EQ(Attr(input, "aria-invalid"), "true") << input;
    if (Attr(input, "type") == "password") {
      EXPECT_FALSE(Attr(input, "value").has_value()) << input;
      EXPECT_EQ(Attr(input, "autocomplete"), "current-password");
      ++checked;
    } else {
      EXPECT_EQ(Attr(input, "value"), "signe&quot;x");
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
  // The message never says which of the two was wrong.
  EXPECT_EQ(html.find("Unknown user"), std::string::npos);
  EXPECT_EQ(Count(html, "role=\"alert\""), 1u);

  p.lang = Lang::kDa;
  EXPECT_NE(RenderLogin(p).find("Forkert brugernavn eller adgangskode."), std::string::npos);
}

// Verifies: REQ-AUTH-070
TEST(PagesTest, ConsentHasOneCheckboxPerItemWithGivenState) {
  ConsentPage p = SampleConsent(Lang::kDa);
  std::string html = RenderConsent(p);
  std::vector<std::string> boxes;
  for (const std::string& input : Tags(html, "input")) {
    if (Attr(input, "type") == "checkbox") boxes.push_back(input);
  }
  ASSERT_EQ(boxes.size(), p.items.size());
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    SCOPED_TRACE(boxes[i]);
    EXPECT_EQ(Attr(boxes[i], "name"), "scope");
    EXPECT_EQ(Attr(boxes[i], "value"), HtmlEscape(p.items[i].value));
    EXPECT_EQ(HasFlag(boxes[i], "checked"), p.items[i].checked);
    EXPECT_EQ(HasFlag(boxes[i], "disabled"), p.items[i].required);
    std::string label = "<label for=\"" + *Attr(boxes[i], "id") + "\">" + p.items[i].description;
    EXPECT_NE(html.find(label), std::string::npos);
  }
  // The required (disabled) item is still submitted, through exactly one hidden field.
  EXPECT_EQ(Count(html, "<input type=\"hidden\" name=\"scope\" value=\"openid\">"), 1u);
  EXPECT_EQ(Count(html, "<input type=\"hidden\" name=\"scope\""), 1u);
  EXPECT_NE(html.find("Vide hvem du er (nødvendig)"), std::string::npos);

  // Checkboxes are grouped with a legend, inside the one form with both decisions.
  std::vector<std::string> forms = Forms(html);
  ASSERT_EQ(forms.size(), 1u);
  EXPECT_NE(forms[0].find("<fieldset aria-describedby=\"scopes-hint scopes-wildcard\">\n<legend>"),
            std::string::npos);
  EXPECT_NE(forms[0].find("<input type=\"hidden\" name=\"csrf\" value=\"tok123\">"),
            std::string::npos);
  EXPECT_NE(forms[0].find("<button type=\"submit\" name=\"decision\" value=\"approve\">Giv "
                          "adgang</button>"),
            std::string::npos);
  EXPECT_NE(forms[0].find("name=\"decision\" value=\"deny\" class=\"secondary\">Afvis</button>"),
            std::string::npos);
  EXPECT_EQ(Count(html, "<button"), 2u);

  // A required item is always shown ticked, even if the caller forgot to set `checked`.
  p.items[0].checked = false;
  html = RenderConsent(p);
  std::vector<std::string> inputs = Tags(html, "input");
  auto openid = std::find_if(inputs.begin(), inputs.end(), [](const std::string& tag) {
    return Attr(tag, "type") == "checkbox" && Attr(tag, "value") == "openid";
  });
  ASSERT_NE(openid, inputs.end());
  EXPECT_TRUE(HasFlag(*openid, "checked"));
  EXPECT_TRUE(HasFlag(*openid, "disabled"));
}

// Verifies: REQ-AUTH-071
TEST(PagesTest, ConsentNamesAppDurationOfflineAndWildcard) {
  ConsentPage p = SampleConsent(Lang::kDa);
  std::string html = RenderConsent(p);
  EXPECT_NE(html.find("<h1>Min Puls beder om adgang</h1>"), std::string::npos);
  EXPECT_NE(html.find("Udgiver: Puls ApS"), std::string::npos);
  EXPECT_NE(html.find("https://minpuls.example"), std::string::npos);
  EXPECT_EQ(html.find("href=\"https://minpuls.example"), std::string::npos);  // text, no link
  EXPECT_NE(html.find("Signe Testesen (borger)"), std::string::npos);
  EXPECT_NE(html.find("<strong>Varighed:</strong> 90 dage, indtil du tilbagekalder adgangen"),
            std::string::npos);
  EXPECT_NE(html.find("forblive forbundet"), std::string::npos);
  EXPECT_NE(html.find("„alle typer“, gælder adgangen også typer af data, som bliver tilføjet "
                      "senere"),
            std::string::npos);

  p.offline = false;
  p.wildcard = false;
  p.duration.clear();
  p.publisher.clear();
  p.patient_display = "Bo Testesen";
  html = RenderConsent(p);
  EXPECT_EQ(html.find("forblive forbundet"), std::string::npos);
  EXPECT_EQ(html.find("alle typer“"), std::string::npos);
  EXPECT_EQ(html.find("scopes-wildcard"), std::string::npos);
  EXPECT_EQ(html.find("Varighed"), std::string::npos);
  EXPECT_NE(html.find("Udgiveren er ikke oplyst."), std::string::npos);
  EXPECT_NE(html.find("Adgangen gælder data om <strong>Bo Testesen</strong>"), std::string::npos);
  ExpectWellFormedPage(html, Lang::kDa);

  p.lang = Lang::kEn;
  p.wildcard = true;
  p.offline = true;
  html = RenderConsent(p);
  EXPECT_NE(html.find("“all types”, the access also covers types of data that are added later"),
            std::string::npos);
  EXPECT_NE(html.find("stay connected"), std::string::npos);
}

// Verifies: REQ-AUTH-072
TEST(PagesTest, PatientPickerHasSearchAndRadioChoice) {
  PatientPickerPage p = SamplePicker(Lang::kDa);
  std::string html = RenderPatientPicker(p);
  std::vector<std::string> forms = Forms(html);
  ASSERT_EQ(forms.size(), 2u);
  // The search form is GET and carries only search_hidden (no CSRF token in URLs).
  EXPECT_EQ(forms[0].rfind("<form method=\"get\" action=\"/oauth2/patient\" role=\"search\">", 0),
            0u);
  EXPECT_NE(forms[0].find("<input type=\"hidden\" name=\"tx\" value=\"abc\">"), std::string::npos);
  EXPECT_EQ(forms[0].find("csrf"), std::string::npos);
  EXPECT_NE(forms[0].find("<label for=\"q\">Søg efter patient</label>"), std::string::npos);
  EXPECT_NE(forms[0].find("id=\"q\" name=\"q\" value=\"Test\""), std::string::npos);
  // The choice form is POST, carries hidden, groups the radios.
  EXPECT_EQ(forms[1].rfind("<form method=\"post\" action=\"/oauth2/patient\">", 0), 0u);
  EXPECT_NE(forms[1].find("<input type=\"hidden\" name=\"csrf\" value=\"tok123\">"),
            std::string::npos);
  EXPECT_EQ(forms[1].find("name=\"tx\""), std::string::npos);
  EXPECT_NE(forms[1].find("<fieldset>\n<legend>Patienter</legend>"), std::string::npos);
  std::vector<std::string> radios;
  for (const std::string& input : Tags(forms[1], "input")) {
    if (Attr(input, "type") == "radio") radios.push_back(input);
  }
  ASSERT_EQ(radios.size(), 2u);
  EXPECT_EQ(Attr(radios[0], "name"), "patient");
  EXPECT_EQ(Attr(radios[0], "value"), "p1");
  EXPECT_EQ(Attr(radios[1], "value"), "p2");
  EXPECT_FALSE(HasFlag(radios[0], "checked"));
  EXPECT_NE(html.find("Signe Testesen<br><span class=\"hint\">født 1980-02-03, kvinde</span>"),
            std::string::npos);
  EXPECT_NE(html.find("<strong>Journal Viewer</strong>"), std::string::npos);

  p.lang = Lang::kEn;
  EXPECT_NE(RenderPatientPicker(p).find("born 1980-02-03, female"), std::string::npos);

  p.patients.resize(1);
  html = RenderPatientPicker(p);
  for (const std::string& input : Tags(html, "input")) {
    if (Attr(input, "type") == "radio") {
      EXPECT_TRUE(HasFlag(input, "checked"));
    }
  }

  p.patients.clear();
  html = RenderPatientPicker(p);
  EXPECT_EQ(Forms(html).size(), 1u);
  EXPECT_NE(html.find("<p role=\"status\">No patients match the search.</p>"), std::string::npos);
}

// Verifies: REQ-AUTH-073
TEST(PagesTest, AppsPageHasOneRevokeFormPerApp) {
  AppsPage p = SampleApps(Lang::kDa);
  std::string html = RenderApps(p);
  std::vector<std::string> revoke;
  std::vector<std::string> forms = Forms(html);
  for (const std::string& form : forms) {
    // Every form carries the CSRF field.
    EXPECT_NE(form.find("<input type=\"hidden\" name=\"csrf\" value=\"tok123\">"),
              std::string::npos);
    if (form.rfind("<form method=\"post\" action=\"/my/apps/revoke\">", 0) == 0) {
      revoke.push_back(form);
    }
  }
  EXPECT_EQ(forms.size(), 3u);  // logout + two apps
  ASSERT_EQ(revoke.size(), 2u);
  for (std::size_t i = 0; i < revoke.size(); ++i) {
    EXPECT_EQ(Count(revoke[i], "name=\"client_id\""), 1u);
    EXPECT_NE(revoke[i].find("<input type=\"hidden\" name=\"client_id\" value=\"" +
                             p.apps[i].client_id + "\">"),
              std::string::npos);
    // The button's accessible name (its text) includes the app's name.
    EXPECT_NE(revoke[i].find("<button type=\"submit\">Tilbagekald adgang for " +
                             p.apps[i].app_name + "</button>"),
              std::string::npos);
  }
  EXPECT_NE(html.find("<h1>Apps med adgang til dine data</h1>"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"notice\" role=\"status\">\n<p>Adgangen for Gammel App er "
                      "tilbagekaldt</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<form method=\"post\" action=\"/my/logout\">"), std::string::npos);
  EXPECT_NE(html.find("Log ud</button>"), std::string::npos);
  EXPECT_NE(html.find("<li>Læse dine målinger</li>"), std::string::npos);
  EXPECT_NE(html.find("Udløber: 2024-04-01"), std::string::npos);
  EXPECT_NE(html.find("Udløber ikke"), std::string::npos);

  p.message.clear();
  p.logout_action.clear();
  p.apps.clear();
  html = RenderApps(p);
  EXPECT_TRUE(Forms(html).empty());
  EXPECT_EQ(html.find("role=\"status\""), std::string::npos);
  EXPECT_NE(html.find("Ingen apps har adgang til dine data"), std::string::npos);
}

// Verifies: REQ-AUTH-068
TEST(PagesTest, DanishAndEnglishTextsDiffer) {
  std::vector<std::string> da = AllPages(Lang::kDa);
  std::vector<std::string> en = AllPages(Lang::kEn);
  ASSERT_EQ(da.size(), en.size());
  for (std::size_t i = 0; i < da.size(); ++i) EXPECT_NE(da[i], en[i]) << i;

  const std::string& login_da = da[0];
  const std::string& login_en = en[0];
  EXPECT_NE(login_da.find("<h1>Log ind</h1>"), std::string::npos);
  EXPECT_NE(login_en.find("<h1>Sign in</h1>"), std::string::npos);
  EXPECT_EQ(login_da.find("Username"), std::string::npos);
  EXPECT_EQ(login_en.find("Brugernavn"), std::string::npos);
  EXPECT_NE(login_en.find("<label for=\"password\">Password</label>"), std::string::npos);
  EXPECT_NE(login_en.find("hreflang=\"da\" lang=\"da\">Dansk</a>"), std::string::npos);

  EXPECT_NE(da[2].find(">Afvis</button>"), std::string::npos);
  EXPECT_NE(en[2].find(">Deny</button>"), std::string::npos);
  EXPECT_NE(en[2].find(">Allow access</button>"), std::string::npos);
  EXPECT_EQ(en[2].find("Giv adgang"), std::string::npos);
  EXPECT_NE(da[3].find("<h1>Vælg patient</h1>"), std::string::npos);
  EXPECT_NE(en[3].find("<h1>Choose patient</h1>"), std::string::npos);
  EXPECT_NE(en[5].find("<h1>Apps with access to your data</h1>"), std::string::npos);
  EXPECT_NE(en[5].find(">Revoke access for Min Puls</button>"), std::string::npos);
  EXPECT_NE(da[7].find("Denne side leveres af Sund."), std::string::npos);
  EXPECT_NE(en[7].find("This page is provided by Sund."), std::string::npos);
}

// Verifies: REQ-AUTH-065, REQ-AUTH-074
TEST(PagesTest, ErrorPageShowsTitleAndMessage) {
  std::string html = RenderError(Lang::kEn, "Invalid request", "Unknown redirect_uri & state.");
  EXPECT_NE(html.find("<title>Invalid request – Sund</title>"), std::string::npos);
  EXPECT_NE(html.find("<h1>Invalid request</h1>\n<p>Unknown redirect_uri &amp; state.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_EQ(html.find("<form"), std::string::npos);
  EXPECT_EQ(html.find("hreflang"), std::string::npos);
}

}  // namespace
}  // namespace sund::auth::pages
