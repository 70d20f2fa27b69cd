using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>Graceful drain, on a server of its own (it gets stopped).</summary>
public sealed class DrainTests : IAsyncLifetime
{
    // Long enough for the steps inside it (health poll, a refused call, one frame) on a
    // CPU busy with the rest of the suite: at 3 s the period sometimes ended before the
    // test's next frame was sent.
    private const int GraceSeconds = 8;
    private OwnServer _server = null!;
    private WebApplication _app = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _server = await OwnServer.StartAsync("drain", new Dictionary<string, string?> { ["Drain:GracePeriodSeconds"] = GraceSeconds.ToString() });
        _app = _server.App;
        _channel = _server.Channel;
    }

    [Fact]
    public async Task Sigterm_turns_health_off_refuses_new_streams_and_ends_open_ones_after_the_grace_period()
    {
        var client = new Segmentation.SegmentationClient(_channel);
        var health = new Health.HealthClient(_channel);
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using var open = client.Track();
        await open.RequestStream.WriteAsync(TrackClient.Start(ServerFixture.TokenModel));
        await open.RequestStream.WriteAsync(TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), TrackClient.TruthPrompt(truth, 1)));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));

        // A client-side health check (Watch) hears SERVING now...
        using var watchEnd = new CancellationTokenSource();
        var watch = health.Watch(new HealthCheckRequest(), cancellationToken: watchEnd.Token);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, watch.ResponseStream.Current.Status);

        var clock = Stopwatch.StartNew();
        var stopping = Task.Run(() => _app.StopAsync());     // what SIGTERM does

        // ...and NOT_SERVING as soon as the drain begins (its call then ends; the periodic
        // publisher would take minutes), as does Check, while the stream is still open.
        using (var heard = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
            Assert.True(await watch.ResponseStream.MoveNext(heard.Token));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, watch.ResponseStream.Current.Status);
        await watchEnd.CancelAsync();
        watch.Dispose();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest())).Status);

        // New streams are refused.
        var refused = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(client, [TrackClient.Start(ServerFixture.TokenModel)]));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);

        // The open stream still works during the grace period...
        await open.RequestStream.WriteAsync(TrackClient.Frame(1, SyntheticVideo.Jpeg(frame)));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Single(open.ResponseStream.Current.Objects);

        // ...and then ends with UNAVAILABLE and a message a client can act on.
        var ended = await Assert.ThrowsAsync<RpcException>(() => open.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(ended.StatusCode == StatusCode.Unavailable, $"the stream ended with {ended.Status}, not UNAVAILABLE");
        Assert.Contains("new stream", ended.Status.Detail);

        await stopping;
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(GraceSeconds + 8), $"shutdown took {clock.Elapsed}");
        frame.Dispose();
    }

    [Fact]
    public async Task A_stream_whose_client_stopped_reading_is_reset_so_shutdown_stays_bounded()
    {
        var client = new Segmentation.SegmentationClient(_channel);
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        var jpeg = SyntheticVideo.Jpeg(frame);
        var prompt = TrackClient.TruthPrompt(truth, 1);
        frame.Dispose();

        // Replies as PNG masks at 4K are large: a client that sends frames and never reads
        // soon fills the HTTP/2 window and Kestrel's response buffer, and the server's next
        // write waits for a reader that never comes.
        var clockSinceStart = Stopwatch.StartNew();
        using var stuck = client.Track();
        var start = TrackClient.Start(ServerFixture.TokenModel);
        start.Start.Output = new OutputOptions { MaskEncoding = MaskEncoding.Png, Width = 3840, Height = 2160 };
        await stuck.RequestStream.WriteAsync(start);
        using var stopSending = new CancellationTokenSource();
        var sent = 0;
        var sending = Task.Run(async () =>
        {
            for (ulong t = 0; !stopSending.IsCancellationRequested; t++)
            {
                await stuck.RequestStream.WriteAsync(t == 0 ? TrackClient.Frame(t, jpeg, prompt) : TrackClient.Frame(t, jpeg), stopSending.Token);
                Interlocked.Increment(ref sent);
            }
        });
        // Until the server stops taking frames (its write of a reply is blocked): a second
        // without a frame sent, after the first few.
        for (var last = -1; Volatile.Read(ref sent) != last || last < 1;)
        {
            last = Volatile.Read(ref sent);
            if (await Task.WhenAny(sending, Task.Delay(1000)) == sending)
                await sending;  // throws what ended it
            Assert.True(clockSinceStart.Elapsed < TimeSpan.FromSeconds(60), $"the server still takes frames after {sent}");
        }

        var clock = Stopwatch.StartNew();
        await _app.StopAsync();     // what SIGTERM does
        var elapsed = clock.Elapsed;

        // The stream outlived the grace period and the moment after it for its final status
        // (it could not send it), so the drain had to reset it; shutdown still ended soon after.
        Assert.True(elapsed >= TimeSpan.FromSeconds(GraceSeconds + 1.5), $"shutdown took only {elapsed}: the stream was not stuck, so the reset was not exercised");
        Assert.True(elapsed < TimeSpan.FromSeconds(GraceSeconds + 8), $"shutdown took {elapsed}");
        stopSending.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => sending);

        // The client learns that the stream is over: after the replies that got through, an error.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ended = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await stuck.ResponseStream.MoveNext(timeout.Token)) { }
        });
        Assert.False(timeout.IsCancellationRequested, "the client was never told that the stream is over");
        Assert.NotEqual(StatusCode.OK, ended.StatusCode);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();
}
