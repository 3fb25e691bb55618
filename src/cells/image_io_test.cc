#include "cells/image_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

class ImageIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sund-cells-io-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Verifies: REQ-CELLS-001
TEST_F(ImageIoTest, Reads16BitTiffScaledLikeCellProfiler) {
  cv::Mat m(3, 4, CV_16U, cv::Scalar(0));
  m.at<std::uint16_t>(1, 2) = 65535;
  m.at<std::uint16_t>(2, 3) = 13107;  // 0.2
  ASSERT_TRUE(cv::imwrite(Path("a.tif"), m));
  auto img = ReadGrayscale(Path("a.tif"));
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->width, 4);
  EXPECT_EQ(img->height, 3);
  EXPECT_FLOAT_EQ(img->at(2, 1), 1.0f);
  EXPECT_NEAR(img->at(3, 2), 0.2f, 1e-6);
  EXPECT_FLOAT_EQ(img->at(0, 0), 0.0f);
}

// Verifies: REQ-CELLS-001, REQ-CELLS-002
TEST_F(ImageIoTest, ReadsEveryPageOfAMultiPageTiff) {
  std::vector<cv::Mat> pages = {cv::Mat(2, 2, CV_8U, cv::Scalar(51)),
                                cv::Mat(2, 2, CV_8U, cv::Scalar(255))};
  ASSERT_TRUE(cv::imwritemulti(Path("multi.tif"), pages));
  auto planes = ReadImagePlanes(Path("multi.tif"));
  ASSERT_TRUE(planes.ok()) << planes.status().ToString();
  ASSERT_EQ(planes->size(), 2u);
  EXPECT_NEAR((*planes)[0].at(0, 0), 0.2f, 1e-6);
  EXPECT_FLOAT_EQ((*planes)[1].at(1, 1), 1.0f);
  // One plane wanted, two different ones there: a clear error, unless a plane is named.
  auto gray = ReadGrayscale(Path("multi.tif"));
  ASSERT_FALSE(gray.ok());
  EXPECT_NE(gray.status().message().find("2 different planes"), std::string::npos);
  auto second = ReadGrayscale(Path("multi.tif"), 1);
  ASSERT_TRUE(second.ok());
  EXPECT_FLOAT_EQ(second->at(0, 0), 1.0f);
}

// Verifies: REQ-CELLS-001, REQ-CELLS-002
TEST_F(ImageIoTest, RgbPlanesComeRedFirstAndEqualPlanesAreGrayscale) {
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(0, 0, 255));  // pure red
  ASSERT_TRUE(cv::imwrite(Path("red.png"), bgr));
  auto planes = ReadImagePlanes(Path("red.png"));
  ASSERT_TRUE(planes.ok());
  ASSERT_EQ(planes->size(), 3u);
  EXPECT_FLOAT_EQ((*planes)[0].at(0, 0), 1.0f);
  EXPECT_FLOAT_EQ((*planes)[2].at(0, 0), 0.0f);
  EXPECT_FALSE(ReadGrayscale(Path("red.png")).ok());
  cv::Mat gray3(2, 2, CV_8UC3, cv::Scalar(102, 102, 102));
  ASSERT_TRUE(cv::imwrite(Path("gray3.png"), gray3));
  auto g = ReadGrayscale(Path("gray3.png"));
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR(g->at(1, 1), 0.4f, 1e-6);
}

// Verifies: REQ-CELLS-003
TEST_F(ImageIoTest, EmptyTruncatedAndMissingFilesGiveClearErrors) {
  { std::ofstream(Path("empty.tif")); }
  auto empty = ReadGrayscale(Path("empty.tif"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty file"), std::string::npos);

  cv::Mat m(64, 64, CV_16U, cv::Scalar(1000));
  ASSERT_TRUE(cv::imwrite(Path("whole.tif"), m));
  std::ifstream in(Path("whole.tif"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(Path("cut.tif"), std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  auto cut = ReadGrayscale(Path("cut.tif"));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);

  std::ofstream(Path("text.png")) << "not an image at all";
  EXPECT_FALSE(ReadGrayscale(Path("text.png")).ok());
  EXPECT_EQ(ReadGrayscale(Path("none.tif")).status().code(), StatusCode::kNotFound);
}

// Only TIFF and PNG reach OpenCV's decoders: a crafted file that OpenCV handed to GDCM (DICOM)
// aborted the process (fuzz_cells_image, issue #11); a JPEG is refused alike.
// Verifies: REQ-CELLS-003
TEST_F(ImageIoTest, Issue11OnlyTiffAndPngReachTheDecoders) {
  cv::Mat m(8, 8, CV_8U, cv::Scalar(7));
  ASSERT_TRUE(cv::imwrite(Path("photo.jpg"), m));
  fs::copy_file(Path("photo.jpg"), Path("photo.tif"));
  for (const char* name : {"photo.jpg", "photo.tif"}) {
    auto r = ReadGrayscale(Path(name));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find("not a TIFF or PNG file"), std::string::npos);
    EXPECT_FALSE(ReadLabels(Path(name)).ok()) << name;
  }
  std::ofstream(Path("dicm.tif"), std::ios::binary) << std::string(128, '\0') << "DICM";
  EXPECT_FALSE(ReadImagePlanes(Path("dicm.tif")).ok());
  // The control: PNG and TIFF still read.
  ASSERT_TRUE(cv::imwrite(Path("ok.png"), m));
  ASSERT_TRUE(cv::imwrite(Path("ok.tif"), m));
  EXPECT_TRUE(ReadGrayscale(Path("ok.png")).ok());
  EXPECT_TRUE(ReadGrayscale(Path("ok.tif")).ok());
}

// Float TIFFs are read as they are; a value outside [0, 1] (or NaN) is refused, since every
// threshold, declumping and texture step assumes CellProfiler's [0, 1] scale.
// Verifies: REQ-CELLS-099
TEST_F(ImageIoTest, FloatImagesOutsideZeroToOneAreRefused) {
  cv::Mat in_range(2, 3, CV_32F, cv::Scalar(0.25));
  in_range.at<float>(0, 0) = 0.0f;
  in_range.at<float>(1, 2) = 1.0f;
  ASSERT_TRUE(cv::imwrite(Path("ok.tif"), in_range));
  auto ok = ReadGrayscale(Path("ok.tif"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FLOAT_EQ(ok->at(1, 0), 0.25f);
  EXPECT_FLOAT_EQ(ok->at(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(ok->at(2, 1), 1.0f);
  for (float bad : {1.5f, -0.1f, std::numeric_limits<float>::quiet_NaN()}) {
    cv::Mat m = in_range.clone();
    m.at<float>(1, 1) = bad;
    ASSERT_TRUE(cv::imwrite(Path("bad.tif"), m));
    auto r = ReadGrayscale(Path("bad.tif"));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("must lie in [0, 1]"), std::string::npos)
        << r.status().message();
  }
}

// Verifies: REQ-CELLS-004
TEST_F(ImageIoTest, LabelsRoundTripRenumbered) {
  Labels l(5, 3);
  l.at(0, 0) = 7;
  l.at(4, 2) = 300;
  l.at(1, 0) = 7;
  l.count = 300;
  ASSERT_TRUE(WriteLabelsPng(Path("l.png"), l).ok());
  auto back = ReadLabels(Path("l.png"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->count, 2);
  EXPECT_EQ(back->at(0, 0), 1);
  EXPECT_EQ(back->at(1, 0), 1);
  EXPECT_EQ(back->at(4, 2), 2);
  EXPECT_EQ(back->at(2, 1), 0);
}

// Verifies: REQ-CELLS-005
TEST_F(ImageIoTest, OverlayIsAnRgbPngOfTheImageSize) {
  Image img(6, 4, 0.5f);
  Labels l(6, 4);
  for (int y = 1; y < 3; ++y) {
    for (int x = 1; x < 4; ++x) l.at(x, y) = 1;
  }
  l.count = 1;
  ASSERT_TRUE(WriteOverlayPng(Path("o.png"), img, {&l}, {0xFF0000u}).ok());
  cv::Mat back = cv::imread(Path("o.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(back.channels(), 3);
  EXPECT_EQ(back.cols, 6);
  EXPECT_EQ(back.at<cv::Vec3b>(1, 1), cv::Vec3b(0, 0, 255));            // outline, red (BGR)
  EXPECT_EQ(back.at<cv::Vec3b>(0, 0)[0], back.at<cv::Vec3b>(0, 0)[2]);  // gray background
}

}  // namespace
}  // namespace sund::cells
