using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// SINE's video loop on cached ID tokens. Per frame: one decoder run on the tokens of
/// every object, and one pooling run that turns the frame's prompts or predictions
/// into (sum, area) memory entries. No memory image is ever encoded again.
/// </summary>
internal sealed class TokenTracker : IFrameTracker
{
    private static readonly string[] PoolInputs = ["features", "masks"];
    private static readonly string[] PoolOutputs = ["sums", "areas"];
    private static readonly string[] DecoderInputs = ["features", "id_tokens"];
    private static readonly string[] DecoderOutputs = ["id_logits", "id_masks"];

    private readonly LoadedModel _model;
    private readonly OnnxComponent _pool;
    private readonly TokenMemory _memory;
    private readonly Preprocessor _preprocessor;

    public TokenTracker(LoadedModel model, MemoryPolicy policy)
    {
        _model = model;
        _pool = model.Pool ?? throw new InvalidOperationException($"model {model.Name} has tokens memory but no pool graph");
        _memory = new TokenMemory(model.Manifest.FeatureChannels, policy);
        _preprocessor = new Preprocessor(model.Manifest);
    }

    public IReadOnlyList<int> ObjectIds => [.. _memory.ObjectIds];

    public long MemoryBytes => _memory.ByteSize;

    public void AddReference(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber) =>
        Anchor(features, prompts, frameNumber);

    public ObjectMaps Predict(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber)
    {
        if (prompts.Count > 0)
            Anchor(features, prompts, frameNumber);
        var ids = _memory.ObjectIds.ToArray();
        if (ids.Length == 0)
            return ObjectMaps.Empty(MapKind.Logits);

        var channels = _memory.Channels;
        using var tokens = new PooledArray<float>(ids.Length * channels);
        _memory.WriteTokens(tokens.Span);
        using var featureValue = WrapFeatures(features);
        using var tokenValue = OrtTensors.Wrap(tokens.Memory, 1, ids.Length, channels);
        using var outputs = _model.Decoder.Run(DecoderInputs, [featureValue, tokenValue], DecoderOutputs);
        var logits = OrtTensors.Data(outputs.First());
        var masks = outputs.Last();
        var shape = OrtTensors.Shape(masks);

        var presence = new float[ids.Length];
        for (var i = 0; i < ids.Length; i++)
            presence[i] = 1f / (1f + MathF.Exp(logits[2 * i + 1] - logits[2 * i]));   // softmax(...)[present]
        return new ObjectMaps(ids, MapKind.Logits, PooledArray<float>.CopyOf(OrtTensors.Data(masks)), (int)shape[2], (int)shape[3], presence);
    }

    public void Remember(FeatureMap features, ObjectMaps maps, ReadOnlySpan<float> scores, bool prompted, int frameNumber)
    {
        var count = maps.ObjectIds.Length;
        if (count == 0)
            return;
        // The prediction, as a binary mask at the padded input size, pooled like any
        // memory image would be (the reference writes frame 0's own prediction too).
        var g = features.Geometry;
        var plane = g.PaddedHeight * g.PaddedWidth;
        using var masks = new PooledArray<float>(count * plane);
        var mapSize = maps.Height * maps.Width;
        for (var i = 0; i < count; i++)
        {
            var mask = masks.Span.Slice(i * plane, plane);
            MaskViews.Resize(maps.Maps.Span.Slice(i * mapSize, mapSize), maps.Height, maps.Width, mask, g.PaddedHeight, g.PaddedWidth, InterpolationFlags.Linear);
            for (var p = 0; p < mask.Length; p++)
                mask[p] = mask[p] > 0f ? 1f : 0f;
        }
        var (sums, areas) = RunPool(features, masks, count);
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

    public void Dispose() => _preprocessor.Dispose();

    private void Anchor(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber)
    {
        var g = features.Geometry;
        var plane = g.PaddedHeight * g.PaddedWidth;
        using var masks = new PooledArray<float>(prompts.Count * plane);
        for (var k = 0; k < prompts.Count; k++)
            _preprocessor.MaskToInput(prompts[k].Mask.Span, g.SourceWidth, g.SourceHeight, g, masks.Span.Slice(k * plane, plane));
        var (sums, areas) = RunPool(features, masks, prompts.Count);
        using (sums)
        {
            // Check every prompt before touching memory, so a bad one changes nothing.
            for (var k = 0; k < prompts.Count; k++)
            {
                if (areas[k] <= 0f)
                    throw new InvalidInputException($"the prompt mask of object {prompts[k].ObjectId} covers no pixel at the model's resolution");
            }
            var channels = _memory.Channels;
            for (var k = 0; k < prompts.Count; k++)
                _memory.Anchor(prompts[k].ObjectId, sums.Span.Slice(k * channels, channels), areas[k], frameNumber);
        }
    }

    /// <summary>Pools <paramref name="count"/> masks [K, 1, S, S] over the features: per mask, its feature sum [C] and area.</summary>
    private (PooledArray<float> Sums, float[] Areas) RunPool(FeatureMap features, PooledArray<float> masks, int count)
    {
        var g = features.Geometry;
        using var featureValue = WrapFeatures(features);
        using var maskValue = OrtTensors.Wrap(masks.Memory, count, 1, g.PaddedHeight, g.PaddedWidth);
        using var outputs = _pool.Run(PoolInputs, [featureValue, maskValue], PoolOutputs);
        return (PooledArray<float>.CopyOf(OrtTensors.Data(outputs.First())), OrtTensors.Data(outputs.Last()).ToArray());
    }

    private static OrtValue WrapFeatures(FeatureMap features) =>
        OrtTensors.Wrap(features.Data.Memory, 1, features.Channels, features.Height, features.Width);
}
