// Response bodies recorded to files instead of memory (core/spool.h): the
// files a recording writes beside its journal, how a journal read back
// finds them again, and how a cassette that refers to them is saved.
//
// A body larger than core::kSpoolBodyBytes that a recording keeps is
// written to <journal>.body-<n> as it arrives; the journal's entry for the
// exchange carries HttpResponse.spooled_body (the file and its size) and an
// empty body. Saving copies each file into its interaction's `body`
// without holding it in memory (WriteCassette), so a saved cassette never
// refers to a file. The journal removes its body files with itself.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/recording.h"
#include "server/core/spool.h"

namespace matgto::cassette {

// Files <journal_leaf>.body-<n> in the directory open on `dir_fd` (the
// spooler keeps its own descriptor), created with `mode`; `dir_path` names
// the directory in paths and messages.
std::shared_ptr<core::BodySpooler> MakeBodySpooler(int dir_fd,
                                                   std::string dir_path,
                                                   std::string journal_leaf,
                                                   mode_t mode);

// Removes every <journal_leaf>.body-* file in the directory open on
// `dir_fd`. Best effort.
void RemoveBodyFiles(int dir_fd, absl::string_view journal_leaf);
// The same in the directory `dir`.
void RemoveBodyFiles(const std::filesystem::path& dir,
                     absl::string_view journal_leaf);

// Whether any interaction's response is in a file.
bool HasSpooledBodies(const v1::Cassette& cassette);

// A journal read back from `journal_path`: each spooled_body is looked up
// by its file name in the journal's directory (a name that is not
// <journal file>.body-<n> is refused) and its path made absolute. An
// interaction whose file is missing or shorter than recorded (a crash
// before the file reached the disk) is dropped; `dropped` gets a line for
// each.
void ResolveSpooledBodies(v1::Cassette& cassette,
                          absl::string_view journal_path,
                          std::vector<std::string>* dropped);
// The same for one interaction: "" when it is kept (its spooled_body, if
// any, now has an absolute path), else the line saying why it is dropped.
std::string ResolveSpooledBody(v1::Interaction& interaction,
                               absl::string_view journal_path);

// Writes `cassette` as SerializeCassette would, to `fd`, with each
// spooled body copied from its file into the response's `body` field
// (kernel to kernel where it can: the bodies never sit in memory).
// DATA_LOSS when a file is not the size recorded; `path` names `fd` in
// messages.
absl::Status WriteCassette(const v1::Cassette& cassette, int fd,
                           absl::string_view path);
// The same for a recording, its interactions read one at a time as they are
// written (see recording.h).
absl::Status WriteCassette(Recording& recording, int fd,
                           absl::string_view path);

// A copy of `cassette` with every spooled body read into memory (for a
// JSON cassette, or a store that uploads from memory).
absl::StatusOr<v1::Cassette> ReadSpooledBodies(const v1::Cassette& cassette);

}  // namespace matgto::cassette
