// Signal names for log lines ("SIGTERM: finishing running tasks"), shared by shells and sessions.
#pragma once

namespace conveyor {

const char* signal_name(int signo);

}  // namespace conveyor
