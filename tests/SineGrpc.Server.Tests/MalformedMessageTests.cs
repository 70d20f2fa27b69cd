using Grpc.Core;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Messages that are not valid protobuf (a client with a broken encoder, a proxy that cut a
/// message) end their call with INVALID_ARGUMENT, counted, not with grpc-dotnet's UNKNOWN.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class MalformedMessageTests(ServerFixture server)
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);

    // Field 1 (Track's `start`, Segment's `model`) as length-delimited, claiming 100 bytes where 2 follow.
    private static readonly byte[] Truncated = [0x0A, 100, 1, 2];

    [Fact]
    public async Task A_track_message_that_does_not_parse_ends_the_stream_with_invalid_argument()
    {
        var track = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "sine.v1.Segmentation", "Track", Raw, Raw);
        using var errors = new ErrorCount(server.Services, "INVALID_ARGUMENT");
        using var call = server.Channel.CreateCallInvoker().AsyncDuplexStreamingCall(track, null, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(1)));

        await call.RequestStream.WriteAsync(Truncated);
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("a Track request message is not valid protobuf", error.Status.Detail);
        await Wait.UntilAsync(() => errors.Value >= 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, errors.Value);
    }

    [Fact]
    public async Task A_segment_request_that_does_not_parse_is_refused_with_invalid_argument()
    {
        var segment = new Method<byte[], byte[]>(MethodType.Unary, "sine.v1.Segmentation", "Segment", Raw, Raw);
        using var errors = new ErrorCount(server.Services, "INVALID_ARGUMENT");

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            server.Channel.CreateCallInvoker().AsyncUnaryCall(segment, null, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(1)), Truncated).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("a Segment request message is not valid protobuf", error.Status.Detail);
        // Refused before the service's handler runs, and still counted.
        await Wait.UntilAsync(() => errors.Value >= 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, errors.Value);
    }
}
