// conveyor-consumer's command line: --prefetch takes a count (0 included) or "auto".
#include "conveyor/consumer/flags.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace conveyor::consumer {
namespace {

// What the command line gave.
struct Flags {
  Config config;
  std::string handler;
  LogOptions log;
};

std::optional<int> parse(Flags& flags, std::vector<const char*> args) {
  args.insert(args.begin(), {"conveyor-consumer", "--handler", "echo"});
  return parse_flags(static_cast<int>(args.size()), args.data(), flags.config, flags.handler,
                     flags.log);
}

TEST(ConsumerFlags, PrefetchDefaultsToAuto) {
  Flags flags;
  ASSERT_EQ(parse(flags, {}), std::nullopt);
  EXPECT_FALSE(flags.config.prefetch.has_value());
  flags = Flags{};
  ASSERT_EQ(parse(flags, {"--prefetch", "auto"}), std::nullopt);
  EXPECT_FALSE(flags.config.prefetch.has_value());
}

TEST(ConsumerFlags, PrefetchZeroMeansNone) {
  Flags flags;
  ASSERT_EQ(parse(flags, {"--prefetch", "0"}), std::nullopt);
  ASSERT_TRUE(flags.config.prefetch.has_value());
  EXPECT_EQ(*flags.config.prefetch, 0u);
}

TEST(ConsumerFlags, PrefetchTakesACount) {
  Flags flags;
  ASSERT_EQ(parse(flags, {"--prefetch", "17"}), std::nullopt);
  EXPECT_EQ(flags.config.prefetch, std::optional<std::size_t>(17));
}

TEST(ConsumerFlags, PrefetchFromTheEnvironment) {
  ::setenv("CONVEYOR_PREFETCH", "0", 1);
  Flags flags;
  const auto status = parse(flags, {});
  ::unsetenv("CONVEYOR_PREFETCH");
  ASSERT_EQ(status, std::nullopt);
  EXPECT_EQ(flags.config.prefetch, std::optional<std::size_t>(0));
}

TEST(ConsumerFlags, BadPrefetchIsExitStatusTwo) {
  for (const char* bad : {"-1", "many", "100001", "1.5", ""}) {
    Flags flags;
    EXPECT_EQ(parse(flags, {"--prefetch", bad}), std::optional<int>(2)) << bad;
  }
}

}  // namespace
}  // namespace conveyor::consumer
