// The HTTP/REST PerfClient (KServe v2 with Triton's binary tensor extension).
//
// Infer requests are one prebuilt byte string (request line, headers, JSON
// header, raw input bytes) written as is on keep-alive connections, one per
// virtual client; responses are read with Boost.Beast's parser and checked for
// status 200 (their tensors are not decoded). All connections are driven by an
// Asio event loop on the calling thread. Per-request timeouts come from one
// sweep timer rather than a timer per operation (a timer per read/write would
// cost the client extra system calls on every request).
//
// Thread safety: see PerfClient (one thread).
#pragma once

#include <chrono>
#include <memory>

#include "common/status.h"
#include "tools/perf/perf_client.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {

// Resolves `target` (failure: "cannot resolve ..."); connects lazily.
StatusOr<std::unique_ptr<PerfClient>> CreateHttpClient(const HostPort& target,
                                                       std::chrono::milliseconds timeout);

}  // namespace nereid::tools::perf
