using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// Turns a decoder's maps into per-object binary masks and scores at the output size:
/// upsample, crop, resize (the <see cref="Postprocessor"/>), then threshold or argmax,
/// then lay the frame's prompts over the prediction. Not thread-safe (scratch buffers).
/// </summary>
internal sealed class OutputBuilder(Postprocessor postprocessor) : IDisposable
{
    public void Dispose() => postprocessor.Dispose();

    /// <summary>
    /// The frame's result; the scores the model gave each object before prompts were laid
    /// over (what memory records); and, when asked, each object's per-pixel confidence
    /// [N, H, W] for instance scoring.
    /// </summary>
    public (FrameResult Result, float[] PredictedScores, PooledArray<float>? Confidence) Build(
        ObjectMaps maps, InputGeometry geometry, IReadOnlyList<PromptMask> prompts, OutputSpec spec, StageTimes times, bool keepConfidence = false)
    {
        var (width, height) = spec.Resolve(geometry.SourceWidth, geometry.SourceHeight);
        var pixels = width * height;
        var ids = maps.ObjectIds;
        var count = ids.Length;

        using var resized = new PooledArray<float>(maps.Channels * pixels);
        if (count > 0)
            postprocessor.ToOutput(maps.Maps.Span, maps.Channels, maps.Height, maps.Width, geometry, width, height, resized.Span);

        // owner[p] = 1 + index of the object owning pixel p, 0 = background.
        var exclusive = spec.Exclusive || maps.Kind == MapKind.Labels;
        using var owner = exclusive ? new PooledArray<ushort>(pixels) : null;
        if (owner is not null)
            Own(maps.Kind, resized.Span, count, pixels, owner.Span);

        var confidence = keepConfidence ? new PooledArray<float>(count * pixels) : null;
        var masks = new PooledArray<byte>[count];
        var scores = new float[count];
        for (var i = 0; i < count; i++)
        {
            var mask = masks[i] = new PooledArray<byte>(pixels);
            var channel = resized.Span.Slice((maps.Kind == MapKind.Labels ? i + 1 : i) * pixels, pixels);
            var conf = confidence is null ? default : confidence.Span.Slice(i * pixels, pixels);
            scores[i] = ScoreAndMask(maps.Kind, channel, owner is null ? default : owner.Span, (ushort)(i + 1), maps.Presence[i], mask.Span, conf);
        }

        var predictedScores = (float[])scores.Clone();
        if (prompts.Count > 0)
            OverlayPrompts(prompts, ids, geometry, width, height, owner, masks, scores);
        if (owner is not null)
        {
            for (var i = 0; i < count; i++)
            {
                var mask = masks[i].Span;
                var id = (ushort)(i + 1);
                for (var p = 0; p < pixels; p++)
                    mask[p] = owner.Span[p] == id ? (byte)1 : (byte)0;
            }
        }

        var objects = new ObjectResult[count];
        for (var i = 0; i < count; i++)
            objects[i] = new ObjectResult(ids[i], scores[i], masks[i], MaskStats.Of(masks[i].Span, width, height)) { IdLogits = spec.IncludeLogits ? maps.IdLogits?[i] : null };

        PooledArray<ushort>? indexMap = null;
        if (spec.Exclusive)
        {
            indexMap = new PooledArray<ushort>(pixels);
            var map = indexMap.Span;
            for (var p = 0; p < pixels; p++)
                map[p] = owner!.Span[p] == 0 ? (ushort)0 : (ushort)ids[owner.Span[p] - 1];
        }
        return (new FrameResult(width, height, objects, indexMap, times), predictedScores, confidence);
    }

    private static void Own(MapKind kind, ReadOnlySpan<float> resized, int count, int pixels, Span<ushort> owner)
    {
        for (var p = 0; p < pixels; p++)
        {
            // Labels: the most probable channel, background included. Logits: the
            // highest positive logit, if any.
            var best = kind == MapKind.Labels ? resized[p] : 0f;
            ushort winner = 0;
            var first = kind == MapKind.Labels ? 1 : 0;
            for (var i = 0; i < count; i++)
            {
                var value = resized[(i + first) * pixels + p];
                if (value > best)
                {
                    best = value;
                    winner = (ushort)(i + 1);
                }
            }
            owner[p] = winner;
        }
    }

    // SINE's score: P(present) x mean foreground probability inside the object's own
    // mask, as sum / (area + 1e-6) like the reference. For soft labels the probability is
    // the label itself, and the mean a plain one.
    private static float ScoreAndMask(MapKind kind, ReadOnlySpan<float> channel, ReadOnlySpan<ushort> owner, ushort id, float presence, Span<byte> mask, Span<float> confidence)
    {
        var sum = 0.0;
        long area = 0;
        for (var p = 0; p < channel.Length; p++)
        {
            var probability = kind == MapKind.Logits ? 1f / (1f + MathF.Exp(-channel[p])) : channel[p];
            if (!confidence.IsEmpty)
                confidence[p] = probability;
            var inside = kind == MapKind.Logits ? channel[p] > 0f : owner[p] == id;
            mask[p] = inside ? (byte)1 : (byte)0;
            if (inside)
            {
                sum += probability;
                area++;
            }
        }
        if (area == 0)
            return 0f;
        return kind == MapKind.Logits ? (float)(presence * (sum / (area + 1e-6))) : (float)(presence * sum / area);
    }

    // A prompted object is returned exactly as prompted (resized to the output), with
    // score 1; in an exclusive layout its pixels are taken from any other object.
    private static void OverlayPrompts(IReadOnlyList<PromptMask> prompts, int[] ids, InputGeometry g, int width, int height,
        PooledArray<ushort>? owner, PooledArray<byte>[] masks, float[] scores)
    {
        foreach (var prompt in prompts)
        {
            var index = Array.IndexOf(ids, prompt.ObjectId);
            if (index < 0)
                continue;
            var mask = masks[index].Span;
            MaskViews.Resize(prompt.Mask.Span, g.SourceHeight, g.SourceWidth, mask, height, width, InterpolationFlags.Nearest);
            scores[index] = 1f;
            var own = owner is null ? default : owner.Span;
            var id = (ushort)(index + 1);
            for (var p = 0; p < mask.Length; p++)
            {
                mask[p] = mask[p] != 0 ? (byte)1 : (byte)0;
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
