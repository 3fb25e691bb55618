#include "cells/manifest.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "core/csv.h"
#include "core/file_reader.h"

namespace sund::cells {

namespace fs = std::filesystem;

std::string ImageSet::Get(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : it->second;
}

std::string ImageSet::Name() const {
  std::string name;
  for (const char* key : {"Plate", "Well", "Site"}) {
    std::string v = Get(key);
    if (v.empty()) continue;
    if (!name.empty()) name += '/';
    name += v;
  }
  if (!name.empty() || channels.empty()) return name;
  return fs::path(channels.begin()->second.path).stem().string();
}

Result<std::vector<ImageSet>> ReadManifest(const std::string& csv_path) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(csv_path));
  SUND_ASSIGN_OR_RETURN(CsvTable table, ParseCsv(text));
  fs::path base = fs::path(csv_path).parent_path();
  struct Col {
    std::string channel;
    std::size_t file;
    std::optional<std::size_t> path, frame;
  };
  std::vector<Col> cols;
  std::vector<std::pair<std::string, std::size_t>> meta;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    std::string_view h = table.header[i];
    if (h.starts_with("Image_")) h.remove_prefix(6);
    if (h.starts_with("FileName_")) {
      std::string ch(h.substr(9));
      Col c{ch, i, table.Column("PathName_" + ch), table.Column("Frame_" + ch)};
      if (!c.path) c.path = table.Column("Image_PathName_" + ch);
      if (!c.frame) c.frame = table.Column("Image_Frame_" + ch);
      cols.push_back(c);
    } else if (h.starts_with("Metadata_")) {
      meta.emplace_back(std::string(h.substr(9)), i);
    }
  }
  if (cols.empty()) {
    return InvalidArgument(fs::path(csv_path).filename().string() +
                           ": no FileName_<Channel> column (CellProfiler's LoadData layout)");
  }
  std::vector<ImageSet> sets;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    ImageSet set;
    for (const auto& [name, i] : meta) set.metadata[name] = row[i];
    for (const Col& c : cols) {
      if (row[c.file].empty()) {
        return InvalidArgument("manifest line " + std::to_string(table.lines[r]) +
                               ": no file for channel " + c.channel);
      }
      fs::path dir = c.path && !row[*c.path].empty() ? fs::path(row[*c.path]) : fs::path();
      if (dir.is_relative()) dir = base / dir;
      ChannelFile f{(dir / row[c.file]).lexically_normal().string(), -1};
      if (c.frame && !row[*c.frame].empty()) {
        try {
          f.plane = std::stoi(row[*c.frame]);
        } catch (const std::exception&) {
          f.plane = -2;
        }
        if (f.plane < 0) {
          return InvalidArgument("manifest line " + std::to_string(table.lines[r]) + ": Frame_" +
                                 c.channel + " is not a plane number");
        }
      }
      set.channels[c.channel] = f;
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

namespace {

bool IsImageFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".tif" || ext == ".tiff" || ext == ".png";
}

Result<std::vector<fs::path>> ImageFiles(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return NotFound(folder + ": no such folder");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (e.is_regular_file() && IsImageFile(e.path())) files.push_back(e.path());
  }
  if (ec) return Internal(folder + ": cannot list the folder");
  std::sort(files.begin(), files.end());
  return files;
}

// Turns "(?P<Name>...)" groups into plain groups, recording each named group's number.
Result<std::regex> CompilePattern(const std::string& pattern,
                                  std::vector<std::pair<std::string, int>>& groups) {
  std::string out;
  int number = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += c;
      out += pattern[++i];
      continue;
    }
    if (c == '[') {  // a bracket expression: copy to its end, '(' there is literal
      std::size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      out.append(pattern, i, j - i + 1);
      i = j;
      continue;
    }
    if (c == '(') {
      if (pattern.compare(i, 4, "(?P<") == 0) {
        std::size_t end = pattern.find('>', i + 4);
        if (end == std::string::npos)
          return InvalidArgument("pattern: a named group is not closed");
        groups.emplace_back(pattern.substr(i + 4, end - i - 4), ++number);
        out += '(';
        i = end;
        continue;
      }
      if (i + 1 >= pattern.size() || pattern[i + 1] != '?') ++number;
    }
    out += c;
  }
  try {
    return std::regex(out, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return InvalidArgument("pattern: not a valid regular expression");
  }
}

}  // namespace

Result<std::vector<ImageSet>> ScanFolder(const std::string& folder, const std::string& pattern,
                                         const std::map<std::string, std::string>& channel_names) {
  std::vector<std::pair<std::string, int>> groups;
  SUND_ASSIGN_OR_RETURN(std::regex re, CompilePattern(pattern, groups));
  bool has_channel =
      std::any_of(groups.begin(), groups.end(), [](const auto& g) { return g.first == "Channel"; });
  if (!has_channel) return InvalidArgument("pattern: no (?P<Channel>...) group");
  SUND_ASSIGN_OR_RETURN(std::vector<fs::path> files, ImageFiles(folder));
  std::map<std::map<std::string, std::string>, ImageSet> by_key;
  for (const fs::path& f : files) {
    std::smatch m;
    std::string name = f.filename().string();
    if (!std::regex_search(name, m, re)) continue;
    std::map<std::string, std::string> meta;
    std::string channel;
    for (const auto& [g, n] : groups) {
      if (g == "Channel") {
        channel = m[n].str();
      } else {
        meta[g] = m[n].str();
      }
    }
    if (!channel_names.empty()) {
      auto it = channel_names.find(channel);
      if (it == channel_names.end()) {
        return InvalidArgument(name + ": channel '" + channel + "' is not in the channel map");
      }
      channel = it->second;
    }
    ImageSet& set = by_key[meta];
    set.metadata = meta;
    if (set.channels.contains(channel)) {
      return InvalidArgument(name + ": a second file for channel " + channel + " of one image set");
    }
    set.channels[channel] = ChannelFile{f.string(), -1};
  }
  std::vector<ImageSet> sets;
  for (auto& [key, set] : by_key) sets.push_back(std::move(set));
  return sets;
}

Result<std::vector<ImageSet>> ScanFolderSingleChannel(const std::string& folder,
                                                      const std::string& channel) {
  SUND_ASSIGN_OR_RETURN(std::vector<fs::path> files, ImageFiles(folder));
  std::vector<ImageSet> sets;
  for (const fs::path& f : files) {
    ImageSet set;
    set.channels[channel] = ChannelFile{f.string(), -1};
    sets.push_back(std::move(set));
  }
  return sets;
}

Result<std::map<std::string, std::string>> ParseChannelMap(const std::string& text) {
  std::map<std::string, std::string> map;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return InvalidArgument("channel map: '" + item + "' is not value=Name");
    }
    map[item.substr(0, eq)] = item.substr(eq + 1);
    start = end + 1;
  }
  return map;
}

Status RequireChannels(const std::vector<ImageSet>& sets, const std::vector<std::string>& names) {
  for (const ImageSet& s : sets) {
    for (const std::string& n : names) {
      if (!s.channels.contains(n)) {
        return InvalidArgument("image set " + s.Name() + " has no " + n + " channel");
      }
    }
  }
  return Status::Ok();
}

}  // namespace sund::cells
