using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// Each object's per-pixel confidence at the output size, for instance scoring: a plane per
/// object where masks may overlap; where the objects compete for each pixel (soft labels),
/// one plane of the winning probability, which is each object's own on the pixels it owns.
/// </summary>
public sealed class ObjectConfidence(PooledArray<float> planes, int pixels, bool shared) : IDisposable
{
    /// <summary>Object <paramref name="index"/>'s confidence: right on every pixel of its mask (and, with a plane per object, everywhere).</summary>
    public ReadOnlySpan<float> Of(int index) => shared ? planes.Span : planes.Span.Slice(index * pixels, pixels);

    public void Dispose() => planes.Dispose();
}

/// <summary>
/// Turns a decoder's maps into per-object binary masks at the output size and scores at
/// the frame's size: upsample, crop, resize (the <see cref="Postprocessor"/>), then
/// threshold or argmax, then lay the frame's prompts over the prediction. Not thread-safe
/// (scratch buffers).
/// </summary>
internal sealed class OutputBuilder(Postprocessor postprocessor) : IDisposable
{
    public void Dispose() => postprocessor.Dispose();

    /// <summary>
    /// The frame's result; the scores the model gave each object before prompts were laid
    /// over (what memory records); and, when asked, each object's per-pixel confidence for
    /// instance scoring.
    /// </summary>
    public (FrameResult Result, float[] PredictedScores, ObjectConfidence? Confidence) Build(
        ObjectMaps maps, InputGeometry geometry, IReadOnlyList<PromptMask> prompts, OutputSpec spec, StageTimes times, bool keepConfidence = false)
    {
        var (width, height) = spec.Resolve(geometry.SourceWidth, geometry.SourceHeight);
        var pixels = width * height;
        var count = maps.ObjectIds.Length;

        // owner[p] = 1 + index of the object owning pixel p, 0 = background. Where objects
        // cannot overlap, this one plane is every object's mask (ObjectResult reads its own
        // pixels from it); elsewhere each object gets a plane of its own.
        var exclusive = spec.Exclusive || maps.Kind == MapKind.Labels;
        var owner = exclusive ? PooledArray<ushort>.Zeroed(pixels) : null;
        // Soft labels need one plane (the winning probability); logits one per object.
        var confidence = keepConfidence ? new PooledArray<float>((maps.Kind == MapKind.Labels ? 1 : count) * pixels) : null;
        var masks = exclusive ? null : new PooledArray<byte>[count];
        try
        {
            for (var i = 0; i < (masks?.Length ?? 0); i++)
                masks![i] = new PooledArray<byte>(pixels);
            var (result, predicted) = Fill(maps, geometry, prompts, spec, times, width, height, owner, masks, confidence);
            return (result, predicted, confidence is null ? null : new ObjectConfidence(confidence, pixels, shared: maps.Kind == MapKind.Labels));
        }
        catch
        {
            // A failure here (a bug, a runtime error) fails the frame: the buffers go back to their pools.
            foreach (var mask in masks ?? [])
                mask?.Dispose();
            owner?.Dispose();
            confidence?.Dispose();
            throw;
        }
    }

    private (FrameResult Result, float[] PredictedScores) Fill(
        ObjectMaps maps, InputGeometry geometry, IReadOnlyList<PromptMask> prompts, OutputSpec spec, StageTimes times,
        int width, int height, PooledArray<ushort>? owner, PooledArray<byte>[]? masks, PooledArray<float>? confidence)
    {
        var pixels = width * height;
        var ids = maps.ObjectIds;
        var count = ids.Length;
        var scores = count == 0 ? []
            : maps.Kind == MapKind.Labels ? ScoreLabels(maps, geometry, width, height, owner!.Span, confidence)
            : ScoreLogits(maps, geometry, width, height, owner, masks, confidence, Prompted(ids, prompts));
        if (count > 0 && (width, height) != (geometry.SourceWidth, geometry.SourceHeight))
            scores = ScoreAtSourceSize(maps, geometry);

        var predictedScores = (float[])scores.Clone();
        if (prompts.Count > 0)
            OverlayPrompts(prompts, ids, geometry, width, height, owner, masks, scores);

        var objects = new ObjectResult[count];
        if (owner is null)
        {
            for (var i = 0; i < count; i++)
                objects[i] = new ObjectResult(ids[i], scores[i], masks![i], MaskStats.Of(masks[i].Span, width, height)) { IdLogits = spec.IncludeLogits ? maps.IdLogits?[i] : null };
            return (new FrameResult(width, height, objects, indexMap: null, times), predictedScores);
        }

        var stats = MaskStats.OfOwners(owner.Span, width, height, count);
        for (var i = 0; i < count; i++)
            objects[i] = new ObjectResult(ids[i], scores[i], owner, (ushort)(i + 1), width, stats[i]) { IdLogits = spec.IncludeLogits ? maps.IdLogits?[i] : null };
        PooledArray<ushort>? indexMap = null;
        if (spec.Exclusive)
        {
            indexMap = new PooledArray<ushort>(pixels);
            var map = indexMap.Span;
            for (var p = 0; p < pixels; p++)
                map[p] = owner.Span[p] == 0 ? (ushort)0 : (ushort)ids[owner.Span[p] - 1];
        }
        return (new FrameResult(width, height, objects, indexMap, times, owner), predictedScores);
    }

    /// <summary>
    /// The scores of the prediction at the frame's own size. Scores describe the prediction,
    /// not its rendering, and the memory chooses its entries by them: scored at the output
    /// size, a stream that asks for smaller masks would remember other frames and track
    /// differently. Costs one more pass over the maps when the output size is not the frame's.
    /// </summary>
    private float[] ScoreAtSourceSize(ObjectMaps maps, InputGeometry g)
    {
        var (width, height) = (g.SourceWidth, g.SourceHeight);
        if (maps.Kind == MapKind.Logits)
            return ScoreLogits(maps, g, width, height, owner: null, masks: null, confidence: null, prompted: null);
        using var owner = PooledArray<ushort>.Zeroed(width * height);
        return ScoreLabels(maps, g, width, height, owner.Span, confidence: null);
    }

    // One channel at the output size at a time, so that a frame holds a few planes of
    // floats rather than one per object: the argmax runs over the channels as they come
    // (ties keep the earlier channel, as an all-at-once argmax does).

    /// <summary>
    /// Soft labels: the most probable channel owns each pixel, background included. An
    /// object's score is P(present) x its mean probability over the pixels it owns, which
    /// are where its probability is the winning value. The masks follow from the owners
    /// (in <see cref="Build"/>, after the prompts are laid over).
    /// </summary>
    private float[] ScoreLabels(ObjectMaps maps, InputGeometry g, int width, int height, Span<ushort> owner, PooledArray<float>? confidence)
    {
        var pixels = width * height;
        var count = maps.ObjectIds.Length;
        // The winning probability per pixel is the owner's own: kept, it is every object's
        // confidence on the pixels it owns (ObjectConfidence), so it is built in place.
        using var ownBest = confidence is null ? new PooledArray<float>(pixels) : null;
        var best = confidence ?? ownBest!;
        using var plane = new PooledArray<float>(pixels);
        Resize(maps, 0, g, width, height, best.Span);
        for (var i = 0; i < count; i++)
        {
            Resize(maps, i + 1, g, width, height, plane.Span);
            Claim(plane.Span, best.Span, owner, (ushort)(i + 1));
        }

        var sums = new double[count];
        var areas = new long[count];
        for (var p = 0; p < pixels; p++)
        {
            var o = owner[p];
            if (o == 0)
                continue;
            sums[o - 1] += best.Span[p];
            areas[o - 1]++;
        }
        var scores = new float[count];
        for (var i = 0; i < count; i++)
            scores[i] = areas[i] == 0 ? 0f : (float)(maps.Presence[i] * sums[i] / areas[i]);
        return scores;
    }

    /// <summary>
    /// Logits: each object's mask is where its logit is positive, its score SINE's; when
    /// exclusive, the highest positive logit owns each pixel, among the objects not
    /// <paramref name="prompted"/> on this frame: a prompted object's mask is its prompt,
    /// laid over afterwards, so where its decoded logit would have won outside the prompt
    /// the pixel goes to the next object, not to the background.
    /// </summary>
    private float[] ScoreLogits(ObjectMaps maps, InputGeometry g, int width, int height, PooledArray<ushort>? owner, PooledArray<byte>[]? masks, PooledArray<float>? confidence,
        bool[]? prompted)
    {
        var pixels = width * height;
        var count = maps.ObjectIds.Length;
        using var plane = new PooledArray<float>(pixels);
        using var best = owner is null ? null : PooledArray<float>.Zeroed(pixels);
        var scores = new float[count];
        for (var i = 0; i < count; i++)
        {
            Resize(maps, i, g, width, height, plane.Span);
            var conf = confidence is null ? default : confidence.Span.Slice(i * pixels, pixels);
            scores[i] = ScoreLogitMask(plane.Span, maps.Presence[i], masks is null ? default : masks[i].Span, conf);
            if (owner is not null && prompted?[i] != true)
                Claim(plane.Span, best!.Span, owner.Span, (ushort)(i + 1));
        }
        return scores;
    }

    private static bool[]? Prompted(int[] ids, IReadOnlyList<PromptMask> prompts) =>
        prompts.Count == 0 ? null : [.. ids.Select(id => prompts.Any(p => p.ObjectId == id))];

    private void Resize(ObjectMaps maps, int channel, InputGeometry g, int width, int height, Span<float> destination)
    {
        var mapSize = maps.Height * maps.Width;
        postprocessor.ToOutput(maps.Maps.Span.Slice(channel * mapSize, mapSize), 1, maps.Height, maps.Width, g, width, height, destination);
    }

    /// <summary>
    /// Gives <paramref name="id"/> the pixels where <paramref name="channel"/> beats the best
    /// so far. An object beats the best on few blocks of a frame: the others are passed over
    /// with a vector test.
    /// </summary>
    private static void Claim(ReadOnlySpan<float> channel, Span<float> best, Span<ushort> owner, ushort id)
    {
        for (var start = 0; start < channel.Length; start += VectorBlock)
        {
            var end = Math.Min(start + VectorBlock, channel.Length);
            if (!FloatBlocks.AnyGreater(channel[start..end], best[start..end]))
                continue;
            for (var p = start; p < end; p++)
            {
                if (channel[p] > best[p])
                {
                    best[p] = channel[p];
                    owner[p] = id;
                }
            }
        }
    }

    /// <summary>Pixels tested together before any is looked at one by one (<see cref="Claim"/>, <see cref="ScoreLogitMask"/>).</summary>
    private const int VectorBlock = 64;

    // SINE's score: P(present) x mean foreground probability inside the object's own
    // mask, as sum / (area + 1e-6) like the reference. An empty mask span: the score alone.
    // The probability (an exponential) is computed only where it is used: inside the mask,
    // or everywhere when the confidence is kept. Most of a frame is outside most objects, so
    // without a confidence to fill, blocks of pixels none of which is inside are passed over
    // with a vector test (their mask bytes are 0).
    private static float ScoreLogitMask(ReadOnlySpan<float> logits, float presence, Span<byte> mask, Span<float> confidence)
    {
        var sum = 0.0;
        long area = 0;
        for (var start = 0; start < logits.Length; start += VectorBlock)
        {
            var end = Math.Min(start + VectorBlock, logits.Length);
            if (confidence.IsEmpty && !FloatBlocks.AnyPositive(logits[start..end]))
            {
                if (!mask.IsEmpty)
                    mask[start..end].Clear();
                continue;
            }
            for (var p = start; p < end; p++)
            {
                var inside = logits[p] > 0f;
                if (!mask.IsEmpty)
                    mask[p] = inside ? (byte)1 : (byte)0;
                if (!inside && confidence.IsEmpty)
                    continue;
                var probability = 1f / (1f + MathF.Exp(-logits[p]));
                if (!confidence.IsEmpty)
                    confidence[p] = probability;
                if (inside)
                {
                    sum += probability;
                    area++;
                }
            }
        }
        return area == 0 ? 0f : (float)(presence * (sum / (area + 1e-6)));
    }

    // A prompted object is returned exactly as prompted (resized to the output), with
    // score 1; in an exclusive layout its pixels are taken from any other object.
    private static void OverlayPrompts(IReadOnlyList<PromptMask> prompts, int[] ids, InputGeometry g, int width, int height,
        PooledArray<ushort>? owner, PooledArray<byte>[]? masks, float[] scores)
    {
        // With a plane of owners, each prompt is resized into one scratch plane in turn.
        using var scratch = masks is null ? new PooledArray<byte>(width * height) : null;
        foreach (var prompt in prompts)
        {
            var index = Array.IndexOf(ids, prompt.ObjectId);
            if (index < 0)
                continue;
            var mask = masks is null ? scratch!.Span : masks[index].Span;
            // Nearest-neighbour keeps an index mask's values, so the label still reads after the resize.
            MaskViews.Resize(prompt.Mask.Span, g.SourceHeight, g.SourceWidth, mask, height, width, InterpolationFlags.Nearest);
            scores[index] = 1f;
            var own = owner is null ? default : owner.Span;
            var id = (ushort)(index + 1);
            for (var p = 0; p < mask.Length; p++)
            {
                mask[p] = prompt.Covers(mask[p]) ? (byte)1 : (byte)0;
                if (own.IsEmpty)
                    continue;
                if (mask[p] != 0)
                    own[p] = id;
                else if (own[p] == id)
                    own[p] = 0;
            }
        }
    }
}
