using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A tokens-kind stream with more objects than one pooling run takes (the memory pools
/// masks a few at a time): every object gets what it would get on a stream of its own.
/// </summary>
public sealed class ManyObjectsTests : IAsyncLifetime
{
    private const int Objects = 19;   // two full pooling runs of 8 and part of a third
    private OwnServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await OwnServer.StartAsync("many-objects", new Dictionary<string, string?>());

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Each_object_is_tracked_as_it_would_be_alone()
    {
        using var video = new SyntheticVideo();
        var jpegs = Enumerable.Range(0, 4).Select(t =>
        {
            var (frame, _) = video.Render(t);
            using (frame)
                return SyntheticVideo.Jpeg(frame);
        }).ToList();
        var client = new Segmentation.SegmentationClient(_server.Channel);

        var together = await TrackClient.RunAsync(client, Requests(jpegs, Enumerable.Range(1, Objects)));
        for (var id = 1; id <= Objects; id++)
        {
            var alone = await TrackClient.RunAsync(client, Requests(jpegs, [id]));
            for (var t = 0; t < jpegs.Count; t++)
            {
                var mine = Assert.Single(together[t].Objects, o => o.ObjectId == id);
                var own = Assert.Single(alone[t].Objects);
                Assert.Equal(own.Score, mine.Score, 1e-5f);
                Assert.Equal(own.Mask.Rle.Counts, mine.Mask.Rle.Counts);
            }
        }
    }

    // Object k: a 14x14 square in a grid cell of its own, prompted on frame 0.
    private static List<TrackRequest> Requests(List<byte[]> jpegs, IEnumerable<int> ids)
    {
        var prompts = ids.Select(id =>
        {
            var mask = new byte[SyntheticVideo.Width * SyntheticVideo.Height];
            var (row, column) = ((id - 1) / 8, (id - 1) % 8);
            for (var y = 0; y < 14; y++)
                mask.AsSpan((20 + 40 * row + y) * SyntheticVideo.Width + 10 + 40 * column, 14).Fill((byte)id);
            return TrackClient.PngPrompt((uint)id, SyntheticVideo.MaskPng(mask, (byte)id));
        }).ToArray();
        return [TrackClient.Start(ServerFixture.TokenModel), .. jpegs.Select((jpeg, t) => TrackClient.Frame((ulong)t, jpeg, t == 0 ? prompts : []))];
    }
}
