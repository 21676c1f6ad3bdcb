#include "grpc_glue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "securelink/invitations/errors.h"

namespace securelink::invitations::invitectl {

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& ca_pem,
                                                         const std::string& cert_pem,
                                                         const std::string& key_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  options.pem_cert_chain = cert_pem;
  options.pem_private_key = key_pem;
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& bearer_token,
                                                      absl::Duration deadline) {
  namespace reflection = ::grpc::reflection::v1alpha;
  reflection::ServerReflection::Stub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!bearer_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", bearer_token));
  }
  auto stream = stub.ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  std::vector<std::string> services;
  absl::Status answer_error;
  if (stream->Write(request)) {
    stream->WritesDone();
    reflection::ServerReflectionResponse response;
    while (stream->Read(&response)) {
      if (response.has_error_response()) {
        answer_error =
            absl::Status(static_cast<absl::StatusCode>(response.error_response().error_code()),
                         response.error_response().error_message());
      }
      for (const auto& service : response.list_services_response().service()) {
        services.push_back(service.name());
      }
    }
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return client::ToAbslStatus(status);
  if (!answer_error.ok()) return answer_error;
  std::sort(services.begin(), services.end());
  return services;
}

absl::StatusOr<std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service,
                                        const std::string& bearer_token, absl::Duration deadline) {
  namespace health = ::grpc::health::v1;
  health::Health::Stub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!bearer_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", bearer_token));
  }
  health::HealthCheckRequest request;
  request.set_service(service);
  health::HealthCheckResponse response;
  const grpc::Status status = stub.Check(&context, request, &response);
  if (!status.ok()) return client::ToAbslStatus(status);
  return health::HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace securelink::invitations::invitectl
