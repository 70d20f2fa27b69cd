using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>
/// The output builder against a plain statement of the post-processing: every channel
/// resized to the output at once, then the argmax (labels, or the highest positive logit),
/// the masks and SINE's scores (those at the frame's own size). The builder works one channel at a time to hold a few
/// planes instead of one per object; its answers must be the same, bit for bit.
/// </summary>
public class OutputBuilderTests
{
    // A 50x30 frame on a 64-wide input (stride 16, masks at stride 4): maps of 16x12 cells.
    private static readonly InputGeometry Geometry = new(50, 30, 64, 38, 64, 48, 16, 4);

    public static TheoryData<MapKind, bool, bool, int> Cases()
    {
        var cases = new TheoryData<MapKind, bool, bool, int>();
        foreach (var kind in new[] { MapKind.Labels, MapKind.Logits })
        foreach (var exclusive in new[] { false, true })
        foreach (var confidence in new[] { false, true })
        foreach (var outputWidth in new[] { 0, 77 })
            cases.Add(kind, exclusive, confidence, outputWidth);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Masks_scores_and_index_equal_the_all_channels_statement(MapKind kind, bool exclusive, bool keepConfidence, int outputWidth)
    {
        int[] ids = [3, 9, 12, 40];
        using var maps = RandomMaps(kind, ids, seed: 3);
        var spec = new OutputSpec(outputWidth, 0, exclusive);
        using var builder = new OutputBuilder(new Postprocessor());

        var (result, predicted, confidence) = builder.Build(maps, Geometry, [], spec, new StageTimes(), keepConfidence);
        using (result)
        using (confidence)
        {
            var expected = Statement(maps, spec, keepConfidence);
            // Scores are the prediction's at the frame's own size, whatever the output size.
            var expectedScores = Statement(maps, spec with { Width = 0, Height = 0 }, keepConfidence: false).Scores;
            Assert.Equal(expected.Width, result.Width);
            Assert.Equal(ids, result.Objects.Select(o => o.ObjectId));
            for (var i = 0; i < ids.Length; i++)
            {
                Assert.Equal(expected.Masks[i], result.Objects[i].MaskArray());
                Assert.Equal(expectedScores[i], result.Objects[i].Score);
                Assert.Equal(expectedScores[i], predicted[i]);
            }
            Assert.Equal(expected.Index, result.IndexMap?.Span.ToArray());
            Assert.Equal(keepConfidence, confidence is not null);
            var pixels = result.Width * result.Height;
            for (var i = 0; i < ids.Length && confidence is not null; i++)
            {
                // Each object's confidence is right on its own pixels; a plane per object (logits) everywhere.
                var own = confidence.Of(i).ToArray();
                var mask = expected.Masks[i];
                for (var p = 0; p < pixels; p++)
                {
                    if (kind == MapKind.Logits || mask[p] != 0)
                        Assert.Equal(expected.Confidence![i * pixels + p], own[p]);
                }
            }
            // Not a vacuous comparison: several objects hold pixels.
            Assert.True(result.Objects.Count(o => o.Stats.Area > 0) >= 2);
        }
    }

    // A prompted object's mask is its prompt: where its decoded logit would have won
    // outside the prompt, the pixel is the next object's (here object 9's, whose logit is
    // positive everywhere), not the background's.
    [Fact]
    public void In_an_exclusive_layout_pixels_a_prompted_object_gives_up_go_to_the_next_object()
    {
        var (h, w) = (Geometry.MaskHeight, Geometry.MaskWidth);
        var data = new PooledArray<float>(2 * h * w);
        data.Span[..(h * w)].Fill(5f);      // object 3: decoded over the whole frame
        data.Span[(h * w)..].Fill(2f);      // object 9: lower, but positive everywhere
        using var maps = new ObjectMaps([3, 9], MapKind.Logits, data, h, w, [1f, 1f]);
        var prompt = new byte[50 * 30];
        for (var y = 0; y < 30; y++)
            prompt.AsSpan(y * 50, 20).Fill(1);      // object 3 prompted on the left 20 columns
        using var builder = new OutputBuilder(new Postprocessor());

        var (result, _, _) = builder.Build(maps, Geometry, [new PromptMask(3, prompt)], new OutputSpec(0, 0, Exclusive: true), new StageTimes());
        using (result)
        {
            var index = result.IndexMap!.Span.ToArray();
            for (var p = 0; p < index.Length; p++)
                Assert.Equal(p % 50 < 20 ? 3 : 9, index[p]);
            Assert.Equal(prompt, result.Objects[0].MaskArray());
            Assert.Equal(30 * 30, result.Objects[1].Stats.Area);
        }
    }

    // The objects of one index mask share its plane (PromptMask.Label); laid over the
    // prediction, they must give what masks of their own give, in either layout and for
    // either kind of map. Reading the shared answers through a scratch plane full of
    // garbage also checks that a mask read from the frame's owner plane is whole.
    [Theory]
    [InlineData(MapKind.Labels, false)]
    [InlineData(MapKind.Logits, false)]
    [InlineData(MapKind.Logits, true)]
    public void Prompts_that_share_an_index_plane_give_what_masks_of_their_own_give(MapKind kind, bool exclusive)
    {
        int[] ids = [3, 9, 12];
        var plane = new byte[50 * 30];
        for (var p = 0; p < plane.Length; p++)
            plane[p] = (p % 50) < 10 ? (byte)3 : (p / 50) < 12 ? (byte)9 : (byte)0;
        PromptMask[] shared = [new(3, plane, 3), new(9, plane, 9)];
        PromptMask[] own = [.. shared.Select(prompt => new PromptMask(prompt.ObjectId, plane.Select(v => prompt.Covers(v) ? (byte)1 : (byte)0).ToArray()))];
        var spec = new OutputSpec(77, 0, exclusive);
        using var builder = new OutputBuilder(new Postprocessor());
        using var maps = RandomMaps(kind, ids, seed: 3);

        var (fromShared, sharedScores, _) = builder.Build(maps, Geometry, shared, spec, new StageTimes());
        var (fromOwn, ownScores, _) = builder.Build(maps, Geometry, own, spec, new StageTimes());
        using (fromShared)
        using (fromOwn)
        {
            Assert.Equal(ownScores, sharedScores);
            Assert.Equal(fromOwn.IndexMap?.Span.ToArray(), fromShared.IndexMap?.Span.ToArray());
            var garbage = new byte[fromShared.Width * fromShared.Height];
            for (var i = 0; i < ids.Length; i++)
            {
                Array.Fill(garbage, (byte)7);
                Assert.Equal(fromOwn.Objects[i].MaskArray(), fromShared.Objects[i].Mask(garbage).ToArray());
                Assert.Equal(fromOwn.Objects[i].Stats, fromShared.Objects[i].Stats);
                Assert.Equal(fromOwn.Objects[i].Score, fromShared.Objects[i].Score);
            }
            // Not vacuous: both prompts show, and the unprompted object keeps pixels of its own.
            Assert.All(fromShared.Objects, o => Assert.True(o.Stats.Area > 0, $"object {o.ObjectId} is empty"));
        }
    }

    [Fact]
    public void No_objects_give_an_empty_answer_at_the_output_size()
    {
        using var maps = ObjectMaps.Empty(MapKind.Labels);
        using var builder = new OutputBuilder(new Postprocessor());
        var (result, predicted, confidence) = builder.Build(maps, Geometry, [], new OutputSpec(0, 0, Exclusive: true), new StageTimes());
        using (result)
        {
            Assert.Empty(result.Objects);
            Assert.Empty(predicted);
            Assert.Null(confidence);
            Assert.Equal((50, 30), (result.Width, result.Height));
            Assert.All(result.IndexMap!.Span.ToArray(), id => Assert.Equal(0, id));
        }
    }

    private static ObjectMaps RandomMaps(MapKind kind, int[] ids, int seed)
    {
        var random = new Random(seed);
        var channels = kind == MapKind.Labels ? ids.Length + 1 : ids.Length;
        var (h, w) = (Geometry.MaskHeight, Geometry.MaskWidth);
        var data = new PooledArray<float>(channels * h * w);
        // Smooth fields (a random plane per channel plus noise), so objects own regions.
        for (var c = 0; c < channels; c++)
        {
            var (a, b, d) = (random.NextSingle() - 0.5f, random.NextSingle() - 0.5f, random.NextSingle() - 0.5f);
            for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var value = a * (x - w / 2f) + b * (y - h / 2f) + d + 0.3f * (random.NextSingle() - 0.5f);
                data.Span[(c * h + y) * w + x] = kind == MapKind.Labels ? 1f / (1f + MathF.Exp(-value)) : 4f * value;
            }
        }
        float[] presence = [.. ids.Select(_ => 0.5f + random.NextSingle() / 2f)];
        return new ObjectMaps(ids, kind, data, h, w, presence);
    }

    private sealed record Expected(int Width, byte[][] Masks, float[] Scores, ushort[]? Index, float[]? Confidence);

    private static Expected Statement(ObjectMaps maps, OutputSpec spec, bool keepConfidence)
    {
        var (width, height) = spec.Resolve(Geometry.SourceWidth, Geometry.SourceHeight);
        var pixels = width * height;
        var count = maps.ObjectIds.Length;
        var resized = new float[maps.Channels * pixels];
        using (var postprocessor = new Postprocessor())
            postprocessor.ToOutput(maps.Maps.Span, maps.Channels, maps.Height, maps.Width, Geometry, width, height, resized);
        var first = maps.Kind == MapKind.Labels ? 1 : 0;
        float Value(int i, int p) => resized[(i + first) * pixels + p];

        var exclusive = spec.Exclusive || maps.Kind == MapKind.Labels;
        var owner = new ushort[pixels];
        for (var p = 0; p < pixels; p++)
        {
            var best = maps.Kind == MapKind.Labels ? resized[p] : 0f;
            for (var i = 0; i < count; i++)
            {
                if (Value(i, p) > best)
                    (best, owner[p]) = (Value(i, p), (ushort)(i + 1));
            }
        }

        var masks = new byte[count][];
        var scores = new float[count];
        var confidence = keepConfidence ? new float[count * pixels] : null;
        for (var i = 0; i < count; i++)
        {
            masks[i] = new byte[pixels];
            var sum = 0.0;
            long area = 0;
            for (var p = 0; p < pixels; p++)
            {
                var probability = maps.Kind == MapKind.Logits ? 1f / (1f + MathF.Exp(-Value(i, p))) : Value(i, p);
                if (confidence is not null)
                    confidence[i * pixels + p] = probability;
                var inside = maps.Kind == MapKind.Logits ? Value(i, p) > 0f : owner[p] == i + 1;
                if (inside)
                {
                    sum += probability;
                    area++;
                }
                masks[i][p] = (exclusive ? owner[p] == i + 1 : inside) ? (byte)1 : (byte)0;
            }
            scores[i] = area == 0 ? 0f
                : maps.Kind == MapKind.Logits ? (float)(maps.Presence[i] * (sum / (area + 1e-6))) : (float)(maps.Presence[i] * sum / area);
        }
        var index = spec.Exclusive ? owner.Select(o => o == 0 ? (ushort)0 : (ushort)maps.ObjectIds[o - 1]).ToArray() : null;
        return new Expected(width, masks, scores, index, confidence);
    }
}
