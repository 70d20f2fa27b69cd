using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class EncoderBatcherTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sine-batcher-").FullName;

    [Fact]
    public async Task Batched_encoder_outputs_equal_unbatched_ones()
    {
        const int height = 96, width = 128, channels = 256;
        var bundle = EmbeddedModel.EnsureBuilt(_folder, NullLogger.Instance, new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = 16 });
        var factory = new SessionFactory(Options.Create(new EngineOptions { Device = "cpu" }), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", Path.Combine(bundle, "encoder.onnx"));
        var metrics = new EngineMetrics();
        long[] shape = [1, channels, height / 16, width / 16];
        var random = new Random(5);
        var images = Enumerable.Range(0, 3).Select(_ =>
        {
            var image = encoder.InputMemory.Rent(3 * height * width);
            for (var i = 0; i < image.Length; i++)
                image.Span[i] = (float)(random.NextDouble() * 200 - 100);
            return image;
        }).ToList();

        // Unbatched: one run per image.
        var alone = new List<float[]>();
        var unbatched = new EncoderBatcher(encoder, new BatchingOptions { MaxBatchSize = 1 }, metrics);
        await using (unbatched)
        {
            foreach (var image in images)
            {
                using var output = new PooledArray<float>(channels * (height / 16) * (width / 16));
                await unbatched.EncodeAsync(image, height, width, output, shape, CancellationToken.None);
                alone.Add(output.Span.ToArray());
            }
        }

        // Batched: three streams send at once and wait for each other.
        var runsBefore = encoder.Runs;
        var batcher = new EncoderBatcher(encoder, new BatchingOptions { MaxBatchSize = 4, MaxQueueDelayMicroseconds = 2_000_000 }, metrics);
        await using (batcher)
        {
            var members = images.Select(_ => batcher.Join()).ToList();
            var outputs = images.Select(_ => new PooledArray<float>(channels * (height / 16) * (width / 16))).ToList();
            await Task.WhenAll(images.Select((image, i) => batcher.EncodeAsync(image, height, width, outputs[i], shape, CancellationToken.None)));
            Assert.Equal(1, encoder.Runs - runsBefore);   // one batch of three
            for (var i = 0; i < images.Count; i++)
            {
                var difference = outputs[i].Span.ToArray().Zip(alone[i], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(difference <= 1e-4, $"image {i}: batched and unbatched differ by {difference}");
                outputs[i].Dispose();
            }
            members.ForEach(m => m.Dispose());
        }
        images.ForEach(i => i.Dispose());
    }

    [Fact]
    public async Task A_lone_stream_does_not_wait_for_a_batch()
    {
        var bundle = EmbeddedModel.EnsureBuilt(_folder, NullLogger.Instance, new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = 16 });
        var factory = new SessionFactory(Options.Create(new EngineOptions { Device = "cpu" }), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", Path.Combine(bundle, "encoder.onnx"));
        // A 10 s queue delay would show if the batcher waited for a second stream that does not exist.
        var batcher = new EncoderBatcher(encoder, new BatchingOptions { MaxBatchSize = 4, MaxQueueDelayMicroseconds = 10_000_000 }, new EngineMetrics());
        await using (batcher)
        {
            using var member = batcher.Join();
            using var image = encoder.InputMemory.Rent(3 * 32 * 32);
            image.Span.Clear();
            using var output = new PooledArray<float>(256 * 2 * 2);
            var encode = batcher.EncodeAsync(image, 32, 32, output, [1, 256, 2, 2], CancellationToken.None);
            Assert.Same(encode, await Task.WhenAny(encode, Task.Delay(TimeSpan.FromSeconds(5))));
        }
    }

    [Fact]
    public async Task A_withdrawn_frame_is_left_out_of_its_batch_and_its_buffers_are_not_touched()
    {
        var bundle = EmbeddedModel.EnsureBuilt(_folder, NullLogger.Instance, new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = 16 });
        var factory = new SessionFactory(Options.Create(new EngineOptions { Device = "cpu" }), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", Path.Combine(bundle, "encoder.onnx"));
        var batcher = new EncoderBatcher(encoder, new BatchingOptions { MaxBatchSize = 2, MaxQueueDelayMicroseconds = 10_000_000 }, new EngineMetrics());
        await using (batcher)
        {
            // Two streams: the first frame waits up to 10 s for the second stream's frame.
            using var first = batcher.Join();
            using var second = batcher.Join();
            using var image = encoder.InputMemory.Rent(3 * 32 * 32);
            image.Span.Fill(1f);
            using var withdrawnOutput = new PooledArray<float>(256 * 2 * 2);
            withdrawnOutput.Span.Fill(float.NaN);
            using var cancellation = new CancellationTokenSource();
            var withdrawn = batcher.EncodeAsync(image, 32, 32, withdrawnOutput, [1, 256, 2, 2], cancellation.Token);
            await Task.Delay(200);
            cancellation.Cancel();
            var finished = await Task.WhenAny(withdrawn, Task.Delay(TimeSpan.FromSeconds(5)));
            Assert.Same(withdrawn, finished);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => withdrawn);

            // The second frame completes the waiting batch, which must run it alone.
            var runsBefore = encoder.Runs;
            using var output = new PooledArray<float>(256 * 2 * 2);
            output.Span.Fill(float.NaN);
            await batcher.EncodeAsync(image, 32, 32, output, [1, 256, 2, 2], CancellationToken.None);
            Assert.Equal(1, encoder.Runs - runsBefore);
            Assert.DoesNotContain(output.Span.ToArray(), float.IsNaN);
            // The withdrawn caller may already have handed its output to another stream.
            Assert.All(withdrawnOutput.Span.ToArray(), value => Assert.True(float.IsNaN(value)));
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
