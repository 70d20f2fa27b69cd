using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using SineGrpc.Engine;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Bench;

/// <summary>
/// The baseline: the same model's ONNX graphs run in-process on the same frames, with
/// nothing around them. Inputs are prepared outside the clock; the clock covers the
/// encoder and the decoder of each frame from <paramref name="measureFrom"/> on (the
/// frames a one-stream service run measures), against a memory of the first frame plus
/// the most recent ones (the model's default memory size, full by then). Its buffers,
/// the memory's included, are allocated once, as the service's are, so that no garbage
/// collection of its own competes with the runs it times. Its stage times also show the
/// image decode and pre-processing it does outside the clock.
/// </summary>
internal static class RawPipeline
{
    public static async Task<(LatencyStats Latency, StageMeans Stages)> RunAsync(string bundle, BenchFrames frames, EngineOptions options, int measureFrom)
    {
        var manifest = ModelManifest.Read(Path.Combine(bundle, "model.json"));
        if (manifest.MemoryKind != MemoryKinds.Dense)
            throw new NotSupportedException("the raw baseline is written for dense-memory models (the embedded one)");
        var factory = new SessionFactory(Options.Create(options), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", Path.Combine(bundle, manifest.Files.Encoder));
        using var decoder = factory.Create("decoder", Path.Combine(bundle, manifest.Files.Decoder));
        using var preprocessor = new Preprocessor(manifest);
        // Held for the whole run: nothing else uses these sessions.
        using var encoderSession = await encoder.LeaseAsync();
        using var decoderSession = await decoder.LeaseAsync();

        var g = InputGeometry.For(manifest, frames.Width, frames.Height);
        var (c, h, w) = (manifest.FeatureChannels, g.FeatureHeight, g.FeatureWidth);
        var cells = h * w;
        var (featureSize, labelSize) = (c * cells, 2 * cells);
        var input = new float[3 * g.PaddedHeight * g.PaddedWidth];
        var features = new float[featureSize];
        // Memory: slot 0 holds the first frame for good, the others the most recent frames,
        // each new frame taking the oldest one's slot (the decoder does not care about order).
        var capacity = manifest.Memory.Capacity;
        var memoryFeatures = new float[capacity * featureSize];
        var memoryLabels = new float[capacity * labelSize];
        var stored = 0;
        var stats = new LatencyStats();
        var stages = new StageMeans();

        for (var t = 0; t < frames.Jpegs.Count; t++)
        {
            var decodeStarted = Stopwatch.GetTimestamp();
            using var image = Cv2.ImDecode(frames.Jpegs[t], ImreadModes.Color);
            var decodeMs = Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds;
            var preprocessStarted = Stopwatch.GetTimestamp();
            preprocessor.Run(image, g, input);
            var preprocessMs = Stopwatch.GetElapsedTime(preprocessStarted).TotalMilliseconds;
            var slot = t == 0 ? 0 : 1 + (t - 1) % (capacity - 1);

            var started = Stopwatch.GetTimestamp();
            using (var inputValue = OrtValue.CreateTensorValueFromMemory(input, [1, 3, g.PaddedHeight, g.PaddedWidth]))
            using (var featureValue = OrtValue.CreateTensorValueFromMemory(features, [1, c, h, w]))
                encoderSession.RunInto(["image"], [inputValue], "features", featureValue);
            var encoderMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var labels = memoryLabels.AsSpan(slot * labelSize, labelSize);
            if (t == 0)
            {
                FirstLabels(frames, manifest, g, preprocessor, labels);
            }
            else
            {
                // Against the frames stored so far; this frame enters memory after it is decoded.
                using var target = OrtValue.CreateTensorValueFromMemory(features, [1, c, h, w]);
                using var mf = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memoryFeatures.AsMemory(0, stored * featureSize), [stored, c, h, w]);
                using var ml = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memoryLabels.AsMemory(0, stored * labelSize), [stored, 2, h, w]);
                using var outputs = decoderSession.Run(["features", "memory_features", "memory_labels"], [target, mf, ml], ["labels"]);
                var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (t >= measureFrom)
                {
                    stats.Add(totalMs);
                    stages.Add(decodeMs, preprocessMs, encoderMs, totalMs - encoderMs, double.NaN, double.NaN, totalMs);
                }
                outputs.First().GetTensorDataAsSpan<float>().CopyTo(labels);
            }
            features.CopyTo(memoryFeatures.AsSpan(slot * featureSize, featureSize));
            stored = Math.Min(capacity, stored + 1);
        }
        return (stats, stages);
    }

    private static void FirstLabels(BenchFrames frames, ModelManifest manifest, InputGeometry g, Preprocessor preprocessor, Span<float> labels)
    {
        var padded = new float[g.PaddedHeight * g.PaddedWidth];
        preprocessor.MaskToInput(frames.Mask, frames.Width, frames.Height, g, padded);
        var cells = g.FeatureHeight * g.FeatureWidth;
        var coverage = new float[cells];
        Preprocessor.AreaDownsample(padded, g.PaddedWidth, g.PaddedHeight, manifest.FeatureStride, coverage);
        for (var i = 0; i < cells; i++)
        {
            labels[cells + i] = coverage[i];
            labels[i] = 1 - coverage[i];
        }
    }
}
