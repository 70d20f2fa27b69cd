using Grpc.Core;

namespace SineGrpc.Client.Cli;

/// <summary>Explains a failed call to a person: the gRPC status, and a hint at the usual cause.</summary>
internal static class RpcErrors
{
    public static string Describe(string operation, RpcException ex, Uri server)
    {
        var detail = string.IsNullOrWhiteSpace(ex.Status.Detail) ? "" : $": {ex.Status.Detail}";
        var message = $"error: {operation} failed with gRPC status {ex.StatusCode} ({(int)ex.StatusCode}){detail}";
        var hint = UntrustedCertificate(ex)
            ? "the server's TLS certificate is not trusted here; for a self-signed or private-CA certificate, " +
              "name it for this command: SSL_CERT_FILE=<its .crt> sine ..."
            : Hint(ex.StatusCode, server);
        return hint is null ? message : $"{message}\nhint: {hint}";
    }

    private static bool UntrustedCertificate(RpcException ex)
    {
        for (Exception? e = ex.Status.DebugException; e is not null; e = e.InnerException)
        {
            if (e is System.Security.Authentication.AuthenticationException)
                return true;
        }
        return false;
    }

    private static string? Hint(StatusCode code, Uri server) => code switch
    {
        StatusCode.Unavailable =>
            $"is the server running at {server}? Check the address (--server or $SINE_SERVER), and use http:// for a plain-text server or https:// for TLS.",
        StatusCode.Unimplemented =>
            $"the server at {server} does not serve sine.v1.Segmentation; is --server pointing at the right service?",
        StatusCode.NotFound => "unknown model? Run 'sine models' to list the served models.",
        StatusCode.ResourceExhausted => "the server is at its limit of concurrent streams (or the message was too large); try again later.",
        StatusCode.DeadlineExceeded => "the server did not answer in time; it may be overloaded.",
        StatusCode.Unauthenticated or StatusCode.PermissionDenied => "the server refused the client's credentials.",
        StatusCode.Internal when server.Scheme == Uri.UriSchemeHttp =>
            "if the server only accepts TLS, use an https:// address.",
        _ => null,
    };
}
