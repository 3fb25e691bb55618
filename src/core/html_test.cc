#include "core/html.h"

#include <gtest/gtest.h>

namespace sund {
namespace {

// Verifies: REQ-CORE-012
TEST(HtmlTest, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x">'&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("Ærø 1°"), "Ærø 1°");  // UTF-8 unchanged
}

// Verifies: REQ-CORE-013
TEST(HtmlTest, APageHasItsTitleEscapedTwiceAndItsStyle) {
  HtmlWriter h;
  h.BeginPage("Run <1>", "p{margin:0}");
  h.Element("p", "a & b");
  h.EndPage();
  const std::string& page = h.str();
  EXPECT_EQ(page.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
  EXPECT_NE(page.find("<title>Run &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("<h1>Run &lt;1&gt;</h1>"), std::string::npos);
  EXPECT_NE(page.find("<style>p{margin:0}</style>"), std::string::npos);
  EXPECT_NE(page.find("<p>a &amp; b</p>"), std::string::npos);
  EXPECT_EQ(page.find("Run <1>"), std::string::npos);
  EXPECT_EQ(page.substr(page.size() - 22), "</main></body></html>\n");
}

}  // namespace
}  // namespace sund
