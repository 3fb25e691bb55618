// HTML escaping for Sund's server-rendered pages (the authorization server's screens, the
// citizen's audit log): every text that did not come from the code goes through HtmlEscape.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace sund {

// Escapes text for HTML element content and double- or single-quoted attribute values:
// & < > " ' become &amp; &lt; &gt; &quot; &#39;. Everything else, UTF-8 included, is unchanged.
std::string HtmlEscape(std::string_view text);

}  // namespace sund
