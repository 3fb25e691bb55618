#include "core/csv.h"

namespace sund {

std::optional<std::size_t> CsvTable::Column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::nullopt;
}

Result<CsvTable> ParseCsv(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  CsvTable table;
  std::vector<std::string> record;
  std::string field;
  std::size_t line = 1;
  std::size_t record_line = 1;
  bool any = false;  // the record has content (a blank line is no record)
  auto end_record = [&]() -> Status {
    if (!any) return Status::Ok();
    record.push_back(std::move(field));
    field.clear();
    if (table.header.empty()) {
      table.header = std::move(record);
    } else if (record.size() != table.header.size()) {
      return InvalidArgument("CSV line " + std::to_string(record_line) + ": " +
                             std::to_string(record.size()) + " fields where the header has " +
                             std::to_string(table.header.size()));
    } else {
      table.rows.push_back(std::move(record));
      table.lines.push_back(record_line);
    }
    record.clear();
    any = false;
    return Status::Ok();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (!any) record_line = line;
    if (c == '"' && field.empty()) {
      any = true;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (!closed) {
        return InvalidArgument("CSV line " + std::to_string(record_line) +
                               ": a quoted field is not closed");
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        return InvalidArgument("CSV line " + std::to_string(line) + ": text after a closing quote");
      }
      continue;
    }
    if (c == ',') {
      any = true;
      record.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      SUND_RETURN_IF_ERROR(end_record());
      ++line;
    } else {
      any = true;
      field += c;
      ++i;
    }
  }
  SUND_RETURN_IF_ERROR(end_record());
  if (table.header.empty()) return InvalidArgument("CSV: no header line");
  return table;
}

void AppendCsvField(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string CsvRecord(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    AppendCsvField(out, fields[i]);
  }
  return out;
}

}  // namespace sund
