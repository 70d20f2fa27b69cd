using System.Diagnostics;
using OpenCvSharp;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Imaging;

namespace SineGrpc.Engine.Tracking;

/// <summary>A reference image (BGR) and its labelled masks.</summary>
public sealed record ReferenceInput(Mat Image, IReadOnlyList<PromptMask> Prompts);

/// <summary>
/// One in-context segmentation request. <paramref name="SemanticThreshold"/> binarises a
/// model's semantic maps (SINE's few-shot segmentation evaluation uses 0.7); models without
/// an instance head ignore it.
/// </summary>
public sealed record SegmentInput(IReadOnlyList<ReferenceInput> References, Mat Target, OutputSpec Output, float InstanceThreshold, int MaxInstances,
    float SemanticThreshold = Segmenter.DefaultSemanticThreshold);

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
/// it. A model with an instance head (instance_source "model") gives instances and
/// semantic masks as SINE's inference computes them from <c>ins_logits</c> and
/// <c>ins_masks</c>; other models get instances from the connected components of each
/// label's mask, and semantic masks equal to the same-object masks (ModelInfo says so).
/// </summary>
public static class Segmenter
{
    /// <summary>SINE's few-shot segmentation threshold on its semantic maps.</summary>
    public const float DefaultSemanticThreshold = 0.7f;

    /// <summary>SINE's instance inference keeps the best (query, label) pairs by class probability, this many, before scoring masks.</summary>
    public const int InstanceCandidates = 100;

    /// <summary>Components smaller than this many output pixels are noise, not instances.</summary>
    private const int MinInstanceArea = 16;

    /// <summary>
    /// Output-size mask planes a Segment answer of <paramref name="labels"/> labels holds
    /// beside its instances: an object and a semantic mask per label, except on a model whose
    /// labels compete for each pixel (dense memory), where both read one plane of owners,
    /// beside one plane of the winning label's confidence.
    /// </summary>
    public static int AnswerPlanes(LoadedModel model, int labels) =>
        model.MapKind == MapKind.Labels ? Math.Min(2, 2 * labels) : 2 * labels;

    public static async Task<SegmentResult> SegmentAsync(LoadedModel model, SegmentInput input, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var times = new StageTimes();
        foreach (var reference in input.References)
            PromptValidation.Check(reference.Prompts, reference.Image.Width, reference.Image.Height);
        if (!input.References.Any(r => r.Prompts.Count > 0))
            throw new InvalidInputException("no reference has a mask: give at least one labelled mask");
        _ = input.Output.Resolve(input.Target.Width, input.Target.Height);
        if (model.Manifest.MemoryKind == MemoryKinds.Dense)
            CheckOneFeatureGrid(model, input);

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
            await tracker.AddReferenceAsync(features, reference.Prompts, r, cancellationToken);
            times.MemoryMs += Stopwatch.GetElapsedTime(step).TotalMilliseconds;
        }

        using var target = await encoder.EncodeAsync(input.Target, times, cancellationToken);
        if (model.Manifest.InstanceSource == InstanceSources.Model && tracker is TokenTracker tokens)
            return await SegmentWithInstanceHeadAsync(tokens, target, input, times, started, cancellationToken);

        var decode = Stopwatch.GetTimestamp();
        using var maps = await tracker.PredictAsync(target, [], [], input.References.Count, cancellationToken);
        times.DecoderMs = Stopwatch.GetElapsedTime(decode).TotalMilliseconds;

        var post = Stopwatch.GetTimestamp();
        using var output = new OutputBuilder(new Postprocessor());
        var (objects, _, confidence) = output.Build(maps, target.Geometry, [], input.Output, times, keepConfidence: true);
        using (confidence)
        {
            // Without an instance head a label's semantic mask is its object mask: where the
            // labels compete for pixels (the embedded model), both read the frame's one plane.
            var semantic = objects.Objects.Select(o => o.Alias()).ToList();
            var instances = ConnectedInstances(objects, maps.Presence, confidence!, input.InstanceThreshold, input.MaxInstances);
            times.PostprocessMs = Stopwatch.GetElapsedTime(post).TotalMilliseconds;
            times.TotalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return new SegmentResult(objects, instances, semantic);
        }
    }

    /// <summary>
    /// The dense model matches the target's cells against the references' cells around the same
    /// position, so every image must give one feature grid: images of one aspect ratio.
    /// </summary>
    private static void CheckOneFeatureGrid(LoadedModel model, SegmentInput input)
    {
        var target = InputGeometry.For(model.Manifest, input.Target.Width, input.Target.Height);
        for (var r = 0; r < input.References.Count; r++)
        {
            var image = input.References[r].Image;
            if (input.References[r].Prompts.Count == 0)
                continue;
            var reference = InputGeometry.For(model.Manifest, image.Width, image.Height);
            if ((reference.FeatureWidth, reference.FeatureHeight) != (target.FeatureWidth, target.FeatureHeight))
                throw new InvalidInputException(
                    $"model '{model.Name}' matches images cell by cell, so the references and the target must give one feature grid " +
                    $"(images of one aspect ratio): reference {r} ({image.Width}x{image.Height}) gives {reference.FeatureWidth}x{reference.FeatureHeight} cells, " +
                    $"the target ({input.Target.Width}x{input.Target.Height}) {target.FeatureWidth}x{target.FeatureHeight}");
        }
    }

    private static async Task<SegmentResult> SegmentWithInstanceHeadAsync(TokenTracker tracker, FeatureMap target, SegmentInput input, StageTimes times, long started,
        CancellationToken cancellationToken)
    {
        var decode = Stopwatch.GetTimestamp();
        var (maps, instanceMaps) = await tracker.PredictWithInstancesAsync(target, cancellationToken);
        times.DecoderMs = Stopwatch.GetElapsedTime(decode).TotalMilliseconds;
        using (maps)
        using (instanceMaps)
        {
            var post = Stopwatch.GetTimestamp();
            using var output = new OutputBuilder(new Postprocessor());
            var (objects, _, _) = output.Build(maps, target.Geometry, [], input.Output, times);
            var (width, height) = (objects.Width, objects.Height);
            var probabilities = ClassProbabilities(instanceMaps);
            using var postprocessor = new Postprocessor();
            var instances = ModelInstances(instanceMaps, probabilities, maps.ObjectIds, target.Geometry, width, height, postprocessor, input.InstanceThreshold, input.MaxInstances);
            var semantic = ModelSemantic(instanceMaps, probabilities, maps.ObjectIds, target.Geometry, width, height, input.SemanticThreshold);
            times.PostprocessMs = Stopwatch.GetElapsedTime(post).TotalMilliseconds;
            times.TotalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return new SegmentResult(objects, instances, semantic);
        }
    }

    /// <summary>Per query, the softmax over its N + 1 class logits, without the negative class: [Q, N].</summary>
    private static float[] ClassProbabilities(InstanceMaps maps)
    {
        int q = maps.Queries, n = maps.Classes;
        var probabilities = new float[q * n];
        for (var i = 0; i < q; i++)
        {
            var row = maps.Logits.AsSpan(i * (n + 1), n + 1);
            var max = float.NegativeInfinity;
            foreach (var v in row)
                max = Math.Max(max, v);
            var sum = 0f;
            foreach (var v in row)
                sum += MathF.Exp(v - max);
            for (var c = 0; c < n; c++)
                probabilities[i * n + c] = MathF.Exp(row[c] - max) / sum;
        }
        return probabilities;
    }

    /// <summary>
    /// SINE's instance inference: the <see cref="InstanceCandidates"/> most probable
    /// (query, label) pairs; each query's mask at the output size (upsample, crop, resize),
    /// binarised at logit 0; score = class probability x mean sigmoid inside the mask;
    /// those scoring above the threshold, best first, at most <paramref name="maxInstances"/>.
    /// </summary>
    private static List<InstanceResult> ModelInstances(InstanceMaps maps, float[] probabilities, int[] labels, InputGeometry g, int width, int height,
        Postprocessor postprocessor, float threshold, int maxInstances)
    {
        var n = maps.Classes;
        var candidates = Enumerable.Range(0, probabilities.Length)
            .OrderByDescending(i => probabilities[i]).ThenBy(i => i)
            .Take(Math.Min(InstanceCandidates, probabilities.Length))
            .ToList();
        var pixels = width * height;
        var mapSize = maps.Height * maps.Width;
        var found = new List<InstanceResult>();
        using var logits = new PooledArray<float>(pixels);
        using var binary = new PooledArray<byte>(pixels);
        foreach (var query in candidates.Select(i => i / n).Distinct())
        {
            postprocessor.ToOutput(maps.Masks.Span.Slice(query * mapSize, mapSize), 1, maps.Height, maps.Width, g, width, height, logits.Span);
            var meanForeground = TokenTracker.MeanForeground(logits.Span, binary.Span);
            foreach (var candidate in candidates.Where(i => i / n == query))
            {
                var score = probabilities[candidate] * meanForeground;
                if (!(score > threshold))
                    continue;
                var mask = PooledArray<byte>.CopyOf(binary.Span);
                found.Add(new InstanceResult(labels[candidate % n], score, mask, MaskStats.Of(mask.Span, width, height)));
                if (found.Count > maxInstances)
                    DropWorst(found);
            }
        }
        // Stable: equal scores keep the candidates' order.
        return [.. found.OrderByDescending(i => i.Score)];
    }

    /// <summary>
    /// Keeps at most the requested instances' masks while candidates are scored (the caller's
    /// memory bound): the lowest score goes, the latest of equals first.
    /// </summary>
    private static void DropWorst(List<InstanceResult> found)
    {
        var worst = 0;
        for (var i = 1; i < found.Count; i++)
        {
            if (found[i].Score <= found[worst].Score)
                worst = i;
        }
        found[worst].Dispose();
        found.RemoveAt(worst);
    }

    /// <summary>
    /// SINE's semantic inference: per label, the sum over queries of the label's class
    /// probability times the query's mask sigmoid, at the padded input size (masks
    /// upsampled bilinearly), cropped to the resized image and resized to the output;
    /// mask = value above the threshold; score = mean value inside the mask.
    /// </summary>
    private static List<ObjectResult> ModelSemantic(InstanceMaps maps, float[] probabilities, int[] labels, InputGeometry g, int width, int height, float threshold)
    {
        var n = maps.Classes;
        int rw = g.ResizedWidth, rh = g.ResizedHeight, crop = rw * rh;
        var mapSize = maps.Height * maps.Width;
        using var accumulated = PooledArray<float>.Zeroed(n * crop);
        using var padded = new PooledArray<float>(g.PaddedHeight * g.PaddedWidth);
        using var sigmoid = new PooledArray<float>(crop);
        for (var q = 0; q < maps.Queries; q++)
        {
            MaskViews.Resize(maps.Masks.Span.Slice(q * mapSize, mapSize), maps.Height, maps.Width, padded.Span, g.PaddedHeight, g.PaddedWidth, InterpolationFlags.Linear);
            for (var y = 0; y < rh; y++)
            {
                var row = padded.Span.Slice(y * g.PaddedWidth, rw);
                var dst = sigmoid.Span.Slice(y * rw, rw);
                for (var x = 0; x < rw; x++)
                    dst[x] = 1f / (1f + MathF.Exp(-row[x]));
            }
            for (var c = 0; c < n; c++)
            {
                var weight = probabilities[q * n + c];
                var acc = accumulated.Span.Slice(c * crop, crop);
                var s = sigmoid.Span;
                for (var p = 0; p < crop; p++)
                    acc[p] += weight * s[p];
            }
        }

        var pixels = width * height;
        var semantic = new List<ObjectResult>(n);
        using var resized = new PooledArray<float>(pixels);
        for (var c = 0; c < n; c++)
        {
            MaskViews.Resize(accumulated.Span.Slice(c * crop, crop), rh, rw, resized.Span, height, width, InterpolationFlags.Linear);
            var mask = new PooledArray<byte>(pixels);
            var sum = 0.0;
            long area = 0;
            var values = resized.Span;
            for (var p = 0; p < pixels; p++)
            {
                var inside = values[p] > threshold;
                mask.Span[p] = inside ? (byte)1 : (byte)0;
                if (inside)
                {
                    sum += values[p];
                    area++;
                }
            }
            semantic.Add(new ObjectResult(labels[c], area == 0 ? 0f : (float)(sum / area), mask, MaskStats.Of(mask.Span, width, height)));
        }
        return semantic;
    }

    /// <summary>
    /// Instances of a model without an instance head: the connected components of each
    /// label's mask, scored by the label's presence times the component's mean confidence,
    /// best first. Components under <see cref="MinInstanceArea"/> pixels or not above the threshold
    /// are dropped, and at most <paramref name="maxInstances"/>, never more than
    /// <see cref="InstanceCandidates"/>, are kept, as SINE's own inference keeps. A ragged
    /// mask can have thousands of components: all are measured in one pass per label, and
    /// only the kept ones get a mask of their own.
    /// </summary>
    internal static List<InstanceResult> ConnectedInstances(FrameResult objects, float[] presence, ObjectConfidence confidence, float threshold, int maxInstances)
    {
        var (width, height) = (objects.Width, objects.Height);
        var pixels = width * height;
        var candidates = new List<(int Object, int Component, float Score)>();
        using var labels = new Mat();
        for (var i = 0; i < objects.Objects.Count; i++)
        {
            if (objects.Objects[i].Stats.Area == 0)
                continue;
            var count = LabelComponents(objects.Objects[i], width, height, labels);
            var componentOf = LabelsOf(labels, pixels);
            // Read on the label's own pixels only (components from 1 on), where it is right.
            var conf = confidence.Of(i);
            var sums = new double[count];
            var areas = new long[count];
            for (var p = 0; p < pixels; p++)
            {
                var c = componentOf[p];
                sums[c] += conf[p];
                areas[c]++;
            }
            for (var c = 1; c < count; c++)
            {
                var score = (float)(presence[i] * sums[c] / areas[c]);
                if (areas[c] >= MinInstanceArea && score > threshold)
                    candidates.Add((i, c, score));
            }
        }

        // Stable: equal scores keep label, then component, order.
        var kept = candidates.OrderByDescending(c => c.Score).Take(Math.Clamp(maxInstances, 0, InstanceCandidates)).ToList();
        var found = new InstanceResult[kept.Count];
        foreach (var label in kept.Select((c, rank) => (c.Object, c.Component, c.Score, Rank: rank)).GroupBy(c => c.Object))
        {
            var obj = objects.Objects[label.Key];
            // Labelled again rather than kept from the first pass: keeping a label map per
            // label would hold 4 bytes a pixel each; labelling again is one more pass.
            var count = LabelComponents(obj, width, height, labels);
            var componentOf = LabelsOf(labels, pixels);
            var maskOf = new PooledArray<byte>?[count];
            foreach (var c in label)
                maskOf[c.Component] = PooledArray<byte>.Zeroed(pixels);
            for (var p = 0; p < pixels; p++)
            {
                if (maskOf[componentOf[p]] is { } mask)
                    mask.Span[p] = 1;
            }
            foreach (var c in label)
            {
                var mask = maskOf[c.Component]!;
                found[c.Rank] = new InstanceResult(obj.ObjectId, c.Score, mask, MaskStats.Of(mask.Span, width, height));
            }
        }
        return [.. found];
    }

    // Labels the 8-connected components of an object's mask into labels (CV_32S, 0 = background); returns their count, background included.
    private static unsafe int LabelComponents(ObjectResult obj, int width, int height, Mat labels)
    {
        using var scratch = new PooledArray<byte>(width * height);
        fixed (byte* data = obj.Mask(scratch.Span))
        {
            using var mask = Mat.FromPixelData(height, width, MatType.CV_8UC1, (IntPtr)data);
            return Cv2.ConnectedComponents(mask, labels, PixelConnectivity.Connectivity8, MatType.CV_32S);
        }
    }

    // A fresh CV_32S Mat is continuous: its labels read in place, row-major.
    private static unsafe ReadOnlySpan<int> LabelsOf(Mat labels, int pixels) => new((void*)labels.DataPointer, pixels);
}
