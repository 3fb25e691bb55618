#include "core/file_reader.h"

#include <bzlib.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/progress.h"

namespace sund {
namespace {

namespace fs = std::filesystem;

class FileReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sund-file-reader-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string WriteFile(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good());
    return path;
  }

  fs::path dir_;
};

// Sample content: long enough to span several decompressor output buffers.
std::string Sample(std::size_t lines) {
  std::string s;
  for (std::size_t i = 0; i < lines; ++i) {
    s += R"({"resourceType":"Observation","id":")" + std::to_string(i * 7919) + "\"}\n";
  }
  return s;
}

std::string Bzip2(const std::string& data) {
  std::vector<char> out(data.size() + data.size() / 100 + 600);
  unsigned int out_len = static_cast<unsigned int>(out.size());
  int rc = BZ2_bzBuffToBuffCompress(out.data(), &out_len, const_cast<char*>(data.data()),
                                    static_cast<unsigned int>(data.size()), 9, 0, 0);
  EXPECT_EQ(rc, BZ_OK);
  return std::string(out.data(), out_len);
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);  // gzip
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Verifies: REQ-CORE-018
TEST_F(FileReaderTest, ReadsRawFiles) {
  const std::string data = Sample(10);
  auto r = ReadFileDecompressed(WriteFile("bundle.json", data));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
  auto empty = ReadFileDecompressed(WriteFile("empty.ndjson", ""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

// Verifies: REQ-CORE-019
TEST_F(FileReaderTest, RoundTripsBzip2) {
  const std::string data = Sample(20000);  // about 1 MB
  auto r = ReadFileDecompressed(WriteFile("bundle.json.bz2", Bzip2(data)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
}

// Verifies: REQ-CORE-019
TEST_F(FileReaderTest, RoundTripsGzip) {
  const std::string data = Sample(20000);
  auto r = ReadFileDecompressed(WriteFile("bundle.ndjson.gz", Gzip(data)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
}

// Verifies: REQ-CORE-019
TEST_F(FileReaderTest, ReadsConcatenatedStreams) {
  // pbzip2 writes many bzip2 streams; `cat a.gz b.gz` makes a multi-member gzip file.
  const std::string a = Sample(100), b = "second part\n";
  auto bz = ReadFileDecompressed(WriteFile("multi.bz2", Bzip2(a) + Bzip2(b)));
  ASSERT_TRUE(bz.ok()) << bz.status().ToString();
  EXPECT_EQ(*bz, a + b);
  auto gz = ReadFileDecompressed(WriteFile("multi.gz", Gzip(a) + Gzip(b)));
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  EXPECT_EQ(*gz, a + b);
}

// Verifies: REQ-CORE-020
TEST_F(FileReaderTest, CorruptDataIsInvalidArgumentNamingTheFile) {
  const std::string secret = "{\"name\":\"Jensen\"}";
  std::string bz = Bzip2(Sample(1000) + secret);
  std::string gz = Gzip(Sample(1000) + secret);
  const std::string corrupt_bz = bz.substr(0, 40) + std::string(200, 'x') + bz.substr(240);
  const std::string corrupt_gz = gz.substr(0, 20) + std::string(200, 'x') + gz.substr(220);
  struct Case {
    std::string name, bytes;
  } cases[] = {
      {"corrupt.json.bz2", corrupt_bz},
      {"corrupt.json.gz", corrupt_gz},
      {"truncated.json.bz2", bz.substr(0, bz.size() / 2)},
      {"truncated.json.gz", gz.substr(0, gz.size() / 2)},
      {"plain.json.bz2", secret},  // not compressed at all
      {"plain.json.gz", secret},
      {"empty.json.bz2", ""},
      {"empty.json.gz", ""},
      {"trailing.json.bz2", bz + "junk"},
  };
  for (const Case& c : cases) {
    auto r = ReadFileDecompressed(WriteFile(c.name, c.bytes));
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.name), std::string::npos) << r.status().ToString();
    EXPECT_EQ(r.status().message().find("Jensen"), std::string::npos) << r.status().ToString();
  }
}

// Verifies: REQ-CORE-021
TEST_F(FileReaderTest, MissingFileIsNotFound) {
  const std::string path = (dir_ / "nope.json.bz2").string();
  auto r = ReadFileDecompressed(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  auto in_missing_dir = ReadFileDecompressed((dir_ / "no-dir" / "x.json").string());
  EXPECT_EQ(in_missing_dir.status().code(), StatusCode::kNotFound);
}

// Verifies: REQ-CORE-021
TEST_F(FileReaderTest, DirectoryIsInvalidArgument) {
  auto r = ReadFileDecompressed(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CORE-019
TEST(FileReaderDataTest, ReadsSyntheaBundle) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set";
  const fs::path dir = fs::path(data) / "synthea";
  std::error_code ec;
  std::string found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("0-hospitalInformation", 0) == 0 && name.size() > 9 &&
        name.substr(name.size() - 9) == ".json.bz2") {
      found = entry.path().string();
      break;
    }
  }
  if (found.empty()) GTEST_SKIP() << "no 0-hospitalInformation*.json.bz2 in " << dir;
  auto r = ReadFileDecompressed(found);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->empty());
  EXPECT_EQ(r->front(), '{');
  EXPECT_NE(r->find("\"resourceType\""), std::string::npos);
}

// ProgressBar (core/progress.h), the other half of the importer's file handling.
class ProgressBarTest : public ::testing::Test {
 protected:
  ProgressBar::Options Options(bool terminal) {
    ProgressBar::Options o;
    o.write = [this](std::string_view s) { out_.append(s); };
    o.terminal = terminal;
    o.now = [this] { return ProgressBar::Clock::time_point(now_); };
    return o;
  }
  void Advance(std::chrono::milliseconds ms) { now_ += ms; }

  std::string out_;
  std::chrono::nanoseconds now_{1'000'000'000};
};

// Verifies: REQ-CORE-022
TEST_F(ProgressBarTest, DrawsBarPercentRateAndEta) {
  ProgressBar bar("import", 1000, "resources", Options(true));
  Advance(std::chrono::seconds(2));
  bar.Add(450, 41230);
  EXPECT_EQ(bar.Line(), "import  [#########...........]   45%  41,230 resources  20,615/s  ETA 2s");
  EXPECT_NE(out_.find("\r" + bar.Line() + "\x1b[K"), std::string::npos);
}

// Verifies: REQ-CORE-023
TEST_F(ProgressBarTest, RedrawsAtMostTenTimesASecond) {
  ProgressBar bar("import", 0, "resources", Options(true));
  for (int i = 0; i < 1000; ++i) {
    bar.Add(1, 1);
    Advance(std::chrono::milliseconds(1));  // one second in all
  }
  const auto draws = std::count(out_.begin(), out_.end(), '\r');
  EXPECT_GE(draws, 9);
  EXPECT_LE(draws, 11);
  EXPECT_EQ(bar.items(), 1000u);
  EXPECT_EQ(out_.find("  ["), std::string::npos) << "no bar when the total is unknown";
  EXPECT_EQ(out_.find("ETA"), std::string::npos);
}

// Verifies: REQ-CORE-024
TEST_F(ProgressBarTest, SilentUntilFinishWhenNotATerminal) {
  ProgressBar bar("import", 100, "resources", Options(false));
  for (int i = 0; i < 100; ++i) {
    bar.Add(1, 12);
    Advance(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(out_, "");
  bar.Finish();
  EXPECT_EQ(out_, "import  1,200 resources in 5.0s (240/s)\n");
  bar.Finish();
  EXPECT_EQ(out_, "import  1,200 resources in 5.0s (240/s)\n");
}

// Verifies: REQ-CORE-025
TEST_F(ProgressBarTest, FinishReplacesTheBarOnATerminal) {
  ProgressBar bar("export", 10, "files", Options(true));
  Advance(std::chrono::seconds(125));
  bar.Add(10, 10);
  bar.Finish();
  EXPECT_NE(out_.find("ETA 0s"), std::string::npos);
  const std::string tail = "\rexport  10 files in 2m05s (0/s)\x1b[K\n";
  ASSERT_GE(out_.size(), tail.size());
  EXPECT_EQ(out_.substr(out_.size() - tail.size()), tail);
}

// Verifies: REQ-CORE-026
TEST_F(ProgressBarTest, ConcurrentAddsAreCounted) {
  ProgressBar bar("import", 80000, "resources", Options(true));  // drawing path included
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&bar] {
      for (int i = 0; i < 10000; ++i) bar.Add(2, 1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bar.items(), 40000u);
  EXPECT_EQ(bar.done_units(), 80000u);
}

}  // namespace
}  // namespace sund
