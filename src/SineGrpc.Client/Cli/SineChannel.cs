using Grpc.Net.Client;

namespace SineGrpc.Client.Cli;

/// <summary>Opens the gRPC channel to a Sine server.</summary>
internal static class SineChannel
{
    public static GrpcChannel Open(Uri server) => GrpcChannel.ForAddress(server, new GrpcChannelOptions
    {
        HttpHandler = CreateHandler(),
        DisposeHttpClient = true,
        // Replies carry masks of whole frames; the 4 MB default is tight for large frames with many objects.
        MaxReceiveMessageSize = 64 * 1024 * 1024,
        // Frames may be large too (raw 1080p is 6 MB); the server sets its own limit.
        MaxSendMessageSize = null,
    });

    /// <summary>
    /// The HTTP handler under the channel. Without keep-alive pings a half-open connection (a
    /// server that vanished without closing it) leaves a Track call waiting for a reply forever;
    /// with them the connection is dropped when a ping goes unanswered, and the call fails with
    /// UNAVAILABLE, which <c>track</c> resumes from.
    /// </summary>
    internal static SocketsHttpHandler CreateHandler() => new()
    {
        // What GrpcChannel's own handler sets: more than one connection when a server caps streams per connection.
        EnableMultipleHttp2Connections = true,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        // Also while a call waits on a reply with nothing in flight: that is when a dead connection hangs it.
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
    };
}
