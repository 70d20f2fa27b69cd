using Google.Protobuf;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Compressed requests are served, and one that inflates past Limits:MaxMessageBytes is
/// refused while it inflates (grpc-dotnet alone checks only the compressed length).
/// </summary>
public sealed class CompressionTests : IAsyncLifetime
{
    private const int MessageLimit = 1 << 20;
    private static readonly Metadata Gzip = new() { { "grpc-internal-encoding-request", "gzip" } };
    private OwnServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await OwnServer.StartAsync("compression", new Dictionary<string, string?> { ["Limits:MaxMessageBytes"] = MessageLimit.ToString() });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_gzip_request_that_inflates_past_the_message_limit_is_refused()
    {
        // 8 MB of zeros: about 8 KB compressed, well under the limit until inflated.
        var request = new SegmentRequest { Target = new Image { Encoded = ByteString.CopyFrom(new byte[8 * MessageLimit]) } };
        var client = new Segmentation.SegmentationClient(_server.Channel);

        var error = await Assert.ThrowsAsync<RpcException>(() => client.SegmentAsync(request, Gzip, DateTime.UtcNow.AddMinutes(1)).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains($"a gzip-compressed message inflates to more than {MessageLimit} bytes, over Limits:MaxMessageBytes", error.Status.Detail);
    }

    [Fact]
    public async Task A_gzip_track_stream_is_served()
    {
        using var video = new SyntheticVideo();
        var (frames, _) = TrackClient.PromptedClip(video, 3);
        var client = new Segmentation.SegmentationClient(_server.Channel);
        using var call = client.Track(Gzip, DateTime.UtcNow.AddMinutes(1));

        foreach (var request in frames.Prepend(TrackClient.Start(ServerFixture.TokenModel)))
            await call.RequestStream.WriteAsync(request);
        await call.RequestStream.CompleteAsync();
        var replies = new List<TrackResponse>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
            replies.Add(reply);

        Assert.Equal([0ul, 1ul, 2ul], replies.Select(r => r.FrameIndex));
        Assert.All(replies, r => Assert.Null(r.Error));
        Assert.All(replies, r => Assert.Equal([1u], r.Objects.Select(o => o.ObjectId)));
    }
}
