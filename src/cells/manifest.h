// Image sets: which files make up one field of view (one file per channel) and where on which
// plate it was taken. Three ways to state them:
// - a manifest CSV in CellProfiler's LoadData layout: `FileName_<Channel>` (or
//   `Image_FileName_<Channel>`), optional `PathName_<Channel>` (relative paths are taken from the
//   manifest's folder), optional `Frame_<Channel>` (the plane of a multi-plane file, 0-based),
//   and `Metadata_<Name>` columns (`Metadata_Plate`, `Metadata_Well`, `Metadata_Site` place the
//   image set on a plate);
// - a folder and a file-name pattern, a regular expression with CellProfiler's named groups
//   (`(?P<Well>[A-P][0-9]{2})`): the group `Channel` names the channel (through a map such as
//   d0=DNA), the others are metadata, and files that agree on all of them form one image set;
// - a folder alone: every image file is an image set of one channel (named by `channel`).
//
// Errors (InvalidArgument) name the manifest line or the file. Thread-safety: free functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::cells {

struct ChannelFile {
  std::string path;
  int plane = -1;  // -1: the file holds one plane
};

struct ImageSet {
  std::map<std::string, std::string> metadata;    // Plate, Well, Site ... (without "Metadata_")
  std::map<std::string, ChannelFile> channels;    // channel name -> file
  std::string Get(const std::string& key) const;  // "" when absent
  // "plate/well/site" from what is known, else the first file's name: names outputs.
  std::string Name() const;
};

Result<std::vector<ImageSet>> ReadManifest(const std::string& csv_path);

// `channel_names` maps the Channel group's values to channel names ("d0" -> "DNA"); values
// missing from a non-empty map are an error, an empty map keeps the values as names.
Result<std::vector<ImageSet>> ScanFolder(const std::string& folder, const std::string& pattern,
                                         const std::map<std::string, std::string>& channel_names);

// Every image file (.tif, .tiff, .png) of the folder, sorted by name, as a one-channel set.
Result<std::vector<ImageSet>> ScanFolderSingleChannel(const std::string& folder,
                                                      const std::string& channel);

// "d0=DNA,d1=PH3" -> {d0: DNA, d1: PH3}.
Result<std::map<std::string, std::string>> ParseChannelMap(const std::string& text);

// Whether every set has every channel in `names`; an error names the first set lacking one.
Status RequireChannels(const std::vector<ImageSet>& sets, const std::vector<std::string>& names);

}  // namespace sund::cells
