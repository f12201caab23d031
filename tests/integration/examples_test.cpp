// The examples/ programs, run against a real broker: the C++ API does what the README says.
#include <gtest/gtest.h>

#include "support/cluster.hpp"

#ifdef CONVEYOR_EXAMPLES_DIR  // built with -DCONVEYOR_BUILD_EXAMPLES=ON (the default)

namespace conveyor::testing {
namespace {

TEST(Examples, CustomSourceAndCustomHandlerRunAJobTogether) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& consumer = job.start("c1", {CONVEYOR_EXAMPLES_DIR "/json-field-consumer", "--broker",
                                       job.backend(), "--id", "c1", "--field", "user"});
  Process& producer =
      job.start("p1", {CONVEYOR_EXAMPLES_DIR "/json-records-producer", "--broker", job.frontend(),
                       "--id", "p1", "--count", "50", "--results", job.results_path("p1")});
  ASSERT_EQ(producer.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(consumer.wait(10s), 0) << job.log("c1");
  EXPECT_EQ(read_file(job.path("p1.out")), "50 of 50 records ok\n");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 50u);
  for (const auto& [seq, r] : results)
    EXPECT_EQ(r.at("output"), "u" + std::to_string(seq));
}

TEST(Examples, AHandlerThatThrowsGivesFailedResultsWithTheReason) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  job.start("c1", {CONVEYOR_EXAMPLES_DIR "/json-field-consumer", "--broker", job.backend(), "--id",
                   "c1", "--field", "missing"});
  Process& producer =
      job.start("p1", {CONVEYOR_EXAMPLES_DIR "/json-records-producer", "--broker", job.frontend(),
                       "--id", "p1", "--count", "5", "--results", job.results_path("p1")});
  ASSERT_EQ(producer.wait(30s), kSomeTasksFailed) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 5u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "failed");
    EXPECT_NE(r.at("error").get<std::string>().find("handler threw"), std::string::npos) << r;
  }
}

}  // namespace
}  // namespace conveyor::testing

#endif
