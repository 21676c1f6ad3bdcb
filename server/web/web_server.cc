#include "server/web/web_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/util/log.h"
#include "server/web/http_wire.h"
#include "server/util/worker_pool.h"

namespace securelink::invitations::web {
namespace {

// Deadlines are on the monotonic clock: a wall-clock step must neither release every
// connection at once nor let one live forever.
using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;
constexpr size_t kReadChunk = 16 * 1024;
// Connections taken from the backlog per wake-up, so a connection flood cannot starve the
// connections already open.
constexpr int kAcceptBatch = 64;
// After the process runs out of descriptors, accepting resumes when a connection closes or
// after this long, instead of spinning on a listener that stays readable.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kCapacityWarningInterval = std::chrono::seconds(10);
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

// What the log may show of a path: never a query (it holds the registration token), even one
// that arrived percent-encoded into the path, and never an unbounded amount.
std::string LoggablePath(absl::string_view path) {
  path = path.substr(0, path.find('?'));
  return std::string(path.substr(0, 200));
}

absl::StatusOr<int> ListenOn(const std::string& address, int& bound_port) {
  auto malformed = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--web_address must be host:port (port 0: any free port), not '", address, "'"));
  };
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return malformed();
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = absl::StrCat(port);
  if (getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web_address: cannot resolve the host of '", address, "'"));
  }
  int fd = -1;
  int error = 0;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ",
                                               std::strerror(error)));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  bound_port = ntohs(local.ss_family == AF_INET6
                         ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  return fd;
}

std::string PeerAddress(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "";
  if (peer.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, text,
              sizeof text);
  } else if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
  }
  return text;
}

struct Connection {
  enum class State {
    kIdle,       // no request in progress: waiting (up to idle_timeout) for the next one
    kReading,    // part of a request has arrived: the read deadline runs
    kHandling,   // a complete request is with a handler thread: no deadline, no reading
    kWriting,    // the response is going out
    kLingering,  // answered and shut down for writing; discarding what the client still sends
    kClosed,     // descriptor closed; erased at the end of the loop iteration
  };

  uint64_t id = 0;
  int fd = -1;
  std::string peer;  // the TCP peer's address
  State state = State::kIdle;
  TimePoint deadline = TimePoint::max();
  uint32_t interest = 0;  // epoll events registered; 0: not in the epoll set
  bool peer_finished = false;  // the client shut down its sending side

  std::string in;  // received, not yet consumed
  size_t scan_from = 0;  // FindHeadEnd's progress through `in`
  std::optional<RequestHead> head;  // parsed; its body is still arriving
  size_t head_bytes = 0;

  // The request being handled or answered: its path (for the response observer), when its
  // first byte arrived and when it was complete.
  std::string path;
  TimePoint started;
  TimePoint received;
  bool head_only = false;
  bool keep_alive = false;
  int minor_version = 1;
  bool unread_input = false;  // part of the request was left unread (refused, or body too large)
  std::string out;
  size_t out_sent = 0;
};

}  // namespace

// Everything but the handler threads and the stop flag belongs to the I/O thread (Run()), so the
// connection state needs no lock; handler threads hand responses back through `completions_`.
class WebServer::Loop {
 public:
  Loop(const WebServerOptions& options, HttpHandler handler, ResponseObserver observer,
       int listen_fd, int epoll_fd, int wake_fd)
      : options_(options),
        handler_(std::move(handler)),
        observer_(std::move(observer)),
        listen_fd_(listen_fd),
        epoll_fd_(epoll_fd),
        wake_fd_(wake_fd),
        handlers_(std::make_unique<WorkerPool>(options.threads, options.request_queue)) {}

  ~Loop() {
    handlers_.reset();  // joins the handler threads: none may still touch wake_fd_
    for (auto& [id, c] : connections_) {
      if (c->fd >= 0) close(c->fd);
    }
    if (listen_fd_ >= 0) close(listen_fd_);
    close(wake_fd_);
    close(epoll_fd_);
  }

  // The I/O thread's body; returns once a stop was requested and every connection is closed.
  void Run();

  void RequestStop() {
    absl::MutexLock lock(&mu_);
    stop_requested_ = true;
    WakeLocked();
  }

 private:
  struct Completion {
    uint64_t id;
    HttpResponse response;
  };

  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t one = 1;
    // Only fails when the counter is saturated, and then the loop is awake anyway.
    (void)!write(wake_fd_, &one, sizeof one);
  }

  // Handler thread: runs the handler and hands the response to the I/O thread.
  void Handle(uint64_t id, const HttpRequest& request);

  void AcceptConnections(TimePoint now);
  bool EvictIdleConnection();
  void PauseAccepting(TimePoint now);
  void ResumeAccepting();
  void OnEvent(Connection& c, uint32_t events, TimePoint now);
  void ReadRequest(Connection& c, TimePoint now);
  void ParseBuffered(Connection& c, TimePoint now);
  void Dispatch(Connection& c, RequestHead head, std::string body, bool body_too_large,
                TimePoint now);
  void Refuse(Connection& c, int status, absl::string_view why, TimePoint now);
  void TakeCompletions(TimePoint now);
  void Respond(Connection& c, const HttpResponse& response, TimePoint now);
  void WriteOut(Connection& c, TimePoint now);
  void Linger(Connection& c, TimePoint now);
  void Discard(Connection& c);
  void Close(Connection& c);
  void ExpireDeadlines(TimePoint now);
  void BeginStop();
  void SetDeadline(Connection& c, TimePoint deadline) {
    c.deadline = deadline;
    next_deadline_ = std::min(next_deadline_, deadline);
  }
  void SetInterest(Connection& c, uint32_t events);
  int WaitMillis(TimePoint now) const;

  const WebServerOptions options_;
  const HttpHandler handler_;
  const ResponseObserver observer_;
  int listen_fd_;
  const int epoll_fd_;
  const int wake_fd_;

  absl::Mutex mu_;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Completion> completions_ ABSL_GUARDED_BY(mu_);

  // I/O thread only.
  bool stopping_ = false;
  bool accept_paused_ = false;
  TimePoint accept_resume_ = TimePoint::max();
  TimePoint next_deadline_ = TimePoint::max();  // no later than the earliest deadline
  TimePoint last_capacity_warning_ = TimePoint::min();
  int refused_at_capacity_ = 0;
  uint64_t next_id_ = kFirstConnectionId;
  int open_connections_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> closed_;

  std::unique_ptr<WorkerPool> handlers_;
};

void WebServer::Loop::Run() {
  epoll_event listener{};
  listener.events = EPOLLIN;
  listener.data.u64 = kListenerId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listener);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.u64 = kWakeId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake);

  epoll_event events[64];
  while (true) {
    if (!stopping_) {
      absl::MutexLock lock(&mu_);
      if (stop_requested_) stopping_ = true;
    }
    if (stopping_ && listen_fd_ >= 0) BeginStop();
    if (stopping_ && open_connections_ == 0) break;
    const int n = epoll_wait(epoll_fd_, events, 64, WaitMillis(SteadyClock::now()));
    if (n < 0 && errno != EINTR) {
      Log(LogLevel::kError, "web server: epoll_wait failed", {{"error", std::strerror(errno)}});
      break;
    }
    const TimePoint now = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kListenerId) {
        AcceptConnections(now);
      } else if (id == kWakeId) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof count);
        TakeCompletions(now);
      } else if (auto it = connections_.find(id); it != connections_.end()) {
        OnEvent(*it->second, events[i].events, now);
      }
    }
    if (accept_paused_ && now >= accept_resume_) ResumeAccepting();
    ExpireDeadlines(now);
    for (uint64_t id : closed_) connections_.erase(id);
    closed_.clear();
  }
}

int WebServer::Loop::WaitMillis(TimePoint now) const {
  TimePoint wake_at = next_deadline_;
  if (accept_paused_) wake_at = std::min(wake_at, accept_resume_);
  if (wake_at == TimePoint::max()) return -1;
  if (wake_at <= now) return 0;
  // Rounded up: waking a little early would only spin until the deadline.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

void WebServer::Loop::SetInterest(Connection& c, uint32_t events) {
  if (events == c.interest) return;
  epoll_event e{};
  e.events = events;
  e.data.u64 = c.id;
  if (events == 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, &e);
  } else {
    epoll_ctl(epoll_fd_, c.interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &e);
  }
  c.interest = events;
}

void WebServer::Loop::AcceptConnections(TimePoint now) {
  for (int i = 0; i < kAcceptBatch && listen_fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        PauseAccepting(now);
      }
      return;
    }
    if (open_connections_ >= options_.max_connections && !EvictIdleConnection()) {
      close(fd);
      ++refused_at_capacity_;
      if (last_capacity_warning_ == TimePoint::min() ||
          now - last_capacity_warning_ >= kCapacityWarningInterval) {
        Log(LogLevel::kWarning, "web server at its connection limit: new connections closed",
            {{"max_connections", options_.max_connections},
             {"refused", refused_at_capacity_}});
        last_capacity_warning_ = now;
        refused_at_capacity_ = 0;
      }
      continue;
    }
    // Responses go out in one write, but a 100 Continue precedes a body: never let Nagle's
    // algorithm meet the client's delayed ACK.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->fd = fd;
    c->peer = PeerAddress(peer);
    SetDeadline(*c, now + ToChrono(options_.idle_timeout));
    SetInterest(*c, EPOLLIN);
    ++open_connections_;
    connections_.emplace(c->id, std::move(c));
  }
}

bool WebServer::Loop::EvictIdleConnection() {
  Connection* oldest = nullptr;
  for (auto& [id, c] : connections_) {
    if ((c->state == Connection::State::kIdle || c->state == Connection::State::kLingering) &&
        (oldest == nullptr ||
         std::tie(c->deadline, c->id) < std::tie(oldest->deadline, oldest->id))) {
      oldest = c.get();
    }
  }
  if (oldest == nullptr) return false;
  Close(*oldest);
  return true;
}

void WebServer::Loop::PauseAccepting(TimePoint now) {
  if (accept_paused_) return;
  Log(LogLevel::kWarning, "web server cannot accept connections (out of descriptors or memory)",
      {{"error", std::strerror(errno)}});
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  accept_paused_ = true;
  accept_resume_ = now + kAcceptPause;
}

void WebServer::Loop::ResumeAccepting() {
  if (!accept_paused_) return;
  accept_paused_ = false;
  accept_resume_ = TimePoint::max();
  if (listen_fd_ < 0) return;
  epoll_event listener{};
  listener.events = EPOLLIN;
  listener.data.u64 = kListenerId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listener);
}

void WebServer::Loop::OnEvent(Connection& c, uint32_t events, TimePoint now) {
  switch (c.state) {
    case Connection::State::kIdle:
    case Connection::State::kReading:
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ReadRequest(c, now);
      break;
    case Connection::State::kWriting:
      if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) WriteOut(c, now);
      break;
    case Connection::State::kLingering:
      Discard(c);
      break;
    case Connection::State::kHandling:
    case Connection::State::kClosed:
      break;
  }
}

void WebServer::Loop::ReadRequest(Connection& c, TimePoint now) {
  // Room for the largest request we accept; a request that could not fit is refused before.
  const size_t capacity = options_.max_header_bytes + options_.max_body_bytes + 1;
  char buffer[kReadChunk];
  while (c.in.size() < capacity) {
    const size_t want = std::min(sizeof buffer, capacity - c.in.size());
    const ssize_t got = recv(c.fd, buffer, want, 0);
    if (got > 0) {
      if (c.state == Connection::State::kIdle) {
        // The request's clock starts with its first byte.
        c.state = Connection::State::kReading;
        c.started = now;
        SetDeadline(c, now + ToChrono(options_.request_read_timeout));
      }
      c.in.append(buffer, static_cast<size_t>(got));
      if (static_cast<size_t>(got) < want) break;
      continue;
    }
    if (got == 0) {
      c.peer_finished = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Close(c);
      return;
    }
    break;
  }
  ParseBuffered(c, now);
  if (c.peer_finished && (c.state == Connection::State::kIdle ||
                          c.state == Connection::State::kReading)) {
    Close(c);  // gone before a whole request arrived: nobody to answer
  }
}

void WebServer::Loop::ParseBuffered(Connection& c, TimePoint now) {
  if (!c.head.has_value()) {
    // Empty lines before a request line are ignored (RFC 9112 §2.2; some clients send a CRLF
    // after a POST body).
    const size_t start = c.in.find_first_not_of("\r\n");
    if (start != 0) {
      c.in.erase(0, start == std::string::npos ? c.in.size() : start);
      c.scan_from = 0;
    }
    if (c.in.empty()) return;
    const size_t end = FindHeadEnd(c.in, c.scan_from);
    if (end == std::string::npos) {
      if (c.in.size() > options_.max_header_bytes) {
        Refuse(c, 431, "the request line and headers are too large", now);
      }
      return;
    }
    if (end > options_.max_header_bytes) {
      Refuse(c, 431, "the request line and headers are too large", now);
      return;
    }
    ParsedHead parsed = ParseRequestHead(absl::string_view(c.in).substr(0, end));
    if (!parsed.head.has_value()) {
      Refuse(c, parsed.error_status, parsed.error, now);
      return;
    }
    c.head = std::move(parsed.head);
    c.head_bytes = end;
    if (c.head->content_length > options_.max_body_bytes) {
      // Not read at all: the handler answers (413) and the connection closes after it, its
      // unread body discarded while lingering.
      RequestHead head = *std::move(c.head);
      c.in.clear();
      Dispatch(c, std::move(head), "", /*body_too_large=*/true, now);
      return;
    }
    if (c.head->expect_continue && c.in.size() < end + c.head->content_length) {
      // Best effort: a client that misses it sends the body after its own short wait.
      (void)!send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL);
    }
  }
  const size_t total = c.head_bytes + c.head->content_length;
  if (c.in.size() < total) return;
  std::string body = c.in.substr(c.head_bytes, c.head->content_length);
  c.in.erase(0, total);
  RequestHead head = *std::move(c.head);
  Dispatch(c, std::move(head), std::move(body), /*body_too_large=*/false, now);
}

void WebServer::Loop::Dispatch(Connection& c, RequestHead head, std::string body,
                               bool body_too_large, TimePoint now) {
  c.head.reset();
  c.scan_from = 0;
  c.head_bytes = 0;
  c.path = head.path;
  c.received = now;
  c.head_only = head.method == "HEAD";
  c.keep_alive = head.keep_alive && !body_too_large && !c.peer_finished;
  c.minor_version = head.minor_version;
  c.unread_input = body_too_large;
  c.state = Connection::State::kHandling;
  c.deadline = TimePoint::max();
  SetInterest(c, 0);

  HttpRequest request;
  std::vector<absl::string_view> forwarded_for;
  for (const auto& [name, value] : head.headers) {
    if (name == "x-forwarded-for") forwarded_for.push_back(value);
  }
  request.client_address =
      ClientAddress(c.peer, absl::StrJoin(forwarded_for, ","), options_.trusted_proxies);
  request.method = std::move(head.method);
  request.path = std::move(head.path);
  request.query = std::move(head.query);
  request.headers = std::move(head.headers);
  request.body = std::move(body);
  request.body_too_large = body_too_large;
  const absl::Status queued = handlers_->TrySubmit(
      [this, id = c.id, request = std::move(request)] { Handle(id, request); });
  if (!queued.ok()) {
    Log(LogLevel::kWarning, "web server busy: request answered 503",
        {{"client", c.peer}, {"threads", options_.threads},
         {"request_queue", options_.request_queue}});
    HttpResponse busy = PlainResponse(503, "The server is busy; please try again shortly.");
    busy.headers.emplace_back("Retry-After", "5");
    Respond(c, busy, now);
  }
}

void WebServer::Loop::Handle(uint64_t id, const HttpRequest& request) {
  HttpResponse response = handler_(request);
  Log(LogLevel::kInfo, "http request",
      {{"method", request.method}, {"path", LoggablePath(request.path)},
       {"status", response.status}, {"client", request.client_address}});
  absl::MutexLock lock(&mu_);
  completions_.push_back({id, std::move(response)});
  // Under the lock: once the I/O thread has taken this completion, this thread no longer
  // touches the loop, so Stop() may destroy it.
  WakeLocked();
}

void WebServer::Loop::TakeCompletions(TimePoint now) {
  std::vector<Completion> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(completions_);
  }
  for (Completion& completion : done) {
    auto it = connections_.find(completion.id);
    if (it == connections_.end() || it->second->state != Connection::State::kHandling) continue;
    Respond(*it->second, completion.response, now);
  }
}

void WebServer::Loop::Refuse(Connection& c, int status, absl::string_view why, TimePoint now) {
  Log(LogLevel::kInfo, "http request refused",
      {{"status", status}, {"reason", std::string(why)}, {"client", c.peer}});
  c.head.reset();
  c.in.clear();
  c.path.clear();  // the request line, if any, did not parse
  c.received = now;
  c.head_only = false;
  c.keep_alive = false;
  c.minor_version = 1;
  c.unread_input = true;
  Respond(c, PlainResponse(status, why), now);
}

void WebServer::Loop::Respond(Connection& c, const HttpResponse& response, TimePoint now) {
  if (stopping_) c.keep_alive = false;
  c.out = SerializeResponse(response, c.head_only, c.keep_alive, c.minor_version, absl::Now());
  if (observer_) observer_(c.path, response.status, absl::FromChrono(now - c.received));
  c.out_sent = 0;
  c.state = Connection::State::kWriting;
  SetDeadline(c, now + ToChrono(options_.request_read_timeout));
  WriteOut(c, now);
}

void WebServer::Loop::WriteOut(Connection& c, TimePoint now) {
  while (c.out_sent < c.out.size()) {
    const ssize_t sent =
        send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (sent > 0) {
      c.out_sent += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetInterest(c, EPOLLOUT);
      return;
    }
    Close(c);
    return;
  }
  std::string().swap(c.out);
  if (!c.keep_alive) {
    if (c.unread_input || !c.in.empty()) {
      Linger(c, now);
    } else {
      Close(c);  // nothing unread: the close is a clean end of stream
    }
    return;
  }
  if (stopping_) {  // this response was promised keep-alive before the stop began
    Close(c);
    return;
  }
  SetInterest(c, EPOLLIN);
  if (c.in.empty()) {
    c.state = Connection::State::kIdle;
    SetDeadline(c, now + ToChrono(options_.idle_timeout));
    return;
  }
  // The next request (pipelined) has already begun to arrive.
  c.state = Connection::State::kReading;
  c.started = now;
  SetDeadline(c, now + ToChrono(options_.request_read_timeout));
  ParseBuffered(c, now);
}

void WebServer::Loop::Linger(Connection& c, TimePoint now) {
  // Closing with unread input would send a reset, and a reset can destroy the answer before
  // the client reads it; so stop writing and drain until the client closes, within a bound.
  shutdown(c.fd, SHUT_WR);
  c.in.clear();
  c.state = Connection::State::kLingering;
  SetDeadline(c, now + ToChrono(options_.request_read_timeout));
  SetInterest(c, EPOLLIN);
  Discard(c);
}

void WebServer::Loop::Discard(Connection& c) {
  char buffer[kReadChunk];
  // Bounded per wake-up so one fast sender cannot monopolise the loop.
  for (int i = 0; i < 4; ++i) {
    const ssize_t got = recv(c.fd, buffer, sizeof buffer, 0);
    if (got > 0) continue;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close(c);
    return;
  }
}

void WebServer::Loop::Close(Connection& c) {
  if (c.state == Connection::State::kClosed) return;
  SetInterest(c, 0);
  close(c.fd);
  c.fd = -1;
  c.state = Connection::State::kClosed;
  c.deadline = TimePoint::max();
  --open_connections_;
  closed_.push_back(c.id);
  ResumeAccepting();
}

void WebServer::Loop::ExpireDeadlines(TimePoint now) {
  if (now < next_deadline_) return;
  next_deadline_ = TimePoint::max();
  for (auto& [id, c] : connections_) {
    if (c->state == Connection::State::kClosed || c->state == Connection::State::kHandling) {
      continue;
    }
    if (c->deadline > now) {
      next_deadline_ = std::min(next_deadline_, c->deadline);
      continue;
    }
    if (c->state == Connection::State::kReading) {
      Log(LogLevel::kInfo, "http request refused",
          {{"status", "408"},
           {"reason", "the request did not arrive whole within the read timeout"},
           {"client", c->peer}});
      // One try, no waiting: the point is to release the connection now.
      const std::string timeout = SerializeResponse(
          PlainResponse(408, "The request took too long to arrive."), false, false, 1,
          absl::Now());
      (void)!send(c->fd, timeout.data(), timeout.size(), MSG_NOSIGNAL);
      if (observer_) {
        observer_(c->head.has_value() ? absl::string_view(c->head->path) : absl::string_view(),
                  408, absl::FromChrono(now - c->started));
      }
    }
    Close(*c);
  }
}

void WebServer::Loop::BeginStop() {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  close(listen_fd_);  // the port is free from here on
  listen_fd_ = -1;
  accept_paused_ = false;
  for (auto& [id, c] : connections_) {
    if (c->state == Connection::State::kIdle || c->state == Connection::State::kReading) {
      Close(*c);
    }
  }
}

WebServer::WebServer(std::unique_ptr<Loop> loop, int port) : loop_(std::move(loop)), port_(port) {
  Loop* raw = loop_.get();
  io_thread_ = std::thread([raw] { raw->Run(); });
}

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Start(const WebServerOptions& options,
                                                            HttpHandler handler,
                                                            ResponseObserver observer) {
  if (options.threads < 1) return absl::InvalidArgumentError("web server: threads must be >= 1");
  if (options.request_queue < 0) {
    return absl::InvalidArgumentError("web server: request_queue must not be negative");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("web server: max_connections must be >= 1");
  }
  if (options.request_read_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("web server: timeouts must be positive");
  }
  if (options.max_header_bytes < 1024) {
    return absl::InvalidArgumentError("web server: max_header_bytes must be >= 1024");
  }
  int port = 0;
  absl::StatusOr<int> listen_fd = ListenOn(options.address, port);
  if (!listen_fd.ok()) return listen_fd.status();
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd < 0 || wake_fd < 0) {
    const std::string error = std::strerror(errno);
    close(*listen_fd);
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    return absl::InternalError(absl::StrCat("web server: cannot create its event loop: ", error));
  }
  auto loop = std::make_unique<Loop>(options, std::move(handler), std::move(observer),
                                     *listen_fd, epoll_fd, wake_fd);
  return std::unique_ptr<WebServer>(new WebServer(std::move(loop), port));
}

WebServer::~WebServer() { Stop(); }

void WebServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (loop_ == nullptr) return;
  loop_->RequestStop();
  io_thread_.join();
  loop_.reset();  // after its handler threads finish
}

}  // namespace securelink::invitations::web
