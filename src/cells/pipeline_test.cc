#include "cells/pipeline.h"

#include <gtest/gtest.h>

#include "core/file_reader.h"

namespace sund::cells {
namespace {

// Verifies: REQ-CELLS-041
TEST(PipelineTest, WrittenPipelinesReadBackTheSame) {
  auto text =
      ReadFileDecompressed(std::string(SUND_SOURCE_DIR) + "/examples/cells/examplehuman.json");
  ASSERT_TRUE(text.ok());
  auto p = ParsePipeline(*text);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->steps.size(), 7u);
  EXPECT_EQ(p->steps[1].primary_options.threshold.otsu_classes, OtsuClasses::kThree);
  EXPECT_DOUBLE_EQ(p->steps[3].secondary_options.threshold.correction_factor, 0.8);
  EXPECT_FALSE(p->steps[0].primary_options.advanced);
  EXPECT_EQ(p->Channels(), (std::vector<std::string>{"DNA", "PH3", "cellbody"}));
  EXPECT_EQ(p->Objects(), (std::vector<std::string>{"Nuclei", "PH3", "Cells", "Cytoplasm"}));
  std::string written = PipelineJson(*p);
  auto again = ParsePipeline(written);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(PipelineJson(*again), written);
  auto texture = ParsePipeline(R"({"sund_cells_pipeline": 1, "steps": [
      {"module": "IdentifyPrimaryObjects", "name": "Nuclei", "image": "DNA"},
      {"module": "MeasureTexture", "images": ["DNA"], "objects": ["Nuclei"], "scales": [3, 5],
       "gray_levels": 64}]})");
  ASSERT_TRUE(texture.ok()) << texture.status().ToString();
  EXPECT_EQ(texture->steps[1].kind, StepKind::kMeasureTexture);
  EXPECT_EQ(texture->steps[1].scales, (std::vector<int>{3, 5}));
  EXPECT_EQ(texture->steps[1].gray_levels, 64);
  EXPECT_EQ(PipelineJson(*ParsePipeline(PipelineJson(*texture))), PipelineJson(*texture));
  auto def = ParsePipeline(PipelineJson(DefaultPipeline("Hoechst")));
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def->Channels(), std::vector<std::string>{"Hoechst"});
}

// Verifies: REQ-CELLS-019, REQ-CELLS-042
TEST(PipelineTest, MistakesAreNamedNotIgnored) {
  auto err = [](const std::string& steps) {
    auto p = ParsePipeline("{\"sund_cells_pipeline\": 1, \"steps\": [" + steps + "]}");
    return p.ok() ? std::string() : p.status().message();
  };
  std::string nuclei = R"({"module": "IdentifyPrimaryObjects", "name": "Nuclei", "image": "DNA"})";
  EXPECT_EQ(err(nuclei), "");
  EXPECT_NE(
      err(R"({"module": "IdentifyPrimaryObjects", "name": "N", "image": "DNA", "diamter": [8, 80]})")
          .find("unknown parameter 'diamter'"),
      std::string::npos);
  EXPECT_NE(err(R"({"module": "FindNuclei"})").find("unknown module"), std::string::npos);
  EXPECT_NE(
      err(R"({"module": "IdentifyPrimaryObjects", "name": "N", "image": "DNA", "diameter": [80, 8]})")
          .find("diameter"),
      std::string::npos);
  EXPECT_NE(
      err(R"({"module": "IdentifyPrimaryObjects", "name": "N", "image": "DNA", "threshold": {"method": "magic"}})")
          .find("method must be one of"),
      std::string::npos);
  EXPECT_NE(err(R"({"module": "MeasureObjectSizeShape", "objects": ["Cells"]})")
                .find("'Cells' are not made by an earlier step"),
            std::string::npos);
  EXPECT_NE(err(nuclei + "," + nuclei).find("made twice"), std::string::npos);
  EXPECT_NE(err(R"({"module": "IdentifyPrimaryObjects", "image": "DNA"})").find("name is required"),
            std::string::npos);
  EXPECT_FALSE(ParsePipeline("{\"steps\": []}").ok());
  EXPECT_FALSE(ParsePipeline("not json").ok());
}

}  // namespace
}  // namespace sund::cells
