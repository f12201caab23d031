// The broker's status page without a server: which request gets what, and the bytes of each
// response (the civetweb shell writes them as they are).
#include "conveyor/broker/status_page.hpp"

#include <gtest/gtest.h>

namespace conveyor::broker {
namespace {

std::string header(const std::string& bytes, const std::string& name) {
  const auto head_end = bytes.find("\r\n\r\n");
  const auto at = bytes.find("\r\n" + name + ": ");
  if (at == std::string::npos || at > head_end) return "";
  const auto from = at + name.size() + 4;
  return bytes.substr(from, bytes.find("\r\n", from) - from);
}

TEST(StatusPage, GetSlashIsTheEmbeddedPage) {
  StatusPage page;
  const auto response = page.answer("GET", "/");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(response->body, kStatusPageHtml);
  EXPECT_EQ(response->body.rfind("<!doctype html>", 0), 0u);
  // Self-contained: nothing loaded from anywhere (the SVG namespace is a name, not a fetch), and
  // it asks this server for the status.
  std::string html = response->body;
  const std::string svg_namespace = "http://www.w3.org/2000/svg";
  for (auto at = html.find(svg_namespace); at != std::string::npos; at = html.find(svg_namespace))
    html.erase(at, svg_namespace.size());
  for (const char* loads : {"http://", "https://", "src=", "href=", "@import", "url("})
    EXPECT_EQ(html.find(loads), std::string::npos) << loads;
  EXPECT_NE(html.find("fetch(\"/status.json\""), std::string::npos);
  EXPECT_EQ(page.answer("HEAD", "/index.html")->body, response->body);
}

TEST(StatusPage, StatusJsonIsWhatTheBrokerLastPublished) {
  StatusPage page;
  EXPECT_EQ(page.answer("GET", "/status.json")->status, 503);  // nothing published yet
  page.publish(R"({"state":"running"})");
  page.publish(R"({"state":"drained"})");
  const auto response = page.answer("GET", "/status.json");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body, R"({"state":"drained"})");
}

TEST(StatusPage, MetricsAreLeftToPrometheusCpp) {
  StatusPage page;
  EXPECT_FALSE(page.answer("GET", "/metrics"));
  EXPECT_FALSE(page.answer("HEAD", "/metrics"));
}

TEST(StatusPage, AnyOtherPathIs404AndAnyOtherMethod405) {
  StatusPage page;
  for (const char* path : {"/nope", "/status", "/status.json/x", "/metrics/x", "", "//"})
    EXPECT_EQ(page.answer("GET", path)->status, 404) << path;
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", ""}) {
    EXPECT_EQ(page.answer(method, "/")->status, 405) << method;
    EXPECT_EQ(page.answer(method, "/metrics")->status, 405) << method;
  }
}

TEST(HttpBytes, StatusLineHeadersAndBody) {
  const std::string bytes = http_bytes({200, "application/json", "{}"}, false);
  EXPECT_EQ(bytes.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(header(bytes, "Content-Type"), "application/json");
  EXPECT_EQ(header(bytes, "Content-Length"), "2");
  EXPECT_EQ(header(bytes, "Cache-Control"), "no-store");
  EXPECT_EQ(header(bytes, "Connection"), "close");
  EXPECT_NE(header(bytes, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(bytes.substr(bytes.size() - 6), "\r\n\r\n{}");
}

TEST(HttpBytes, HeadHasTheLengthOfTheBodyItLeavesOut) {
  const std::string bytes = http_bytes({200, "text/html; charset=utf-8", "<p>hello</p>"}, true);
  EXPECT_EQ(header(bytes, "Content-Length"), "12");
  EXPECT_EQ(bytes.substr(bytes.size() - 4), "\r\n\r\n");
}

TEST(HttpBytes, ErrorsSayWhatTheyAre) {
  StatusPage page;
  const std::string not_found = http_bytes(*page.answer("GET", "/x"), false);
  EXPECT_EQ(not_found.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  const std::string not_allowed = http_bytes(*page.answer("POST", "/"), false);
  EXPECT_EQ(not_allowed.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
  EXPECT_EQ(header(not_allowed, "Allow"), "GET, HEAD");
  EXPECT_EQ(header(not_found, "Allow"), "");
}

TEST(HistoryJson, RatesOldestFirstWithTheWindow) {
  CompletionHistory history(300);
  const TimePoint start = TimePoint{} + std::chrono::hours(1);
  history.on_tick(start, 0);
  history.on_tick(start + std::chrono::seconds(1), 3);
  history.on_tick(start + std::chrono::seconds(2), 3);
  const auto json = history_json(history);
  EXPECT_EQ(json["interval_seconds"], 1.0);
  EXPECT_EQ(json["capacity"], 300);
  EXPECT_EQ(json["completed_per_second"], nlohmann::json::parse("[3.0, 0.0]"));
}

}  // namespace
}  // namespace conveyor::broker
