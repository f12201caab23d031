// Flag values a person can get wrong, and the line that tells them: whole numbers in words,
// endpoints without a scheme, near misses of flag names, durations with units on every flag.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conveyor/common/cli.hpp"

namespace conveyor {
namespace {

// The validator's verdict on `text`: empty when accepted.
std::string verdict(const CLI::Validator& check, std::string text) {
  return check(text);
}

TEST(WholeNumber, AcceptsTheRangeWithItsEnds) {
  const auto check = whole_number(1, 100);
  EXPECT_EQ(verdict(check, "1"), "");
  EXPECT_EQ(verdict(check, "100"), "");
  EXPECT_EQ(verdict(check, "42"), "");
}

TEST(WholeNumber, ANegativeNumberIsRefusedInWordsNotWithTheLimitsOfADouble) {
  const std::string line = verdict(whole_number(0), "-1");
  EXPECT_EQ(line, "'-1' is not a whole number 0 or more");
  EXPECT_LT(line.size(), 60u);
}

TEST(WholeNumber, OutOfRangeNamesBothEnds) {
  EXPECT_EQ(verdict(whole_number(1, 4096), "5000"), "'5000' is not a whole number from 1 to 4096");
  EXPECT_EQ(verdict(whole_number(1, 4096), "0"), "'0' is not a whole number from 1 to 4096");
}

TEST(WholeNumber, FractionsWordsSignsAndOverflowAreRefused) {
  const auto check = whole_number(0);
  for (const char* bad : {"1.5", "ten", "+3", "", "3x", " 3", "99999999999999999999999"}) {
    EXPECT_NE(verdict(check, bad), "") << bad;
  }
}

TEST(Endpoint, HostAndPortWithoutASchemeMeanTcp) {
  EXPECT_EQ(normalize_endpoint("127.0.0.1:5555"), "tcp://127.0.0.1:5555");
  EXPECT_EQ(normalize_endpoint("localhost:5556"), "tcp://localhost:5556");
  EXPECT_EQ(normalize_endpoint("*:5555"), "tcp://*:5555");
  EXPECT_EQ(normalize_endpoint("[::1]:5555"), "tcp://[::1]:5555");
}

TEST(Endpoint, EndpointsWithASchemeAreKeptAsTheyAre) {
  EXPECT_EQ(normalize_endpoint("tcp://10.0.0.1:5555"), "tcp://10.0.0.1:5555");
  EXPECT_EQ(normalize_endpoint("tcp://127.0.0.1:*"), "tcp://127.0.0.1:*");
  EXPECT_EQ(normalize_endpoint("ipc:///tmp/broker.sock"), "ipc:///tmp/broker.sock");
  EXPECT_EQ(normalize_endpoint("inproc://broker"), "inproc://broker");
}

TEST(Endpoint, WhatIsNoEndpointIsRefused) {
  for (const char* bad :
       {"localhost", "127.0.0.1", "5555", ":5555", "tcp://localhost", "tcp://host:99999",
        "tcp://host:port", "udp://host:1", "ipc://", "http://host:80"}) {
    EXPECT_EQ(normalize_endpoint(bad), std::nullopt) << bad;
  }
}

// An app with the flags of a consumer that people mistype.
struct TypoApp {
  TypoApp() {
    app.add_option("--concurrency", concurrency, "workers");
    app.add_option("--connect-timeout", text, "wait");
    app.add_option("--prefetch", text, "held");
    app.add_option("--queue", text, "where");
    add_endpoint_option(app, "--broker", broker, "the broker");
  }
  CLI::App app{"test", "conveyor-test"};
  int concurrency = 0;
  std::string text;
  std::string broker;
};

TEST(NearestFlag, AMissingLetterASwapAndAnExtraLetterAreFound) {
  TypoApp t;
  EXPECT_EQ(nearest_flag(t.app, "--concurency"), "--concurrency");
  EXPECT_EQ(nearest_flag(t.app, "--cnocurrency"), "--concurrency");
  EXPECT_EQ(nearest_flag(t.app, "--prefetchh=4"), "--prefetch");
  EXPECT_EQ(nearest_flag(t.app, "--conect-timeout"), "--connect-timeout");
}

TEST(NearestFlag, SomethingFarFromEveryFlagGetsNoGuess) {
  TypoApp t;
  EXPECT_EQ(nearest_flag(t.app, "--verbose"), std::nullopt);
  EXPECT_EQ(nearest_flag(t.app, "--"), std::nullopt);
  EXPECT_EQ(nearest_flag(t.app, "--q"), std::nullopt);
}

// What parse_command_line prints for these arguments (without the program name and "(see
// --help)"), or "" when they parse.
std::string parse_error(CLI::App& app, std::vector<std::string> args) {
  std::vector<const char*> argv{"conveyor-test"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return describe_parse_error(app, e);
  }
  return "";
}

TEST(ParseError, AnUnknownFlagIsNamedWithItsNearMiss) {
  TypoApp t;
  EXPECT_EQ(parse_error(t.app, {"--concurency", "4"}),
            "unknown flag --concurency; did you mean --concurrency?");
  TypoApp u;
  EXPECT_EQ(parse_error(u.app, {"--verbose"}), "unknown flag --verbose");
}

TEST(ParseError, AnUnknownFlagIsNamedBeforeAMissingRequiredOne) {
  TypoApp t;
  std::string handler;
  t.app.add_option("--handler", handler, "what runs")->required();
  EXPECT_EQ(parse_error(t.app, {"--handlr", "echo"}),
            "unknown flag --handlr; did you mean --handler?");
}

TEST(ParseError, AValueWithoutItsFlagIsNamed) {
  TypoApp t;
  EXPECT_EQ(parse_error(t.app, {"4"}),
            "unexpected argument '4': values follow their flag (--name value)");
}

TEST(ParseError, AnEndpointFlagTakesHostAndPortAndNamesTheFormsOtherwise) {
  TypoApp t;
  EXPECT_EQ(parse_error(t.app, {"--broker", "127.0.0.1:5555"}), "");
  EXPECT_EQ(t.broker, "tcp://127.0.0.1:5555");
  TypoApp u;
  const std::string line = parse_error(u.app, {"--broker", "localhost"});
  EXPECT_NE(line.find("--broker"), std::string::npos) << line;
  EXPECT_NE(line.find("HOST:PORT"), std::string::npos) << line;
}

TEST(DurationRange, UnitsAreTakenAndTheRangeIsChecked) {
  CLI::App app{"test", "conveyor-test"};
  Duration heartbeat = milliseconds(1000);
  add_duration_option(app, "--heartbeat", heartbeat, "interval", milliseconds(10),
                      milliseconds(3'600'000));
  EXPECT_EQ(parse_error(app, {"--heartbeat", "5s"}), "");
  EXPECT_EQ(heartbeat, milliseconds(5000));
  EXPECT_EQ(parse_error(app, {"--heartbeat", "250"}), "");  // a bare number is milliseconds
  EXPECT_EQ(heartbeat, milliseconds(250));
  const std::string line = parse_error(app, {"--heartbeat", "2h"});
  EXPECT_NE(line.find("from 10ms to 3600000ms"), std::string::npos) << line;
}

}  // namespace
}  // namespace conveyor
