#include "conveyor/broker/http_server.hpp"

#include <CivetServer.h>
#include <civetweb.h>

#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

namespace conveyor::broker {
namespace {

// civetweb's callbacks are plain functions, and prometheus-cpp's server passes them no pointer of
// ours: each server's page is found by its civetweb context, registered when the context starts
// (init_context runs in mg_start, on the thread constructing the server) and removed when it ends.
std::mutex registry_mutex;
thread_local std::shared_ptr<const StatusPage> starting;  // the page of the server being started

std::map<const mg_context*, std::shared_ptr<const StatusPage>>& registry() {
  static std::map<const mg_context*, std::shared_ptr<const StatusPage>> pages;
  return pages;
}

void on_init_context(const mg_context* context) {
  std::lock_guard lock(registry_mutex);
  if (starting) registry()[context] = starting;
}

void on_exit_context(const mg_context* context) {
  std::lock_guard lock(registry_mutex);
  registry().erase(context);
}

void forget(const std::shared_ptr<StatusPage>& page) {
  std::lock_guard lock(registry_mutex);
  std::erase_if(registry(), [&](const auto& entry) { return entry.second == page; });
}

std::shared_ptr<const StatusPage> page_of(const mg_connection* connection) {
  std::lock_guard lock(registry_mutex);
  const auto found = registry().find(mg_get_context(connection));
  return found == registry().end() ? nullptr : found->second;
}

// Every request, before civetweb's own handling: the page's answer written here, or 0 to let
// civetweb go on (prometheus-cpp's /metrics). Never throws into civetweb's C code.
int on_begin_request(mg_connection* connection) {
  try {
    const auto page = page_of(connection);
    const mg_request_info* info = mg_get_request_info(connection);
    if (!page || !info || !info->request_method) return 0;
    const std::string_view method = info->request_method;
    const auto response = page->answer(method, info->local_uri ? info->local_uri : "");
    if (!response) return 0;
    const std::string bytes = http_bytes(*response, method == "HEAD");
    mg_write(connection, bytes.data(), bytes.size());
    return response->status;
  } catch (const std::exception&) {
    return 0;  // out of memory: civetweb answers on its own
  }
}

}  // namespace

HttpServer::HttpServer(const MetricsOptions& options) : page_(std::make_shared<StatusPage>()) {
  CivetCallbacks callbacks;
  callbacks.begin_request = on_begin_request;
  callbacks.init_context = on_init_context;
  callbacks.exit_context = on_exit_context;
  starting = page_;
  try {
    exporter_ = std::make_unique<metrics::Exporter>(options.address, options.port, &callbacks);
  } catch (...) {
    starting.reset();
    forget(page_);  // a context that failed to listen may not have said goodbye
    throw;
  }
  starting.reset();
}

HttpServer::~HttpServer() {
  exporter_.reset();  // stops civetweb's threads: no request is answered after this
  forget(page_);
}

std::unique_ptr<HttpServer> start_http_server(const MetricsOptions& options,
                                              const std::shared_ptr<spdlog::logger>& log) {
  if (options.port == 0) return nullptr;
  auto server = std::make_unique<HttpServer>(options);
  log->info("status page on http://{}:{}/, metrics on http://{}:{}/metrics", options.address,
            options.port, options.address, options.port);
  return server;
}

}  // namespace conveyor::broker
