// CSV as RFC 4180 writes it: comma-separated fields, double quotes around a field that holds a
// comma, quote or line break, a quote inside written twice; CRLF or LF line ends. Shared by the
// cells manifests and plate maps, and later by synth and fl.
//
// Errors (InvalidArgument) give the line number and the reason, never the field's content.
// Thread-safety: free functions and a writer with no shared state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as the header
  std::vector<std::size_t> lines;  // the line each row starts on (1 is the header's), for errors

  // The column's index, by exact name, or nullopt.
  std::optional<std::size_t> Column(std::string_view name) const;
};

// Parses text whose first record is the header. A record with more or fewer fields than the
// header is an error; blank lines are skipped; a UTF-8 byte-order mark is dropped.
Result<CsvTable> ParseCsv(std::string_view text);

// One record, quoted where needed, without the line end.
std::string CsvRecord(const std::vector<std::string>& fields);
void AppendCsvField(std::string& out, std::string_view field);

}  // namespace sund
