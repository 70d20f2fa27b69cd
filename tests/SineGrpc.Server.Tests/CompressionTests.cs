using Google.Protobuf;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Compressed requests are served, and one that inflates past Limits:MaxMessageBytes is
/// refused while it inflates (grpc-dotnet alone checks only the compressed length); a
/// reply over the limit is refused by its frame alone.
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

    // Masks within the pixel budget can still make a reply over the message limit: COCO RLE
    // of a checkerboard takes a byte a pixel. grpc-dotnet would refuse to send such a reply
    // and end the stream; the frame gets the error instead, and the stream goes on.
    [Fact]
    public async Task A_reply_over_the_message_limit_is_that_frames_error_and_the_stream_goes_on()
    {
        using var video = new SyntheticVideo();
        var (frames, _) = TrackClient.PromptedClip(video, 2);
        var checkerboard = new byte[SyntheticVideo.Width * SyntheticVideo.Height];
        for (var p = 0; p < checkerboard.Length; p++)
            checkerboard[p] = (byte)((p % SyntheticVideo.Width + p / SyntheticVideo.Width) % 2);
        // 16 objects prompted as they are returned on their frame: about 16 x 76,800 bytes of RLE.
        for (byte id = 2; id <= 16; id++)
            frames[0].Frame.Prompts.Add(TrackClient.PngPrompt(id, SyntheticVideo.MaskPng([.. checkerboard.Select(on => (byte)(on * id))], id)));
        Assert.True(frames[0].CalculateSize() < MessageLimit / 4, "the request itself is small");
        var client = new Segmentation.SegmentationClient(_server.Channel);

        var replies = await TrackClient.RunAsync(client, frames.Prepend(TrackClient.Start(ServerFixture.TokenModel)));

        Assert.Equal([0ul, 1ul], replies.Select(r => r.FrameIndex));
        Assert.Equal(StatusCode.ResourceExhausted, (StatusCode)replies[0].Error.Code);
        Assert.Matches(@"^the reply to frame 0 would be \d+ bytes, over Limits:MaxMessageBytes \(1048576\): ask for PNG masks", replies[0].Error.Message);
        Assert.Null(replies[1].Error);
        Assert.Equal(Enumerable.Range(1, 16).Select(id => (uint)id), replies[1].Objects.Select(o => o.ObjectId));
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
