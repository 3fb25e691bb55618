#include "cells/manifest.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

// Verifies: REQ-CELLS-006, REQ-CELLS-010
TEST(ManifestTest, ReadsCellProfilerLoadDataLayout) {
  fs::path dir = fs::temp_directory_path() / "sund-cells-manifest-test";
  fs::create_directories(dir / "imgs");
  std::ofstream(dir / "m.csv") << "Metadata_Plate,Metadata_Well,Metadata_Site,Image_FileName_DNA,"
                                  "Image_PathName_DNA,FileName_PH3,Frame_PH3\n"
                                  "P1,A01,1,a.tif,imgs,b.tif,2\n"
                                  "P1,A02,1,c.tif,/data/x,d.tif,\n";
  auto sets = ReadManifest((dir / "m.csv").string());
  fs::remove_all(dir);
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  ASSERT_EQ(sets->size(), 2u);
  const ImageSet& a = (*sets)[0];
  EXPECT_EQ(a.Name(), "P1/A01/1");
  EXPECT_EQ(a.channels.at("DNA").path, (dir / "imgs" / "a.tif").string());
  EXPECT_EQ(a.channels.at("PH3").path, (dir / "b.tif").string());
  EXPECT_EQ(a.channels.at("PH3").plane, 2);
  EXPECT_EQ((*sets)[1].channels.at("DNA").path, "/data/x/c.tif");
  EXPECT_EQ((*sets)[1].channels.at("PH3").plane, -1);
  EXPECT_TRUE(RequireChannels(*sets, {"DNA", "PH3"}).ok());
  Status missing = RequireChannels(*sets, {"cellbody"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("P1/A01/1"), std::string::npos);
}

// Verifies: REQ-CELLS-007
TEST(ManifestTest, RefusesAManifestWithoutFileColumnsOrWithABadFrame) {
  fs::path dir = fs::temp_directory_path() / "sund-cells-manifest-bad";
  fs::create_directories(dir);
  std::ofstream(dir / "none.csv") << "id,width\nx,3\n";
  std::ofstream(dir / "frame.csv") << "FileName_DNA,Frame_DNA\na.tif,two\n";
  auto none = ReadManifest((dir / "none.csv").string());
  auto frame = ReadManifest((dir / "frame.csv").string());
  fs::remove_all(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("FileName_"), std::string::npos);
  ASSERT_FALSE(frame.ok());
  EXPECT_NE(frame.status().message().find("line 2"), std::string::npos);
}

// Verifies: REQ-CELLS-008
TEST(ManifestTest, GroupsAFolderByANamedGroupPattern) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/data)";
  std::string folder = std::string(data) + "/cellprofiler-examplehuman";
  auto map = ParseChannelMap("0=DNA,1=PH3,2=cellbody");
  ASSERT_TRUE(map.ok());
  auto sets = ScanFolder(
      folder, "^(?P<Plate>.*)_(?P<Well>[A-P][0-9]{2})f(?P<Site>[0-9]{2})d(?P<Channel>[0-9])", *map);
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  ASSERT_EQ(sets->size(), 1u);
  const ImageSet& s = (*sets)[0];
  EXPECT_EQ(s.Get("Plate"), "AS_09125_050116030001");
  EXPECT_EQ(s.Get("Well"), "D03");
  EXPECT_EQ(s.Get("Site"), "00");
  ASSERT_EQ(s.channels.size(), 3u);
  EXPECT_NE(s.channels.at("PH3").path.find("D03f00d1.tif"), std::string::npos);
  // A channel value the map does not name is an error, not a silent drop.
  auto partial =
      ScanFolder(folder, "_(?P<Well>[A-P][0-9]{2})f00d(?P<Channel>[0-9])", {{"0", "DNA"}});
  EXPECT_FALSE(partial.ok());
  EXPECT_FALSE(ScanFolder(folder, "(?P<Well>[A-P]", {}).ok());
  EXPECT_FALSE(ScanFolder(folder, "(?P<Well>[A-P])", {}).ok());  // no Channel group
}

// Verifies: REQ-CELLS-009
TEST(ManifestTest, ParsesChannelMaps) {
  auto m = ParseChannelMap("d0=DNA,d1=PH3");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->at("d1"), "PH3");
  EXPECT_FALSE(ParseChannelMap("d0").ok());
  EXPECT_FALSE(ParseChannelMap("=DNA").ok());
}

}  // namespace
}  // namespace sund::cells
