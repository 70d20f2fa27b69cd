using Grpc.Net.Client;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A channel whose calls carry a grpc-timeout header but no client-side deadline, so only
/// the server enforces it. With a client deadline, the client's timer fires first (the
/// server's deadline starts when the request arrives) and resets the call, which the
/// server may see as a cancellation before its own deadline passes.
/// </summary>
internal static class ServerDeadline
{
    public static GrpcChannel Channel(Uri address, TimeSpan timeout) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new TimeoutHeader(timeout) { InnerHandler = new SocketsHttpHandler() },
        });

    private sealed class TimeoutHeader(TimeSpan timeout) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.TryAddWithoutValidation("grpc-timeout", $"{(long)timeout.TotalMilliseconds}m");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
