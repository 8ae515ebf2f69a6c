// `matgto tail`: follows a server's live events (WatchEvents) in a
// terminal, one line per event, or one JSON object per line with --json.
#pragma once

#include <string>

#include "server/app/cli.h"

namespace matgto::app {

// Runs until the server ends the stream (shutdown) or the user interrupts.
// Exit codes as the other commands: 3 when the server cannot be reached.
int CliTail(const CliTarget& target, const std::string& session,
            const std::string& cassette, bool json);

// One event as `matgto tail` prints it without --json.
std::string FormatEventLine(const v1::Event& event);

}  // namespace matgto::app
