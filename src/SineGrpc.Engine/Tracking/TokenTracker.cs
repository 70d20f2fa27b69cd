using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Masks;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// SINE's video loop on cached ID tokens. Per frame: one decoder run on the tokens of
/// every object, and one pooling run that turns the frame's prompts or predictions
/// into (sum, area) memory entries. No memory image is ever encoded again.
/// </summary>
/// <remarks>
/// Masks enter memory as the reference evaluation builds them: a prompt, or the
/// prediction binarised at the frame's own size, is resized to the model's resized
/// input with nearest neighbour (PyTorch's rule) and zero-padded; pool.onnx then
/// resizes it to the mask-feature size and binarises it again. A prediction is
/// recorded with the score the reference gives it at the frame's size, whatever
/// output size the client asked for.
/// </remarks>
internal sealed class TokenTracker : IFrameTracker
{
    private static readonly string[] PoolInputs = ["features", "masks"];
    private static readonly string[] PoolOutputs = ["sums", "areas"];
    private static readonly string[] DecoderInputs = ["features", "id_tokens"];
    private static readonly string[] DecoderOutputs = ["id_logits", "id_masks"];
    private static readonly string[] DecoderOutputsWithInstances = ["id_logits", "id_masks", "ins_logits", "ins_masks"];

    private readonly LoadedModel _model;
    private readonly OnnxComponent _pool;
    private readonly TokenMemory _memory;
    private readonly Postprocessor _postprocessor = new();

    public TokenTracker(LoadedModel model, MemoryPolicy policy)
        : this(model, new TokenMemory(model.Manifest.FeatureChannels, policy))
    {
    }

    /// <summary>A tracker that goes on from a restored memory.</summary>
    public TokenTracker(LoadedModel model, TokenMemory memory)
    {
        _model = model;
        _pool = model.Pool ?? throw new InvalidOperationException($"model {model.Name} has tokens memory but no pool graph");
        _memory = memory;
    }

    public IReadOnlyList<int> ObjectIds => [.. _memory.ObjectIds];

    public long MemoryBytes => _memory.ByteSize;

    public Task AddReferenceAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber, CancellationToken cancellationToken) =>
        AnchorAsync(features, prompts, [], frameNumber, cancellationToken);

    public async Task<ObjectMaps> PredictAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, IReadOnlyList<int> removedObjectIds, int frameNumber, CancellationToken cancellationToken)
    {
        if (prompts.Count > 0)
        {
            await AnchorAsync(features, prompts, removedObjectIds, frameNumber, cancellationToken);
        }
        else
        {
            foreach (var id in removedObjectIds)
                _memory.Remove(id);
        }
        var (maps, instances) = await DecodeAsync(features, withInstances: false, cancellationToken);
        instances?.Dispose();
        return maps;
    }

    /// <summary>Decodes the frame against the memory, with the decoder's instance outputs (Segment on a model-instance bundle).</summary>
    public async Task<(ObjectMaps Objects, InstanceMaps Instances)> PredictWithInstancesAsync(FeatureMap features, CancellationToken cancellationToken)
    {
        var (maps, instances) = await DecodeAsync(features, withInstances: true, cancellationToken);
        return (maps, instances!);
    }

    /// <remarks>
    /// <paramref name="scores"/> are the predictions' scores at the frame's size (before any
    /// prompt was laid over), SINE's mean foreground probability that the memory records.
    /// </remarks>
    public async Task RememberAsync(FeatureMap features, ObjectMaps maps, float[] scores, bool prompted, int frameNumber, CancellationToken cancellationToken)
    {
        var count = maps.ObjectIds.Length;
        if (count == 0)
            return;
        var g = features.Geometry;
        var mapSize = maps.Height * maps.Width;
        // The prediction binarised at the frame's size, then brought to the model's input like a prompt.
        var (sums, areas) = await PoolAsync(features, count, (i, mask) =>
            _postprocessor.PredictionToInput(maps.Maps.Span.Slice(i * mapSize, mapSize), maps.Height, maps.Width, g, mask), cancellationToken);
        using (sums)
        {
            var channels = _memory.Channels;
            for (var i = 0; i < count; i++)
            {
                if (_memory.Contains(maps.ObjectIds[i]))
                    _memory.Remember(maps.ObjectIds[i], sums.Span.Slice(i * channels, channels), areas[i], scores[i], frameNumber);
            }
        }
    }

    public bool Remove(int objectId) => _memory.Remove(objectId);

    public TokenMemoryState? CaptureMemory() => _memory.Capture();

    public void Dispose() => _postprocessor.Dispose();

    /// <summary>
    /// SINE's mask score: binary = logit &gt; 0, and the mean sigmoid inside it,
    /// sum / (area + 1e-6) as the reference computes it (0 for an empty mask).
    /// </summary>
    internal static float MeanForeground(ReadOnlySpan<float> logits, Span<byte> binary)
    {
        var sum = 0.0;
        long area = 0;
        for (var p = 0; p < logits.Length; p++)
        {
            if (logits[p] > 0f)
            {
                binary[p] = 1;
                sum += 1.0 / (1.0 + Math.Exp(-logits[p]));
                area++;
            }
            else
            {
                binary[p] = 0;
            }
        }
        return (float)(sum / (area + 1e-6));
    }

    private async Task<(ObjectMaps Maps, InstanceMaps? Instances)> DecodeAsync(FeatureMap features, bool withInstances, CancellationToken cancellationToken)
    {
        var ids = _memory.ObjectIds.ToArray();
        if (ids.Length == 0)
            return (ObjectMaps.Empty(MapKind.Logits), withInstances ? InstanceMaps.Empty : null);

        var channels = _memory.Channels;
        using var tokens = _model.Decoder.InputMemory.Rent(ids.Length * channels);
        _memory.WriteTokens(tokens.Span);
        using var featureValue = WrapFeatures(features);
        using var tokenValue = tokens.AsOrtValue(1, ids.Length, channels);
        using var outputs = await _model.Decoder.RunAsync(DecoderInputs, [featureValue, tokenValue], withInstances ? DecoderOutputsWithInstances : DecoderOutputs, cancellationToken);
        var logits = OrtTensors.Data(outputs.ElementAt(0));
        var masks = outputs.ElementAt(1);
        var shape = OrtTensors.Shape(masks);

        var presence = new float[ids.Length];
        var idLogits = new float[ids.Length][];
        for (var i = 0; i < ids.Length; i++)
        {
            idLogits[i] = [logits[2 * i], logits[2 * i + 1]];
            presence[i] = 1f / (1f + MathF.Exp(logits[2 * i + 1] - logits[2 * i]));   // softmax(...)[present]
        }
        var maps = new ObjectMaps(ids, MapKind.Logits, PooledArray<float>.CopyOf(OrtTensors.Data(masks)), (int)shape[2], (int)shape[3], presence)
        {
            IdLogits = idLogits,
        };
        if (!withInstances)
            return (maps, null);

        var insLogits = outputs.ElementAt(2);
        var insMasks = outputs.ElementAt(3);
        var logitShape = OrtTensors.Shape(insLogits);
        var maskShape = OrtTensors.Shape(insMasks);
        if (logitShape[2] != ids.Length + 1)
        {
            maps.Dispose();
            throw new InvalidOperationException($"model {_model.Name}: ins_logits has {logitShape[2]} classes for {ids.Length} objects (expected N + 1)");
        }
        var instances = new InstanceMaps(
            OrtTensors.Data(insLogits).ToArray(), (int)logitShape[1], ids.Length,
            PooledArray<float>.CopyOf(OrtTensors.Data(insMasks)), (int)maskShape[2], (int)maskShape[3]);
        return (maps, instances);
    }

    /// <summary>
    /// Pools the prompts, checks them, then removes <paramref name="removedObjectIds"/> and
    /// anchors the prompts (so an id removed and prompted on one frame starts again). A prompt
    /// that pools to nothing (a few pixels, lost on the way to the mask-feature size) is pooled
    /// again as the feature cell around its centre (<see cref="Preprocessor.CentreCellToInput"/>).
    /// </summary>
    private async Task AnchorAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, IReadOnlyList<int> removedObjectIds, int frameNumber, CancellationToken cancellationToken)
    {
        var g = features.Geometry;
        var (sums, areas) = await PoolAsync(features, prompts.Count, (k, mask) => Preprocessor.NearestMaskToInput(prompts[k].Mask.Span, prompts[k].Label, g, mask), cancellationToken);
        using (sums)
        {
            await PoolLostPromptsAgainAsync(features, prompts, sums.Memory, areas, cancellationToken);
            // Check every prompt before touching memory, so a bad one changes nothing.
            for (var k = 0; k < prompts.Count; k++)
            {
                if (areas[k] <= 0f)
                    throw new InvalidInputException($"the prompt mask of object {prompts[k].ObjectId} covers no pixel at the model's resolution");
            }
            foreach (var id in removedObjectIds)
                _memory.Remove(id);
            var channels = _memory.Channels;
            for (var k = 0; k < prompts.Count; k++)
                _memory.Anchor(prompts[k].ObjectId, sums.Span.Slice(k * channels, channels), areas[k], frameNumber);
        }
    }

    /// <summary>Pools the prompts of no area again as their centre cells, in place in <paramref name="sums"/> and <paramref name="areas"/>.</summary>
    private async Task PoolLostPromptsAgainAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, Memory<float> sums, float[] areas, CancellationToken cancellationToken)
    {
        int[] lost = [.. Enumerable.Range(0, prompts.Count).Where(k => areas[k] <= 0f)];
        if (lost.Length == 0)
            return;
        var g = features.Geometry;
        var (cellSums, cellAreas) = await PoolAsync(features, lost.Length, (i, mask) => Preprocessor.CentreCellToInput(prompts[lost[i]].Mask.Span, prompts[lost[i]].Label, g, mask), cancellationToken);
        using (cellSums)
        {
            var channels = _memory.Channels;
            for (var i = 0; i < lost.Length; i++)
            {
                cellSums.Span.Slice(i * channels, channels).CopyTo(sums.Span.Slice(lost[i] * channels, channels));
                areas[lost[i]] = cellAreas[i];
            }
        }
    }

    /// <summary>
    /// Pools <paramref name="count"/> masks over the features: per mask, its feature sum [C]
    /// and area. <paramref name="writeMask"/> writes mask i at the model's padded input size.
    /// The masks go through the pool graph <see cref="PoolChunk"/> at a time: each is a
    /// float per input pixel (4.3 MB at SINE's 1036 x 1036), so a frame of 64 objects in one
    /// run would take 275 MB of input; pooling is per mask, so the sums are the same.
    /// </summary>
    private async Task<(PooledArray<float> Sums, float[] Areas)> PoolAsync(FeatureMap features, int count, MaskWriter writeMask, CancellationToken cancellationToken)
    {
        var g = features.Geometry;
        var plane = g.PaddedHeight * g.PaddedWidth;
        var channels = _memory.Channels;
        var sums = new PooledArray<float>(count * channels);
        var areas = new float[count];
        try
        {
            using var masks = _pool.InputMemory.Rent(Math.Min(count, PoolChunk) * plane);
            using var featureValue = WrapFeatures(features);
            for (var first = 0; first < count; first += PoolChunk)
            {
                var n = Math.Min(PoolChunk, count - first);
                for (var i = 0; i < n; i++)
                    writeMask(first + i, masks.Span.Slice(i * plane, plane));
                using var maskValue = masks.PrefixAsOrtValue(n, 1, g.PaddedHeight, g.PaddedWidth);
                using var outputs = await _pool.RunAsync(PoolInputs, [featureValue, maskValue], PoolOutputs, cancellationToken);
                OrtTensors.Data(outputs.First()).CopyTo(sums.Span.Slice(first * channels, n * channels));
                OrtTensors.Data(outputs.Last()).CopyTo(areas.AsSpan(first, n));
            }
            return (sums, areas);
        }
        catch
        {
            sums.Dispose();
            throw;
        }
    }

    /// <summary>Masks pooled per run (see <see cref="PoolAsync"/>).</summary>
    private const int PoolChunk = 8;

    private delegate void MaskWriter(int index, Span<float> mask);

    private static OrtValue WrapFeatures(FeatureMap features) =>
        OrtTensors.Wrap(features.Data.Memory, 1, features.Channels, features.Height, features.Width);
}

/// <summary>
/// A SINE decoder's instance outputs for one target: <see cref="Logits"/> [Q, N + 1]
/// (per query, a logit per prototype, the negative class last) and <see cref="Masks"/>
/// [Q, Height, Width] mask logits over the padded input.
/// </summary>
internal sealed class InstanceMaps(float[] logits, int queries, int classes, PooledArray<float> masks, int height, int width) : IDisposable
{
    public static InstanceMaps Empty => new([], 0, 0, new PooledArray<float>(0), 0, 0);

    public float[] Logits { get; } = logits;
    public int Queries { get; } = queries;
    /// <summary>N: the objects (labels), without the negative class.</summary>
    public int Classes { get; } = classes;
    public PooledArray<float> Masks { get; } = masks;
    public int Height { get; } = height;
    public int Width { get; } = width;
    public void Dispose() => Masks.Dispose();
}
