using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// Dense label propagation over remembered frames: the decoder matches the target's
/// features against every memory frame's features and carries their soft labels over.
/// A prompted frame is stored as an anchor with the prompts' labels; every other frame
/// is stored with its own prediction, subject to the memory policy.
/// </summary>
internal sealed class DenseTracker : IFrameTracker
{
    private static readonly string[] DecoderInputs = ["features", "memory_features", "memory_labels"];
    private static readonly string[] DecoderOutputs = ["labels"];

    private readonly LoadedModel _model;
    private readonly MemoryPolicy _policy;
    private readonly Preprocessor _preprocessor;
    private DenseMemory? _memory;

    public DenseTracker(LoadedModel model, MemoryPolicy policy)
    {
        _model = model;
        _policy = policy;
        _preprocessor = new Preprocessor(model.Manifest);
    }

    public IReadOnlyList<int> ObjectIds => _memory?.ObjectIds ?? [];

    public long MemoryBytes => _memory?.ByteSize ?? 0;

    public void AddReference(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber)
    {
        var memory = MemoryFor(features);
        memory.AddObjects(prompts.Select(p => p.ObjectId));
        using var labels = PooledArray<float>.Zeroed(memory.LabelCount * memory.Cells);
        labels.Span[..memory.Cells].Fill(1f);
        PaintPrompts(features, prompts, memory, labels.Span);
        memory.Anchor(features.Data.Span, labels.Span, [.. prompts.Select(p => p.ObjectId)], frameNumber);
    }

    public ObjectMaps Predict(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber)
    {
        var memory = MemoryFor(features);
        var hadObjects = memory.ObjectIds.Count > 0;
        memory.AddObjects(prompts.Select(p => p.ObjectId));
        if (memory.ObjectIds.Count == 0)
            return ObjectMaps.Empty(MapKind.Labels);

        var cells = memory.Cells;
        var labels = PooledArray<float>.Zeroed(memory.LabelCount * cells);
        try
        {
            var everyObjectPrompted = memory.ObjectIds.All(id => prompts.Any(p => p.ObjectId == id));
            if (hadObjects && memory.EntryCount > 0 && !everyObjectPrompted)
                Decode(features, memory, labels.Span);
            else
                labels.Span[..cells].Fill(1f);

            if (prompts.Count > 0)
            {
                PaintPrompts(features, prompts, memory, labels.Span);
                memory.Anchor(features.Data.Span, labels.Span, [.. prompts.Select(p => p.ObjectId)], frameNumber);
            }

            var presence = new float[memory.ObjectIds.Count];
            Array.Fill(presence, 1f);
            return new ObjectMaps([.. memory.ObjectIds], MapKind.Labels, labels, features.Height, features.Width, presence);
        }
        catch
        {
            labels.Dispose();
            throw;
        }
    }

    public void Remember(FeatureMap features, ObjectMaps maps, ReadOnlySpan<float> scores, bool prompted, int frameNumber)
    {
        // A prompted frame is already in memory as an anchor.
        if (prompted || _memory is null || maps.ObjectIds.Length == 0)
            return;
        var score = 0f;
        foreach (var s in scores)
            score += s;
        _memory.Remember(features.Data.Span, maps.Maps.Span, score / scores.Length, frameNumber);
    }

    public bool Remove(int objectId) => _memory?.Remove(objectId) ?? false;

    public void Dispose() => _memory?.Dispose();

    private DenseMemory MemoryFor(FeatureMap features)
    {
        _memory ??= new DenseMemory(features.Channels, features.Height, features.Width, _policy);
        if (_memory.Height != features.Height || _memory.Width != features.Width)
            throw new InvalidInputException(
                $"frame size changed within the stream: this model needs every frame at the first frame's size " +
                $"(feature grid {_memory.Width}x{_memory.Height}, this frame {features.Width}x{features.Height})");
        return _memory;
    }

    private void Decode(FeatureMap features, DenseMemory memory, Span<float> labels)
    {
        var m = memory.EntryCount;
        using var memoryFeatures = new PooledArray<float>(m * memory.Channels * memory.Cells);
        using var memoryLabels = new PooledArray<float>(m * memory.LabelCount * memory.Cells);
        memory.CopyTo(memoryFeatures.Span, memoryLabels.Span);
        using var target = OrtTensors.Wrap(features.Data.Memory, 1, features.Channels, features.Height, features.Width);
        using var memFeatures = OrtTensors.Wrap(memoryFeatures.Memory, m, memory.Channels, memory.Height, memory.Width);
        using var memLabels = OrtTensors.Wrap(memoryLabels.Memory, m, memory.LabelCount, memory.Height, memory.Width);
        using var outputs = _model.Decoder.Run(DecoderInputs, [target, memFeatures, memLabels], DecoderOutputs);
        OrtTensors.Data(outputs.First()).CopyTo(labels);
    }

    // Writes each prompt as the fraction of every feature cell it covers: that much of
    // the cell's probability moves to the prompted object.
    private void PaintPrompts(FeatureMap features, IReadOnlyList<PromptMask> prompts, DenseMemory memory, Span<float> labels)
    {
        var g = features.Geometry;
        var cells = memory.Cells;
        using var inputMask = new PooledArray<float>(g.PaddedHeight * g.PaddedWidth);
        using var coverage = new PooledArray<float>(cells);
        foreach (var prompt in prompts)
        {
            _preprocessor.MaskToInput(prompt.Mask.Span, g.SourceWidth, g.SourceHeight, g, inputMask.Span);
            Preprocessor.AreaDownsample(inputMask.Span, g.PaddedWidth, g.PaddedHeight, _model.Manifest.FeatureStride, coverage.Span);
            var channel = memory.ChannelOf(prompt.ObjectId);
            for (var cell = 0; cell < cells; cell++)
            {
                var p = Math.Clamp(coverage.Span[cell], 0f, 1f);
                if (p == 0f)
                    continue;
                for (var c = 0; c < memory.LabelCount; c++)
                    labels[c * cells + cell] *= 1f - p;
                labels[channel * cells + cell] += p;
            }
        }
    }
}
