// The server-rendered HTML screens of Sund's SMART on FHIR authorization server (issue #3):
// login, consent, patient picker, the "my apps" page where a citizen revokes access, and an
// error page. The auth HTTP handlers fill a page struct and send the returned document as
// text/html; charset=utf-8.
//
// Every page is a complete HTML5 document in Danish or English without any JavaScript, images,
// web fonts or other external resources; its only CSS is the constant style sheet Stylesheet()
// in one <style> element, so a Content-Security-Policy can allow exactly that style by hash
// ("style-src 'sha256-...'") and forbid all scripts. The markup follows the WCAG 2.1 AA basics:
// <html lang>, one <h1> inside <main>, a <label> for every visible input, checkbox and radio
// groups in a <fieldset> with a <legend>, real <button>s, errors with role="alert" linked to
// their inputs by aria-describedby, a visible focus outline and colours with at least 4.5:1
// contrast for text and 3:1 for borders.
//
// Every string the caller passes (names, descriptions, URLs, hidden field names and values) is
// escaped with HtmlEscape() (core/html.h), so data from app registrations, users or FHIR resources
// cannot inject markup. URLs (form actions, the language switch link) must be relative ("/...",
// "?...") or http(s); any other URL (e.g. "javascript:...") is replaced by "#". Strings marked
// "already localised" are shown as given; all other text comes from this file in the page's
// language.
//
// Thread-safety: pure functions of their arguments; safe to call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::auth::pages {

enum class Lang { kDa, kEn };

// Picks the page language. `explicit_param` is a `ui_locales` (OpenID Connect: space-separated
// BCP 47 tags in order of preference) or `lang` query parameter; its first tag whose primary
// subtag is "da" or "en" (case-insensitive: "da", "en-GB", "da-DK") wins. Otherwise the
// Accept-Language header (RFC 9110, 12.5.4) decides: the "da" or "en" entry with the highest
// quality value (q=0 means "not acceptable"; on a tie the earlier entry wins). Otherwise Danish.
Lang PickLang(std::string_view explicit_param, std::string_view accept_language);

// "da" or "en".
std::string_view LangCode(Lang lang);

// The CSS every page embeds in its <style> element (constant; for a CSP hash).
std::string_view Stylesheet();

// Hidden form fields (name, value), rendered as <input type="hidden"> with both escaped.
using Fields = std::vector<std::pair<std::string, std::string>>;

// The sign-in form: text input "username" and password input "password", POSTed to `action`.
struct LoginPage {
  Lang lang = Lang::kDa;
  std::string action;    // form POST target, e.g. "/oauth2/login"
  Fields hidden;         // carried through (includes the CSRF token field the caller chooses)
  std::string app_name;  // "" when the login is not for an app (e.g. the my-apps page)
  std::string username;  // pre-filled after a failed attempt
  bool failed = false;   // show "wrong username or password" (never says which)
  std::string lang_switch_url;  // link to the same page in the other language ("" = none)
};
std::string RenderLogin(const LoginPage& page);

// One line of the consent form.
struct ConsentItem {
  std::string value;        // the scope string, submitted as a checkbox named "scope" with it
  std::string description;  // plain-language line (already in the page language); for a
                            // wildcard scope it should say "alle typer" / "all types"
  bool checked = true;
  bool required = false;  // e.g. openid: shown checked and disabled, submitted by a hidden field
};

// The consent form: checkboxes named "scope" and two submit buttons named "decision" with the
// values "approve" and "deny", POSTed to `action`.
struct ConsentPage {
  Lang lang = Lang::kDa;
  std::string action;  // POST target
  Fields hidden;
  std::string app_name;
  std::string app_uri;       // the app's home page (client_uri), shown as text, "" if unknown
  std::string publisher;     // "" if unknown
  std::string user_display;  // who is signed in, e.g. "Signe Testesen (borger)"
  std::string
      patient_display;  // whose data, when not the user's own (practitioner launch), else ""
  std::vector<ConsentItem> items;
  std::string duration;   // e.g. "90 dage, indtil du tilbagekalder adgangen" (already localised)
  bool offline = false;   // the app asks to stay connected (offline_access)
  bool wildcard = false;  // some scope uses "*": say that "all types" covers types added later
  std::string lang_switch_url;
};
std::string RenderConsent(const ConsentPage& page);

struct PatientChoice {
  std::string id, name, birth_date, gender;  // gender: a FHIR code ("female"...), translated
};

// The patient picker: a GET search form (text input "q") and a POST form with radio buttons
// named "patient" whose values are the patient ids; both go to `action`.
struct PatientPickerPage {
  Lang lang = Lang::kDa;
  std::string action;  // POST target for the choice and GET target of the search form
  Fields hidden;       // carried by the POST form only (e.g. the CSRF field)
  // Added field: carried by the GET search form. They end up in the URL, and so in logs and
  // browser history: put the launch/transaction id here, never the CSRF token.
  Fields search_hidden;
  std::string app_name;
  std::string query;  // the current search text (input named "q")
  std::vector<PatientChoice> patients;
  std::string lang_switch_url;
};
std::string RenderPatientPicker(const PatientPickerPage& page);

struct AppGrant {
  std::string client_id, app_name;
  std::vector<std::string> what;  // plain-language lines (already localised)
  std::string granted, expires;   // already formatted dates (expires "" = does not expire)
};

// "Apps with access to your data": one section per app, each with its own POST form to
// `revoke_action` carrying a hidden "client_id" and a button "Revoke access for <app>".
struct AppsPage {
  Lang lang = Lang::kDa;
  std::string user_display;
  std::vector<AppGrant> apps;
  std::string revoke_action;  // POST target of each app's revoke form
  Fields hidden;              // e.g. the CSRF field, added to every form
  std::string message;        // e.g. "Adgangen for X er tilbagekaldt" (role="status"); "" = none
  std::string logout_action;  // POST target of a "sign out" button; "" = no button
  std::string log_url;        // the person's own audit log page ("min log"); "" = no link
  std::string lang_switch_url;
};
std::string RenderApps(const AppsPage& page);

// A page with `title` as its heading and `message` as its text (both already localised).
std::string RenderError(Lang lang, std::string_view title, std::string_view message);

}  // namespace sund::auth::pages
