using Google.Protobuf;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class IsolationTests(ServerFixture server)
{
    [Fact]
    public async Task A_client_sending_garbage_costs_a_concurrent_client_nothing()
    {
        using var video = new SyntheticVideo();
        var (frames, truths) = TrackClient.PromptedClip(video, 8);
        var bad = new List<TrackRequest> { TrackClient.Start() };
        var random = new Random(3);
        for (var t = 0; t < 8; t++)
        {
            var garbage = new byte[2000];
            random.NextBytes(garbage);
            bad.Add(TrackClient.Frame((ulong)t, garbage, TrackClient.PngPrompt(1, garbage)));
        }

        var goodRun = TrackClient.RunAsync(server.Client, [TrackClient.Start(), .. frames]);
        var badRun = TrackClient.RunAsync(server.Client, bad);
        var (goodReplies, badReplies) = (await goodRun, await badRun);

        Assert.All(badReplies, r => Assert.Equal("INVALID_ARGUMENT", r.Error.Status));
        Assert.Equal(8, goodReplies.Count);
        Assert.All(goodReplies, r => Assert.Null(r.Error));
        var meanIoU = TrackClient.MeanIoUAfterPrompt(goodReplies, truths);
        Assert.True(meanIoU >= 0.5, $"mean IoU {meanIoU:F3}");
    }

    [Fact]
    public async Task Clients_that_cancel_mid_stream_free_their_slots_and_cost_a_concurrent_client_nothing()
    {
        using var video = new SyntheticVideo();
        var (frames, truths) = TrackClient.PromptedClip(video, 8);
        using var cancelled = new ErrorCount(server.Services, "CANCELLED");

        var goodRun = TrackClient.RunAsync(server.Client, [TrackClient.Start(), .. frames]);
        // Cancelled while the server waits for a message, while it works on the prompted
        // frame, and while it works on a frame against a stored memory. A lease or batch
        // place kept by a cancelled frame would stall every later stream; a slot kept would
        // refuse them.
        var streamsCancelled = 0;
        for (var round = 0; round < 2; round++)
        {
            for (var sent = 0; sent < 3; sent++)
            {
                // Every stream cancelled so far has ended on the server (a cancelled stream's
                // handler may start after its client has moved on, and only then take a slot),
                // and two slots are free: one for this stream and one for the good run, which
                // may not have taken its own yet (it starts concurrently).
                await Wait.UntilAsync(() => cancelled.Value >= streamsCancelled && server.Slots.Open < ServerFixture.StreamLimit - 1, TimeSpan.FromSeconds(10));
                using var cancel = new CancellationTokenSource();
                using var call = server.Client.Track(cancellationToken: cancel.Token);
                await call.RequestStream.WriteAsync(TrackClient.Start());
                if (sent >= 1)
                    await call.RequestStream.WriteAsync(frames[0]);
                if (sent >= 2)
                {
                    Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                    Assert.Null(call.ResponseStream.Current.Error);
                    await call.RequestStream.WriteAsync(frames[1]);
                }
                cancel.Cancel();
                streamsCancelled++;
            }
        }

        var goodReplies = await goodRun.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(8, goodReplies.Count);
        Assert.All(goodReplies, r => Assert.Null(r.Error));
        var meanIoU = TrackClient.MeanIoUAfterPrompt(goodReplies, truths);
        Assert.True(meanIoU >= 0.5, $"mean IoU {meanIoU:F3}");

        // Each cancelled stream is counted (and logged) as such; the served ones are not. The
        // last one's handler may still be to start, as above.
        await Wait.UntilAsync(() => cancelled.Value >= streamsCancelled && server.Slots.Open == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(6, streamsCancelled);
        Assert.Equal(streamsCancelled, cancelled.Value);
        // Every lease came back: a stream after them all is served as the first one was.
        var after = await TrackClient.RunAsync(server.Client, [TrackClient.Start(), .. frames.Take(3)]).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(3, after.Count);
        Assert.All(after, r => Assert.Null(r.Error));
    }

    [Fact]
    public async Task More_objects_than_the_limit_is_invalid_argument_for_that_frame()
    {
        using var video = new SyntheticVideo();
        var (frame, _) = video.Render(0);
        using (frame)
        {
            // Ten 10-pixel-wide vertical bands with ids 1..10 (the fixture allows 8 objects).
            var ids = new byte[SyntheticVideo.Width * SyntheticVideo.Height];
            for (var p = 0; p < ids.Length; p++)
                ids[p] = (byte)Math.Min(10, p % SyntheticVideo.Width / 10 + 1);
            using var index = OpenCvSharp.Mat.FromPixelData(SyntheticVideo.Height, SyntheticVideo.Width, OpenCvSharp.MatType.CV_8UC1, ids);
            var prompt = new Prompt { ObjectId = 0, Mask = new Mask { Png = ByteString.CopyFrom(index.ImEncode(".png")) } };

            var replies = await TrackClient.RunAsync(server.Client, [TrackClient.Start(), TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), prompt)]);

            var error = Assert.Single(replies).Error;
            Assert.Equal("INVALID_ARGUMENT", error.Status);
            Assert.Contains("limit of 8", error.Message);
        }
    }

    [Fact]
    public async Task Health_check_is_unhealthy_until_models_are_loaded()
    {
        var options = Options.Create(new EngineOptions());
        using var catalog = new ModelCatalog(new SessionFactory(options, NullLogger<SessionFactory>.Instance), options, NullLogger<ModelCatalog>.Instance);
        var lifetime = new Microsoft.Extensions.Hosting.Internal.ApplicationLifetime(NullLogger<Microsoft.Extensions.Hosting.Internal.ApplicationLifetime>.Instance);
        var drain = new DrainCoordinator(lifetime, new StreamSlots(Options.Create(new ServiceLimits())), Options.Create(new DrainOptions()), NullLogger<DrainCoordinator>.Instance);
        var result = await new ModelsReadyHealthCheck(catalog, drain).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("loading", result.Description);
    }
}
