using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class BackpressureTests(ServerFixture server)
{
    /// <summary>Far more frames than any sane buffering would hold: a writer that gets this far was never held back.</summary>
    private const int UnboundedWrites = 4000;
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_client_that_never_reads_is_held_back_by_flow_control_and_costs_other_streams_nothing()
    {
        using var video = new SyntheticVideo();
        var (first, truth) = video.Render(0);
        byte[] jpeg;
        using (first)
            jpeg = SyntheticVideo.Jpeg(first);

        // The slow reader: writes frames as fast as it can and reads nothing. The server
        // answers a frame before it reads the next, so once the replies fill the HTTP/2
        // windows its writes wait, it stops reading, and the client's writes wait in turn.
        using var slow = server.Client.Track(deadline: DateTime.UtcNow.AddMinutes(5));
        await slow.RequestStream.WriteAsync(TrackClient.Start(ServerFixture.TokenModel));
        var written = 0;
        Task? stalled = null;
        while (written < UnboundedWrites)
        {
            var prompts = written == 0 ? new[] { TrackClient.TruthPrompt(truth, 1) } : [];
            var write = slow.RequestStream.WriteAsync(TrackClient.Frame((ulong)written, jpeg, prompts));
            if (await Task.WhenAny(write, Task.Delay(StallTimeout)) != write)
            {
                stalled = write;
                break;
            }
            await write;
            written++;
        }
        Assert.True(stalled is not null, $"the server took {written} frames from a client that read no reply: nothing held it back");

        // Meanwhile another client (its own connection) is served as usual. Streams that share
        // one HTTP/2 connection also share its flow-control window, which the slow stream's
        // unread data holds: the README tells clients to give independent videos their own channel.
        var (otherFrames, truths) = TrackClient.PromptedClip(video, 6);
        using var otherChannel = Grpc.Net.Client.GrpcChannel.ForAddress(server.Address);
        var otherRun = TrackClient.RunAsync(new Segmentation.SegmentationClient(otherChannel), [TrackClient.Start(ServerFixture.TokenModel), .. otherFrames]);
        Assert.Same(otherRun, await Task.WhenAny(otherRun, Task.Delay(TimeSpan.FromMinutes(1))));
        var replies = await otherRun;
        Assert.Equal(6, replies.Count);
        Assert.All(replies, r => Assert.Null(r.Error));
        var meanIoU = TrackClient.MeanIoUAfterPrompt(replies, truths);
        Assert.True(meanIoU >= 0.5, $"mean IoU {meanIoU:F3}");

        // When the slow client reads at last, every frame it sent is answered, in order: nothing was dropped.
        var reading = Task.Run(async () =>
        {
            var indices = new List<ulong>();
            await foreach (var reply in slow.ResponseStream.ReadAllAsync())
            {
                Assert.Null(reply.Error);
                indices.Add(reply.FrameIndex);
            }
            return indices;
        });
        await stalled; // goes through once the replies are read
        await slow.RequestStream.CompleteAsync();
        var answered = await reading;
        Assert.Equal(Enumerable.Range(0, written + 1).Select(i => (ulong)i), answered);
    }
}
