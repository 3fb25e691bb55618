#include "core/file_reader.h"

#include <bzlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

namespace sund {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Status IoError(const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) return NotFound("file not found: " + path);
  return Internal("cannot read " + path + ": " + std::strerror(err));
}

Result<std::string> ReadRaw(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path, errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError(path, errno);
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path + " is a directory, not a file");
  std::string data;
  if (S_ISREG(st.st_mode) && st.st_size > 0) data.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path, errno);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

// Output buffer growth shared by both decompressors: makes room for at least `min_free` bytes.
void Grow(std::string& out, std::size_t used, std::size_t min_free) {
  if (out.size() - used >= min_free) return;
  out.resize(std::max(out.size() * 2, used + min_free));
}

constexpr std::size_t kChunk = 1u << 30;  // the libraries count bytes in unsigned int

Result<std::string> DecompressBzip2(const std::string& path, const std::string& in) {
  std::string out;
  out.resize(std::max<std::size_t>(in.size() * 6, 1 << 16));
  std::size_t in_pos = 0;
  std::size_t used = 0;
  bool any_stream = false;
  // One iteration per bzip2 stream (pbzip2 and friends concatenate many).
  while (in_pos < in.size()) {
    if (any_stream && in.compare(in_pos, 3, "BZh") != 0) {
      return InvalidArgument(path + ": corrupt bzip2 data (trailing garbage)");
    }
    bz_stream s;
    std::memset(&s, 0, sizeof(s));
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
      return Internal(path + ": cannot start bzip2 decompression");
    }
    int rc = BZ_OK;
    while (true) {
      if (s.avail_in == 0 && in_pos < in.size()) {
        std::size_t n = std::min(kChunk, in.size() - in_pos);
        s.next_in = const_cast<char*>(in.data() + in_pos);
        s.avail_in = static_cast<unsigned int>(n);
        in_pos += n;
      }
      Grow(out, used, 1 << 16);
      std::size_t room = std::min(kChunk, out.size() - used);
      s.next_out = out.data() + used;
      s.avail_out = static_cast<unsigned int>(room);
      rc = BZ2_bzDecompress(&s);
      used += room - s.avail_out;
      if (rc == BZ_STREAM_END) break;
      if (rc != BZ_OK) break;
      if (s.avail_in == 0 && in_pos >= in.size() && s.avail_out != 0) {
        rc = BZ_UNEXPECTED_EOF;  // input exhausted before the end of the stream
        break;
      }
    }
    in_pos -= s.avail_in;  // unread bytes belong to the next stream
    BZ2_bzDecompressEnd(&s);
    if (rc == BZ_MEM_ERROR) return Internal(path + ": out of memory decompressing bzip2");
    if (rc == BZ_UNEXPECTED_EOF) return InvalidArgument(path + ": truncated bzip2 data");
    if (rc != BZ_STREAM_END) return InvalidArgument(path + ": corrupt bzip2 data");
    any_stream = true;
  }
  if (!any_stream) return InvalidArgument(path + ": empty file is not bzip2 data");
  out.resize(used);
  return out;
}

Result<std::string> DecompressGzip(const std::string& path, const std::string& in) {
  std::string out;
  out.resize(std::max<std::size_t>(in.size() * 6, 1 << 16));
  z_stream z;
  std::memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, 15 + 32) != Z_OK) {  // 15: max window; +32: gzip or zlib header
    return Internal(path + ": cannot start gzip decompression");
  }
  std::size_t in_pos = 0;
  std::size_t used = 0;
  int rc = Z_OK;
  bool ended = false;  // the last member ended cleanly
  while (true) {
    if (z.avail_in == 0 && in_pos < in.size()) {
      std::size_t n = std::min(kChunk, in.size() - in_pos);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
      z.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    Grow(out, used, 1 << 16);
    std::size_t room = std::min(kChunk, out.size() - used);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(room);
    rc = inflate(&z, Z_NO_FLUSH);
    used += room - z.avail_out;
    if (rc == Z_STREAM_END) {
      ended = true;
      if (z.avail_in == 0 && in_pos >= in.size()) break;
      inflateReset(&z);  // another gzip member follows
      ended = false;
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && in_pos >= in.size()) break;  // truncated
    break;
  }
  inflateEnd(&z);
  if (rc == Z_MEM_ERROR) return Internal(path + ": out of memory decompressing gzip");
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
    return InvalidArgument(path + ": corrupt gzip data");
  }
  if (!ended) return InvalidArgument(path + ": truncated gzip data");
  out.resize(used);
  return out;
}

}  // namespace

Result<std::string> ReadFileDecompressed(const std::string& path) {
  SUND_ASSIGN_OR_RETURN(std::string raw, ReadRaw(path));
  if (EndsWith(path, ".bz2")) return DecompressBzip2(path, raw);
  if (EndsWith(path, ".gz")) return DecompressGzip(path, raw);
  return raw;
}

}  // namespace sund
