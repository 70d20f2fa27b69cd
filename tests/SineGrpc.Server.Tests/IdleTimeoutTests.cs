using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A stream whose client forgot it (its connection alive, so keep-alive pings find nothing
/// wrong) gives back its slot after Limits:StreamIdleTimeoutSeconds. On a server of its
/// own with a three-second limit, alone (<see cref="TimingCollection"/>).
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class IdleTimeoutTests : IAsyncLifetime
{
    private const int IdleSeconds = 3;
    private OwnServer _server = null!;

    public async Task InitializeAsync() => _server = await OwnServer.StartAsync("idle", new Dictionary<string, string?>
    {
        ["Limits:StreamIdleTimeoutSeconds"] = IdleSeconds.ToString(),
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private StreamSlots Slots => _server.App.Services.GetRequiredService<StreamSlots>();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_that_sends_nothing_ends_with_deadline_exceeded_but_a_slow_one_goes_on(bool live)
    {
        var client = new Segmentation.SegmentationClient(_server.Channel);
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        var jpeg = SyntheticVideo.Jpeg(frame);
        frame.Dispose();
        using var call = client.Track();
        var start = TrackClient.Start(ServerFixture.TokenModel);
        start.Start.Live = live;
        await call.RequestStream.WriteAsync(start);

        // Two frames a second, well under the limit, for twice the limit: the stream goes on.
        var clock = new Stopwatch();
        for (ulong t = 0; t < 4 * IdleSeconds; t++)
        {
            await call.RequestStream.WriteAsync(t == 0 ? TrackClient.Frame(t, jpeg, TrackClient.TruthPrompt(truth, 1)) : TrackClient.Frame(t, jpeg));
            // The server's wait for the next message starts once this one has arrived (live
            // mode reads ahead) or its reply is written, never before: clock from here.
            clock.Restart();
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(t, call.ResponseStream.Current.FrameIndex);
            await Task.Delay(TimeSpan.FromSeconds(0.5));
        }
        Assert.Equal(1, Slots.Open);

        // Then nothing: the server ends the stream, saying why and what to do.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ended = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(timeout.Token));
        Assert.Equal(StatusCode.DeadlineExceeded, ended.StatusCode);
        Assert.Contains("for a message from the client (Limits:StreamIdleTimeoutSeconds)", ended.Status.Detail);
        Assert.Contains("open a new stream", ended.Status.Detail);
        // The clock started before the server's wait did, so it cannot show less than the limit
        // (a timer tick of slack).
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(IdleSeconds - 0.1), $"ended {clock.Elapsed} after the last frame was sent, before the limit of {IdleSeconds} s");
        await Wait.UntilAsync(() => Slots.Open == 0, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_stream_whose_client_stopped_reading_is_reset()
    {
        var client = new Segmentation.SegmentationClient(_server.Channel);
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        var jpeg = SyntheticVideo.Jpeg(frame);
        var prompt = TrackClient.TruthPrompt(truth, 1);
        frame.Dispose();

        // 4K PNG replies fill the HTTP/2 window within a few frames of a client that never reads.
        using var stuck = client.Track();
        var start = TrackClient.Start(ServerFixture.TokenModel);
        start.Start.Output = new OutputOptions { MaskEncoding = MaskEncoding.Png, Width = 3840, Height = 2160 };
        await stuck.RequestStream.WriteAsync(start);
        using var stopSending = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            for (ulong t = 0; !stopSending.IsCancellationRequested; t++)
                await stuck.RequestStream.WriteAsync(t == 0 ? TrackClient.Frame(t, jpeg, prompt) : TrackClient.Frame(t, jpeg), stopSending.Token);
        });

        // The server's write waits for a reader that never comes; past the limit it gives up
        // and resets the stream (a status could not get through), freeing the slot.
        await Wait.UntilAsync(() => Slots.Open == 1, TimeSpan.FromSeconds(60));
        await Wait.UntilAsync(() => Slots.Open == 0, TimeSpan.FromSeconds(60));
        stopSending.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => sending);
    }
}

/// <summary>
/// Tests that measure seconds of waiting run on their own, after the others: beside the
/// embedded model's frames on two cores, a client's half-second pause can stretch past a
/// three-second limit (seen in CI).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "timing";
}
