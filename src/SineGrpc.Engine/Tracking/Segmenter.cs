using System.Diagnostics;
using OpenCvSharp;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Imaging;

namespace SineGrpc.Engine.Tracking;

/// <summary>A reference image (BGR) and its labelled masks.</summary>
public sealed record ReferenceInput(Mat Image, IReadOnlyList<PromptMask> Prompts);

/// <summary>One in-context segmentation request.</summary>
public sealed record SegmentInput(IReadOnlyList<ReferenceInput> References, Mat Target, OutputSpec Output, float InstanceThreshold, int MaxInstances);

/// <summary>An instance found in the target: its label (reference object id), score and mask.</summary>
public sealed class InstanceResult(int label, float score, PooledArray<byte> mask, MaskStats stats) : IDisposable
{
    public int Label { get; } = label;
    public float Score { get; } = score;
    public PooledArray<byte> Mask { get; } = mask;
    public MaskStats Stats { get; } = stats;
    public void Dispose() => Mask.Dispose();
}

/// <summary>SINE's three outputs: same-object masks, instances, and one semantic mask per label.</summary>
public sealed class SegmentResult(FrameResult objects, IReadOnlyList<InstanceResult> instances, IReadOnlyList<ObjectResult> semantic) : IDisposable
{
    public FrameResult Objects { get; } = objects;
    public IReadOnlyList<InstanceResult> Instances { get; } = instances;
    public IReadOnlyList<ObjectResult> Semantic { get; } = semantic;

    public void Dispose()
    {
        Objects.Dispose();
        foreach (var i in Instances)
            i.Dispose();
        foreach (var s in Semantic)
            s.Dispose();
    }
}

/// <summary>
/// In-context segmentation of one image: every reference's masks go into a fresh
/// memory (several shots of one id pool together), then the target is predicted from
/// it. Models without an instance head get instances from the connected components
/// of each label's mask (ModelInfo says so).
/// </summary>
public static class Segmenter
{
    /// <summary>Components smaller than this many output pixels are noise, not instances.</summary>
    private const int MinInstanceArea = 16;

    public static async Task<SegmentResult> SegmentAsync(LoadedModel model, SegmentInput input, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var times = new StageTimes();
        foreach (var reference in input.References)
            PromptValidation.Check(reference.Prompts, reference.Image.Width, reference.Image.Height);
        if (!input.References.Any(r => r.Prompts.Count > 0))
            throw new InvalidInputException("no reference has a mask: give at least one labelled mask");

        var policy = new MemoryPolicy(Math.Max(1, input.References.Count), FixFirstFrame: false, DecayRatio: 0f);
        using var tracker = model.CreateTracker(policy);
        using var encoder = new FrameEncoder(model);
        for (var r = 0; r < input.References.Count; r++)
        {
            var reference = input.References[r];
            if (reference.Prompts.Count == 0)
                continue;
            using var features = await encoder.EncodeAsync(reference.Image, times, cancellationToken);
            var step = Stopwatch.GetTimestamp();
            tracker.AddReference(features, reference.Prompts, r);
            times.MemoryMs += Stopwatch.GetElapsedTime(step).TotalMilliseconds;
        }

        using var target = await encoder.EncodeAsync(input.Target, times, cancellationToken);
        var decode = Stopwatch.GetTimestamp();
        using var maps = tracker.Predict(target, [], input.References.Count);
        times.DecoderMs = Stopwatch.GetElapsedTime(decode).TotalMilliseconds;

        var post = Stopwatch.GetTimestamp();
        using var output = new OutputBuilder(new Postprocessor());
        var (objects, _, confidence) = output.Build(maps, target.Geometry, [], input.Output, times, keepConfidence: true);
        using (confidence)
        {
            var semantic = objects.Objects.Select(o => new ObjectResult(o.ObjectId, o.Score, PooledArray<byte>.CopyOf(o.Mask.Span), o.Stats)).ToList();
            var instances = ConnectedInstances(objects, maps.Presence, confidence!, input.InstanceThreshold, input.MaxInstances);
            times.PostprocessMs = Stopwatch.GetElapsedTime(post).TotalMilliseconds;
            times.TotalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return new SegmentResult(objects, instances, semantic);
        }
    }

    private static List<InstanceResult> ConnectedInstances(FrameResult objects, float[] presence, PooledArray<float> confidence, float threshold, int maxInstances)
    {
        var width = objects.Width;
        var height = objects.Height;
        var pixels = width * height;
        var found = new List<InstanceResult>();
        using var labels = new Mat();
        for (var i = 0; i < objects.Objects.Count; i++)
        {
            var obj = objects.Objects[i];
            if (obj.Stats.Area == 0)
                continue;
            int count;
            unsafe
            {
                fixed (byte* data = obj.Mask.Span)
                {
                    using var mask = Mat.FromPixelData(height, width, MatType.CV_8UC1, (IntPtr)data);
                    count = Cv2.ConnectedComponents(mask, labels, PixelConnectivity.Connectivity8, MatType.CV_32S);
                }
            }
            labels.GetArray(out int[] componentOf);
            var conf = confidence.Span.Slice(i * pixels, pixels);
            for (var component = 1; component < count; component++)
            {
                var instanceMask = PooledArray<byte>.Zeroed(pixels);
                var sum = 0.0;
                long area = 0;
                for (var p = 0; p < pixels; p++)
                {
                    if (componentOf[p] != component)
                        continue;
                    instanceMask.Span[p] = 1;
                    sum += conf[p];
                    area++;
                }
                var score = (float)(presence[i] * sum / area);
                if (area < MinInstanceArea || score < threshold)
                {
                    instanceMask.Dispose();
                    continue;
                }
                found.Add(new InstanceResult(obj.ObjectId, score, instanceMask, MaskStats.Of(instanceMask.Span, width, height)));
            }
        }
        found.Sort((a, b) => b.Score.CompareTo(a.Score));
        foreach (var extra in found.Skip(maxInstances))
            extra.Dispose();
        return [.. found.Take(maxInstances)];
    }
}
