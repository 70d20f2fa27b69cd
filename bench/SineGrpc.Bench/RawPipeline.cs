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
/// encoder and the decoder of every frame, against a memory of the first frame plus
/// the five most recent ones (the service's default memory size). Its stage times also
/// show the image decode and pre-processing it does outside the clock.
/// </summary>
internal static class RawPipeline
{
    public static async Task<(LatencyStats Latency, StageMeans Stages)> RunAsync(string bundle, BenchFrames frames, EngineOptions options)
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
        var input = new float[3 * g.PaddedHeight * g.PaddedWidth];
        var memoryFeatures = new List<float[]>();
        var memoryLabels = new List<float[]>();
        var first = FirstLabels(frames, manifest, g, preprocessor);
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
            var features = new float[c * cells];
            var m = memoryFeatures.Count;
            var memF = new float[Math.Max(1, m) * c * cells];
            var memL = new float[Math.Max(1, m) * 2 * cells];
            for (var i = 0; i < m; i++)
            {
                memoryFeatures[i].CopyTo(memF, i * c * cells);
                memoryLabels[i].CopyTo(memL, i * 2 * cells);
            }

            var started = Stopwatch.GetTimestamp();
            using (var inputValue = OrtValue.CreateTensorValueFromMemory(input, [1, 3, g.PaddedHeight, g.PaddedWidth]))
            using (var featureValue = OrtValue.CreateTensorValueFromMemory(features, [1, c, h, w]))
                encoderSession.RunInto(["image"], [inputValue], "features", featureValue);
            var encoderMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            float[] labels;
            if (t == 0)
            {
                labels = first;
            }
            else
            {
                using var target = OrtValue.CreateTensorValueFromMemory(features, [1, c, h, w]);
                using var mf = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memF.AsMemory(0, m * c * cells), [m, c, h, w]);
                using var ml = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memL.AsMemory(0, m * 2 * cells), [m, 2, h, w]);
                using var outputs = decoderSession.Run(["features", "memory_features", "memory_labels"], [target, mf, ml], ["labels"]);
                labels = outputs.First().GetTensorDataAsSpan<float>().ToArray();
            }
            if (t > 0)
            {
                var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                stats.Add(totalMs);
                stages.Add(decodeMs, preprocessMs, encoderMs, totalMs - encoderMs, double.NaN, double.NaN, totalMs);
            }

            // Memory: the first frame for good, then the five most recent.
            memoryFeatures.Add(features);
            memoryLabels.Add(labels);
            if (memoryFeatures.Count > 6)
            {
                memoryFeatures.RemoveAt(1);
                memoryLabels.RemoveAt(1);
            }
        }
        return (stats, stages);
    }

    private static float[] FirstLabels(BenchFrames frames, ModelManifest manifest, InputGeometry g, Preprocessor preprocessor)
    {
        var padded = new float[g.PaddedHeight * g.PaddedWidth];
        preprocessor.MaskToInput(frames.Mask, frames.Width, frames.Height, g, padded);
        var cells = g.FeatureHeight * g.FeatureWidth;
        var coverage = new float[cells];
        Preprocessor.AreaDownsample(padded, g.PaddedWidth, g.PaddedHeight, manifest.FeatureStride, coverage);
        var labels = new float[2 * cells];
        for (var i = 0; i < cells; i++)
        {
            labels[cells + i] = coverage[i];
            labels[i] = 1 - coverage[i];
        }
        return labels;
    }
}
