using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sine.V1;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class SegmentAndModelsTests(ServerFixture server)
{
    [Theory]
    [InlineData("")]
    [InlineData(ServerFixture.TokenModel)]
    public async Task Segment_finds_the_reference_object_in_another_image(string model)
    {
        using var video = new SyntheticVideo();
        var (reference, referenceTruth) = video.Render(0);
        var (target, targetTruth) = video.Render(8);
        using (reference)
        using (target)
        {
            var request = new SegmentRequest
            {
                Model = model,
                Target = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(target)) },
                InstanceScoreThreshold = 0f,
                References =
                {
                    new Reference
                    {
                        Image = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(reference)) },
                        Prompts = { TrackClient.TruthPrompt(referenceTruth, 1) },
                    },
                },
            };

            var reply = await server.Client.SegmentAsync(request);

            Assert.Equal((uint)SyntheticVideo.Width, reply.Width);
            var obj = Assert.Single(reply.Objects);
            var iou = SyntheticVideo.IoU(TrackClient.Decode(obj), targetTruth, 1);
            Assert.True(iou >= 0.5, $"same-object IoU {iou:F3}");
            var semantic = Assert.Single(reply.Semantic);
            Assert.Equal(1u, semantic.ObjectId);
            Assert.True(SyntheticVideo.IoU(TrackClient.Decode(semantic), targetTruth, 1) >= 0.5);
            Assert.NotEmpty(reply.Instances);
            var best = reply.Instances[0];
            Assert.Equal(1u, best.Label);
            Assert.InRange(best.Area, 1ul, obj.Area);
            Assert.True(reply.Timings.TotalMs > 0);
        }
    }

    [Fact]
    public async Task Segment_without_masks_is_invalid_argument()
    {
        using var video = new SyntheticVideo();
        var (frame, _) = video.Render(0);
        using (frame)
        {
            var image = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(frame)) };
            var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(new SegmentRequest { Target = image, References = { new Reference { Image = image } } }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        }
    }

    [Theory]
    [InlineData(1, "reference 1: image bytes are not JPEG, PNG or WebP")]
    [InlineData(-1, "target: image.encoded is empty")]
    public async Task Segment_names_the_image_it_cannot_read(int broken, string message)
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var image = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(frame)) };
            var request = new SegmentRequest { Target = broken < 0 ? new Image { Encoded = ByteString.Empty } : image };
            for (var r = 0; r < 2; r++)
            {
                var bytes = r == broken ? new Image { Encoded = ByteString.CopyFromUtf8("not an image") } : image;
                request.References.Add(new Reference { Image = bytes, Prompts = { TrackClient.TruthPrompt(truth, 1) } });
            }

            var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(request).ResponseAsync);

            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Equal(message, error.Status.Detail);
        }
    }

    [Fact]
    public async Task Segment_on_the_dense_model_needs_one_feature_grid_and_says_which_image_differs()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        using (var square = frame.Resize(new OpenCvSharp.Size(SyntheticVideo.Height, SyntheticVideo.Height)))
        {
            var request = new SegmentRequest
            {
                Target = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(square)) },
                References = { new Reference { Image = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(frame)) }, Prompts = { TrackClient.TruthPrompt(truth, 1) } } },
            };
            var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(request).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("reference 0 (320x240)", error.Status.Detail);
            Assert.Contains("the target (240x240)", error.Status.Detail);
        }
    }

    [Fact]
    public async Task Segment_max_instances_beyond_int_is_served_and_a_long_model_name_is_cut_in_the_error()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var request = SelfSegment(frame, truth);
            request.MaxInstances = uint.MaxValue;
            Assert.NotEmpty((await server.Client.SegmentAsync(request)).Instances);

            request.Model = new string('m', 10_000);
            var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(request).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, error.StatusCode);
            Assert.Contains($"model '{new string('m', 64)}...' not found", error.Status.Detail);
        }
    }

    [Fact]
    public async Task Segment_calls_beyond_the_limit_wait_their_turn_within_their_deadline_and_beyond_the_queue_are_refused()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var request = SelfSegment(frame, truth);
            var gate = server.Services.GetRequiredService<SegmentGate>();
            var limit = server.Services.GetRequiredService<IOptions<ServiceLimits>>().Value.MaxConcurrentSegmentCalls;
            var turns = new List<IDisposable>();
            using var expiredCount = new ErrorCount(server.Services, "DEADLINE_EXCEEDED");
            using var cancelledCount = new ErrorCount(server.Services, "CANCELLED");
            try
            {
                for (var i = 0; i < limit; i++)
                    turns.Add((await gate.TryEnterAsync(CancellationToken.None))!);

                // Every turn taken: a call waits, and its deadline ends it on the server.
                using var oneSecond = ServerDeadline.Channel(new Uri(server.Address), TimeSpan.FromSeconds(1));
                var expired = await Assert.ThrowsAsync<RpcException>(() =>
                    new Segmentation.SegmentationClient(oneSecond).SegmentAsync(request).ResponseAsync);
                Assert.Equal(StatusCode.DeadlineExceeded, expired.StatusCode);
                await Wait.UntilAsync(() => expiredCount.Value == 1, TimeSpan.FromSeconds(10));

                // A turn given back: the waiting call goes on.
                var waiting = server.Client.SegmentAsync(request, deadline: DateTime.UtcNow.AddMinutes(2)).ResponseAsync;
                await Task.Delay(500);
                Assert.False(waiting.IsCompleted);
                turns[0].Dispose();
                var reply = await waiting;
                Assert.Single(reply.Objects);
                turns.Add((await gate.TryEnterAsync(CancellationToken.None))!);

                // Every turn taken and the queue full: the next call is refused at once.
                using var cancelWaiting = new CancellationTokenSource();
                var queued = Enumerable.Range(0, ServerFixture.SegmentQueueLimit)
                    .Select(_ => server.Client.SegmentAsync(request, cancellationToken: cancelWaiting.Token).ResponseAsync).ToList();
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (gate.Waiting < ServerFixture.SegmentQueueLimit && DateTime.UtcNow < deadline)
                    await Task.Delay(50);
                Assert.Equal(ServerFixture.SegmentQueueLimit, gate.Waiting);
                var refused = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(request).ResponseAsync);
                Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
                Assert.Contains($"Segment calls at work and {ServerFixture.SegmentQueueLimit} waiting", refused.Status.Detail);

                // Waiting calls that give up leave the queue.
                await cancelWaiting.CancelAsync();
                foreach (var call in queued)
                    Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call)).StatusCode);
                await Wait.UntilAsync(() => cancelledCount.Value == ServerFixture.SegmentQueueLimit, TimeSpan.FromSeconds(10));
                deadline = DateTime.UtcNow.AddSeconds(30);
                while (gate.Waiting > 0 && DateTime.UtcNow < deadline)
                    await Task.Delay(50);
                Assert.Equal(0, gate.Waiting);
            }
            finally
            {
                foreach (var turn in turns)
                    turn.Dispose();
            }
        }
    }

    [Fact]
    public async Task Models_are_listed_and_described()
    {
        var list = await server.Client.ListModelsAsync(new ListModelsRequest());
        Assert.Equal("resnet18-lp", list.DefaultModel);
        Assert.Equal(["resnet18-lp", ServerFixture.TokenModel], list.Models.Select(m => m.Name).Order());
        // The fixture's limits, as configured.
        Assert.Equal((uint)ServerFixture.StreamLimit, list.Limits.MaxConcurrentStreams);
        Assert.Equal(8u, list.Limits.MaxObjects);
        Assert.Equal((ulong)ServerFixture.PixelLimit, list.Limits.MaxFramePixels);
        Assert.Equal((ulong)ServerFixture.MaskPixelLimit, list.Limits.MaxMaskPixels);
        Assert.Equal(64ul * 1024 * 1024, list.Limits.MaxMessageBytes);
        Assert.Equal(16u, list.Limits.MaxReferences);
        Assert.Equal(600u, list.Limits.StreamIdleTimeoutSeconds);

        var info = await server.Client.GetModelInfoAsync(new GetModelInfoRequest());
        Assert.Equal("dense", info.MemoryKind);
        Assert.Equal("connected-components", info.InstanceSource);
        Assert.Equal("CPU", info.ExecutionProvider);
        Assert.Equal(6u, info.DefaultMemory.Capacity);
        Assert.Equal(20f, info.DefaultMemory.DecayRatio);
        Assert.True(info.DefaultMemory.FixFirstFrame);
        Assert.Equal((uint)ServerFixture.PromptedFrameLimit, info.MaxPromptedFrames);

        var tokens = await server.Client.GetModelInfoAsync(new GetModelInfoRequest { Model = ServerFixture.TokenModel });
        Assert.Equal("tokens", tokens.MemoryKind);
        Assert.Equal(0u, tokens.MaxPromptedFrames);

        using var notFound = new ErrorCount(server.Services, "NOT_FOUND");
        var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.GetModelInfoAsync(new GetModelInfoRequest { Model = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        await Wait.UntilAsync(() => notFound.Value >= 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, notFound.Value);
    }

    [Fact]
    public async Task Health_is_serving_once_models_are_loaded()
    {
        var health = new Health.HealthClient(server.Channel);
        var reply = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
        Assert.True(server.Catalog.IsReady);

        // Per service, as clients and proxies that check a named service ask.
        reply = await health.CheckAsync(new HealthCheckRequest { Service = "sine.v1.Segmentation" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
        using var notFound = new ErrorCount(server.Services, "NOT_FOUND");
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "sine.v1.Nothing" }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        // sine_errors_total counts the service's own calls, not probes asking about others.
        await Task.Delay(200);
        Assert.Equal(0, notFound.Value);
    }

    [Fact]
    public async Task Health_watch_hears_serving_as_soon_as_the_models_are_ready()
    {
        // The fixture opened a Watch while the embedded model was still being built. The
        // periodic publisher runs every few minutes: SERVING must come from the push made
        // when the models became ready, about when Check (polled every 200 ms) first said so.
        const HealthCheckResponse.Types.ServingStatus serving = HealthCheckResponse.Types.ServingStatus.Serving;
        for (var i = 0; i < 50 && !server.WatchedHealth.Any(w => w.Status == serving); i++)
            await Task.Delay(100);
        var watched = server.WatchedHealth;
        Assert.True(watched.Count >= 2, $"the Watch heard {watched.Count} status(es): {string.Join(", ", watched.Select(w => w.Status))}");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, watched[0].Status);
        Assert.Equal(serving, watched[^1].Status);
        var lag = watched.First(w => w.Status == serving).At - server.ServingSince;
        Assert.True(Math.Abs(lag.TotalSeconds) < 3, $"the Watch heard SERVING {lag.TotalSeconds:F1} s after Check first answered it");
    }

    [Fact]
    public async Task Reflection_lists_the_services()
    {
        var reflection = new ServerReflection.ServerReflectionClient(server.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("sine.v1.Segmentation", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    /// <summary>A Segment call whose target is its own reference image, labelled with object 1.</summary>
    [Fact]
    public async Task Segment_answers_within_the_mask_budget_by_capping_instances_and_refuses_what_cannot_fit()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0, secondFrom: 0);
        using (frame)
        {
            var request = SelfSegment(frame, truth);
            request.InstanceScoreThreshold = 0f;
            Assert.NotEmpty((await server.Client.SegmentAsync(request)).Instances);

            // At 1000x750 (750,000 pixels a mask) the object and semantic masks fill the
            // fixture's 2,000,000: no room is left for instances, and none are returned.
            request.Output = new OutputOptions { Width = 1000 };
            request.MaxInstances = 5;
            var reply = await server.Client.SegmentAsync(request);
            Assert.Single(reply.Objects);
            Assert.Single(reply.Semantic);
            Assert.Empty(reply.Instances);

            // Two labels on the embedded model still take two planes (their object and
            // semantic masks share the frame's plane of owners, beside one of confidence).
            request.References[0].Prompts.Add(TrackClient.TruthPrompt(truth, 2));
            reply = await server.Client.SegmentAsync(request);
            Assert.Equal([1u, 2u], reply.Objects.Select(o => o.ObjectId));
            Assert.Equal([1u, 2u], reply.Semantic.Select(o => o.ObjectId));
            Assert.Equal(reply.Objects.Select(o => o.Mask), reply.Semantic.Select(o => o.Mask));
            Assert.Empty(reply.Instances);

            // On a model whose labels' masks may overlap, two labels need four masks: 3,000,000 pixels.
            request.Model = ServerFixture.TokenModel;
            var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.SegmentAsync(request).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.StartsWith("the Segment response would hold 4 masks of 1000x750 = 3000000 pixels, over Limits:MaxMaskPixels (2000000)", error.Status.Detail);
        }
    }

    private static SegmentRequest SelfSegment(OpenCvSharp.Mat frame, byte[] truth)
    {
        var image = new Image { Encoded = ByteString.CopyFrom(SyntheticVideo.Jpeg(frame)) };
        return new SegmentRequest
        {
            Target = image,
            References = { new Reference { Image = image, Prompts = { TrackClient.TruthPrompt(truth, 1) } } },
        };
    }
}
