// Whole-file reading with transparent decompression, for `sund import` (FHIR Bundles and NDJSON
// shipped as .json, .json.bz2, .ndjson.gz ...). The compression is chosen by the file name's
// extension: ".bz2" is bzip2 (libbz2; concatenated streams, as pbzip2 writes them, are read in
// full), ".gz" is gzip (zlib; concatenated members too), anything else is read as is.
//
// Errors name the file and the reason, never the content. Thread-safety: a free function with no
// shared state; safe to call from any number of threads.
#pragma once

#include <string>

#include "core/status.h"

namespace sund {

// Reads the whole file at `path` into memory, decompressing by extension.
// Errors: NotFound when the file does not exist; InvalidArgument when it is a directory or its
// compressed data is corrupt or truncated; Internal for other I/O failures (permissions, read
// errors) and when the decompressor runs out of memory.
Result<std::string> ReadFileDecompressed(const std::string& path);

}  // namespace sund
