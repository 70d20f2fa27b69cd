using System.Diagnostics;
using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>Pre-processing plus the encoder: one frame in, its features out. Not thread-safe (scratch buffers).</summary>
internal sealed class FrameEncoder(LoadedModel model)
{
    private static readonly string[] InputNames = ["image"];
    private static readonly string[] OutputNames = ["features"];
    private readonly Preprocessor _preprocessor = new(model.Manifest);

    public Preprocessor Preprocessor => _preprocessor;

    public FeatureMap Encode(Mat bgr, StageTimes times)
    {
        var geometry = InputGeometry.For(model.Manifest, bgr.Width, bgr.Height);
        var started = Stopwatch.GetTimestamp();
        using var input = new PooledArray<float>(3 * geometry.PaddedHeight * geometry.PaddedWidth);
        _preprocessor.Run(bgr, geometry, input.Span);
        times.PreprocessMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        started = Stopwatch.GetTimestamp();
        using var image = OrtTensors.Wrap(input.Memory, 1, 3, geometry.PaddedHeight, geometry.PaddedWidth);
        using var outputs = model.Encoder.Run(InputNames, [image], OutputNames);
        var features = outputs.First();
        var shape = OrtTensors.Shape(features);
        var map = new FeatureMap(PooledArray<float>.CopyOf(OrtTensors.Data(features)), (int)shape[1], (int)shape[2], (int)shape[3], geometry);
        times.EncoderMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return map;
    }
}
