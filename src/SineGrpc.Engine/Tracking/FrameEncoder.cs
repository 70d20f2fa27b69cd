using System.Diagnostics;
using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// Pre-processing plus the encoder: one frame in, its features out, written straight
/// into a pooled buffer (through the model's batcher when it has one). Not thread-safe
/// (scratch buffers); one per stream.
/// </summary>
internal sealed class FrameEncoder(LoadedModel model) : IDisposable
{
    private static readonly string[] InputNames = ["image"];
    private readonly Preprocessor _preprocessor = new(model.Manifest);

    public async Task<FeatureMap> EncodeAsync(Mat bgr, StageTimes times, CancellationToken cancellationToken)
    {
        var geometry = InputGeometry.For(model.Manifest, bgr.Width, bgr.Height);
        var started = Stopwatch.GetTimestamp();
        using var input = model.Encoder.InputMemory.Rent(3 * geometry.PaddedHeight * geometry.PaddedWidth);
        _preprocessor.Run(bgr, geometry, input.Span);
        times.PreprocessMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        started = Stopwatch.GetTimestamp();
        var channels = model.Manifest.FeatureChannels;
        var features = new PooledArray<float>(channels * geometry.FeatureHeight * geometry.FeatureWidth);
        try
        {
            long[] shape = [1, channels, geometry.FeatureHeight, geometry.FeatureWidth];
            if (model.Batcher is { } batcher)
            {
                await batcher.EncodeAsync(input, geometry.PaddedHeight, geometry.PaddedWidth, features, shape, cancellationToken);
            }
            else
            {
                using var image = input.AsOrtValue(1, 3, geometry.PaddedHeight, geometry.PaddedWidth);
                using var output = OrtTensors.Wrap(features.Memory, shape);
                await model.Encoder.RunIntoAsync(InputNames, [image], "features", output, cancellationToken);
            }
        }
        catch
        {
            features.Dispose();
            throw;
        }
        times.EncoderMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return new FeatureMap(features, channels, geometry.FeatureHeight, geometry.FeatureWidth, geometry);
    }

    public void Dispose() => _preprocessor.Dispose();
}
