using Grpc.Net.Client;

namespace SineGrpc.Client.Cli;

/// <summary>Opens the gRPC channel to a Sine server.</summary>
internal static class SineChannel
{
    public static GrpcChannel Open(Uri server) => GrpcChannel.ForAddress(server, new GrpcChannelOptions
    {
        // Replies carry masks of whole frames; the 4 MB default is tight for large frames with many objects.
        MaxReceiveMessageSize = 64 * 1024 * 1024,
        // Frames may be large too (raw 1080p is 6 MB); the server sets its own limit.
        MaxSendMessageSize = null,
    });
}
