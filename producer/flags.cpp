#include "conveyor/producer/flags.hpp"

namespace conveyor::producer {

// flag table: one statement per flag, each with its --help text
std::optional<int> parse_flags(int argc, const char* const* argv, Config& c, std::string& source,
                               LogOptions& log) {
  CLI::App app{
      "conveyor-producer: reads tasks from a source, sends them to the broker within the credit "
      "it grants, and writes one JSON line per final result. When the source is exhausted it "
      "sends its poison pill and waits until every task has a final result, then exits 0.",
      "conveyor-producer"};
  app.option_defaults()->always_capture_default();
  add_client_flags(app, c,
                   {"the broker's frontend endpoint, tcp://HOST:5555",
                    "this producer's id, first part of its task ids; reuse it to resume after a "
                    "restart (default: producer-HOST-PID)",
                    "the queue its tasks go to (created on first use; consumers of that queue "
                    "take them)"});
  app.add_option("--source", source,
                 "lines:PATH (one task per line; lines:- reads stdin), jsonl:PATH or jsonl:- "
                 "(one {\"payload\":\"...\"} per line, \"encoding\":\"base64\" for bytes), "
                 "gen:COUNT or gen:COUNT:SIZE (generated payloads of SIZE bytes)")
      ->required();
  app.add_option("--results", c.results,
                 "results file, one JSON object per task (- for stdout; empty for none)");
  app.add_option("--window", c.window,
                 "tasks without a final result held at most (memory bound, resend buffer)")
      ->check(whole_number(1, 100'000'000));
  app.add_flag("--quiet", c.quiet, "no progress display; the summary is still printed");
  app.add_flag("--resume", c.resume,
               "keep the results already in --results: skip the tasks that have a final result "
               "there (seq N is still the Nth task of the source) and append the rest; without "
               "it the file is replaced. Not with lines:- (stdin cannot be read again)");
  app.add_flag("--allow-failures", c.allow_failures,
               "exit 0 when every task has a final result even if some failed or died (without "
               "it: exit status 3)");
  add_log_flags(app, log);
  bind_environment(app);
  return parse_command_line(app, argc, argv);
}

}  // namespace conveyor::producer
